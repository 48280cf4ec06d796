// `trainctl experiments list`: one line per job of the given specs — trials, where they stand,
// the best objective value and the spend so far.
import { ExitError } from '../core/errors.js';
import { TRIAL_STATE_ORDER, type TrialState } from '../core/status.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { formatMetric } from '../render/progress.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { experimentOf, gatherEvidence, loadExperimentJobs, type Experiment } from './experiments-evidence.js';
import { outputFormat } from './shared.js';
import { stateColor } from './status.js';

/** Live first, then finished, then what went wrong: the order `trainctl status` counts in. */

export async function list(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  if (ctx.positionals.length) throw new ExitError(`unexpected argument "${ctx.positionals[0]}"`, 1, 'jobs come from -f <file|dir>; see `trainctl experiments list --help`');
  const jobs = loadExperimentJobs(ctx);
  const now = new Date();
  const experiments = (await gatherEvidence(ctx, jobs, now)).map((ev) => experimentOf(ev, ev.objective ? { ...ev.objective, by: 'best' } : undefined));
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, generatedAt: now.toISOString(), jobs: experiments.map(listJson) }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  ctx.stdout.write(renderExperimentList(experiments, c));
  return 0;
}

/** The documented `experiments list --output json` entry of one job. */
function listJson(x: Experiment) {
  return {
    project: x.project,
    job: x.job,
    trials: x.summary.trials,
    counts: x.summary.counts,
    objective: x.objective ?? null,
    best: x.summary.best ?? null,
    costUSD: Math.round(x.summary.costUSD * 1e6) / 1e6,
  };
}

export function countsText(counts: Partial<Record<TrialState, number>>, c: Palette): string {
  return TRIAL_STATE_ORDER.filter((s) => counts[s]).map((s) => `${counts[s]} ${stateColor(s, c)(s)}`).join(', ');
}

export function renderExperimentList(experiments: readonly Experiment[], c: Palette): string {
  if (experiments.length === 0) return 'No jobs.\n';
  return renderTable(experiments, [
    { header: 'JOB', value: (x) => `${x.project}/${x.job}` },
    { header: 'TRIALS', value: (x) => String(x.summary.trials), align: 'right' },
    { header: 'STATES', value: (x) => countsText(x.summary.counts, c) || '-' },
    { header: 'OBJECTIVE', value: (x) => (x.objective ? `${x.objective.metric} (${x.objective.goal === 'minimize' ? 'min' : 'max'})` : '-') },
    { header: 'BEST', value: (x) => (x.summary.best ? `${formatMetric(x.summary.best.value)} ${c.dim(x.summary.best.trial)}` : '-') },
    { header: 'SPEND', value: (x) => `$${x.summary.costUSD.toFixed(2)}`, align: 'right' },
  ], { header: c.bold });
}
