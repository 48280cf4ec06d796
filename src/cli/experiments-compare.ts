// `trainctl experiments compare <job>`: the job's trials side by side — parameters, best objective,
// final metrics, spend — best first, as a table, JSON or CSV.
import { formatDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import type { RankedRow } from '../core/experiments.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { renderCsv } from '../render/csv.js';
import { formatMetric } from '../render/progress.js';
import { renderTable, type Column } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { experimentJson, experimentOf, gatherEvidence, loadExperimentJobs, pickJob, rankingOf, type Experiment } from './experiments-evidence.js';
import { countsText } from './experiments-list.js';
import { outputFormat } from './shared.js';
import { stateColor } from './status.js';

/** Metric columns in the table; JSON and CSV carry every metric. */
const TABLE_METRICS = 6;

export async function compare(ctx: CommandContext): Promise<number> {
  // `text` is what every other command calls a table
  const format = outputFormat(ctx, ['table', 'json', 'csv', 'text'] as const);
  if (ctx.positionals.length > 1) throw new ExitError(`unexpected argument "${ctx.positionals[1]}"`, 1, 'usage: trainctl experiments compare <job> [-f <spec>] [--sort <metric>[:min|max]]');
  const job = pickJob(loadExperimentJobs(ctx), ctx.positionals[0], 'compare');
  const now = new Date();
  const [ev] = await gatherEvidence(ctx, [job], now);
  const x = experimentOf(ev!, rankingOf(ev!.objective, ctx.values.sort as string | undefined));
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, generatedAt: now.toISOString(), ...experimentJson(x) }, null, 2)}\n`);
  } else if (format === 'csv') {
    ctx.stdout.write(renderComparisonCsv(x));
  } else {
    ctx.stdout.write(renderComparison(x, palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env))));
  }
  return 0;
}

const paramText = (v: string | number | boolean | undefined) => (v === undefined ? '-' : String(v));
const metricText = (v: number | undefined) => (v === undefined ? '-' : formatMetric(v));

/** `0.0123 @40`: the best value and the step it was reached at. */
export function bestText(r: RankedRow): string {
  if (!r.best) return '-';
  return r.best.step === undefined ? formatMetric(r.best.value) : `${formatMetric(r.best.value)} @${r.best.step}`;
}

export function renderComparison(x: Experiment, c: Palette): string {
  if (x.rows.length === 0) return `${x.project}/${x.job}: no trials.\n`;
  const params = new Set(x.parameters);
  const shown = x.metrics.slice(0, TABLE_METRICS);
  const columns: Column<RankedRow>[] = [
    { header: 'RANK', value: (r) => (r.rank === undefined ? '-' : String(r.rank)), align: 'right' },
    { header: 'TRIAL', value: (r) => r.trial },
    { header: 'STATE', value: (r) => stateColor(r.state, c)(r.state) },
    ...x.parameters.map((p): Column<RankedRow> => ({ header: p, value: (r) => paramText(r.parameters[p]), max: 24 })),
    ...(x.objective ? [{ header: `best ${x.objective.metric}`, value: bestText, align: 'right' } as Column<RankedRow>] : []),
    // a metric that shares a parameter's name (a script echoing its lr) gets told apart
    ...shown.map((m): Column<RankedRow> => ({ header: params.has(m) ? `final.${m}` : m, value: (r) => metricText(r.final[m]), align: 'right' })),
    { header: 'STEP', value: (r) => (r.step === undefined ? '-' : String(r.step)), align: 'right' },
    { header: 'ELAPSED', value: (r) => (r.elapsedMs ? formatDuration(r.elapsedMs) : '-'), align: 'right' },
    { header: 'COST', value: (r) => `$${r.costUSD.toFixed(2)}`, align: 'right' },
  ];
  const table = renderTable(x.rows, columns, { header: c.bold });
  const order = x.ranking
    ? `best first by ${x.ranking.by} ${x.ranking.metric} (${x.ranking.goal})`
    : 'in spec order: the job has no metrics.objective (pass --sort <metric>[:min|max])';
  const more = x.metrics.length > shown.length ? `; ${x.metrics.length - shown.length} more metric${x.metrics.length - shown.length === 1 ? '' : 's'} in --output json|csv` : '';
  const footer = `${c.bold(`${x.project}/${x.job}`)}: ${x.rows.length} trial${x.rows.length === 1 ? '' : 's'} — ${countsText(x.summary.counts, c)}; spent $${x.summary.costUSD.toFixed(2)}
Sorted ${order}; metric columns are final values${more}.`;
  return `${table}\n${footer}\n`;
}

/** Columns prefixed by kind (`param.lr`, `final.loss`), so a parameter and a metric of one name both fit. */
export function renderComparisonCsv(x: Experiment): string {
  const header = [
    'rank', 'trial', 'state',
    ...x.parameters.map((p) => `param.${p}`),
    'sort.value', 'best.metric', 'best.value', 'best.step',
    ...x.metrics.map((m) => `final.${m}`),
    'step', 'attempt', 'elapsed_s', 'cost_usd',
  ];
  const rows = x.rows.map((r) => [
    r.rank, r.trial, r.state,
    ...x.parameters.map((p) => r.parameters[p]),
    r.value, r.best?.metric, r.best?.value, r.best?.step,
    ...x.metrics.map((m) => r.final[m]),
    r.step, r.attempt, Math.round(r.elapsedMs / 1000), Math.round(r.costUSD * 1e6) / 1e6,
  ]);
  return renderCsv(header, rows);
}
