// `trainctl status`: where every trial of the given specs stands — state, attempt, step, latest
// metric, elapsed time and spend — as a table or as JSON.
import { formatDuration } from '../core/duration.js';
import { trialStatuses, TRIAL_STATE_ORDER, type JobStatus, type TrialState } from '../core/status.js';
import { planJobs } from '../engine/planning.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { formatParameters } from '../render/plan-text.js';
import { formatMetric } from '../render/progress.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { clockOf, loadJobs, outputFormat, trainctlHome } from './shared.js';


export async function run(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const { jobs, ok } = loadJobs(ctx);
  if (!ok) return 1;
  const now = clockOf(ctx);
  const { plan, observed } = await planJobs(jobs, { home: trainctlHome(ctx.env) }, { prune: false }, now);
  const objectives = new Map(jobs.flatMap((j) => (j.spec.metrics.objective ? [[`${j.project}/${j.name}`, { metric: j.spec.metrics.objective.metric, goal: j.spec.metrics.objective.goal ?? 'minimize' }] as const] : [])));
  const statuses = trialStatuses(plan, observed, now, objectives);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, generatedAt: now.toISOString(), jobs: statuses }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  ctx.stdout.write(renderStatus(statuses, objectives, c));
  return 0;
}

export function stateColor(state: TrialState, c: Palette): (s: string) => string {
  switch (state) {
    case 'running': case 'starting': return c.cyan;
    case 'succeeded': return c.green;
    case 'failed': case 'lost': case 'orphaned': return c.red;
    case 'interrupted': case 'stopped': case 'early-stopped': return c.yellow;
    default: return c.dim;
  }
}

/** `loss 0.0123`: the job's objective metric when it has one, else the first metric seen. */
export function metricCell(metrics: Record<string, number>, objective?: string): string {
  const name = objective && metrics[objective] !== undefined ? objective : Object.keys(metrics).find((k) => k !== 'step' && k !== 'epoch');
  return name === undefined ? '' : `${name} ${formatMetric(metrics[name]!)}`;
}


export function renderStatus(statuses: readonly JobStatus[], objectives: ReadonlyMap<string, { metric: string }>, c: Palette): string {
  const rows = statuses.flatMap((j) => j.trials.map((t) => ({ ...t, objective: objectives.get(`${j.project}/${j.job}`)?.metric })));
  if (rows.length === 0) return 'No trials.\n';
  const table = renderTable(rows, [
    { header: 'TRIAL', value: (r) => r.trial },
    { header: 'PARAMETERS', value: (r) => formatParameters(r.parameters), max: 40 },
    { header: 'STATE', value: (r) => stateColor(r.state, c)(r.state) },
    { header: 'ATTEMPT', value: (r) => (r.attempt ? String(r.attempt) : '-'), align: 'right' },
    { header: 'STEP', value: (r) => (r.step === undefined ? '-' : String(r.step)), align: 'right' },
    { header: 'METRIC', value: (r) => metricCell(r.metrics, r.objective) || '-' },
    { header: 'ELAPSED', value: (r) => (r.elapsedMs ? formatDuration(r.elapsedMs) : '-'), align: 'right' },
    { header: 'COST', value: (r) => `$${r.costUSD.toFixed(2)}`, align: 'right' },
  ], { header: c.bold });
  const summaries = statuses.map((j) => {
    const counts = TRIAL_STATE_ORDER.filter((s) => j.counts[s]).map((s) => `${j.counts[s]} ${s}`).join(', ');
    const best = j.best ? `; best ${j.best.metric} ${formatMetric(j.best.value)} (${j.best.trial})` : '';
    return `${c.bold(`${j.project}/${j.job}`)}: ${j.trials.length} trial${j.trials.length === 1 ? '' : 's'} — ${counts}${best}; spent $${j.costUSD.toFixed(2)}`;
  });
  return `${dashboardHeader(statuses, c)}${table}\n${summaries.join('\n')}\n`;
}

/** Over several jobs (a directory of specs), one line of totals before the table. */
function dashboardHeader(statuses: readonly JobStatus[], c: Palette): string {
  if (statuses.length < 2) return '';
  const counts = new Map<TrialState, number>();
  for (const j of statuses) for (const s of TRIAL_STATE_ORDER) if (j.counts[s]) counts.set(s, (counts.get(s) ?? 0) + j.counts[s]!);
  const trials = statuses.reduce((n, j) => n + j.trials.length, 0);
  const spent = statuses.reduce((n, j) => n + j.costUSD, 0);
  const states = TRIAL_STATE_ORDER.filter((s) => counts.get(s)).map((s) => `${counts.get(s)} ${stateColor(s, c)(s)}`).join(', ');
  return `${c.bold(`${statuses.length} jobs, ${trials} trials`)} — ${states}; spent $${spent.toFixed(2)}\n\n`;
}
