// Words for `apply --wait`: one line per trial (state, step, metric, elapsed) and the closing
// summary per job. Pure: the engine gathers the numbers, the CLI decides where lines go.
import { formatDuration } from '../core/duration.js';
import type { JobSummary } from '../core/plan.js';
import type { TrialPhase, TrialProgress } from '../engine/apply.js';
import type { Palette } from './color.js';

const PHASE: Record<TrialPhase, string> = {
  'waiting': 'waiting',
  'launching': 'launching',
  'starting': 'starting',
  'running': 'running',
  'stopping': 'stopping',
  'succeeded': 'succeeded',
  'stopped': 'stopped',
  'early-stopped': 'early-stopped',
  'failed': 'failed',
  'halted': 'not run',
  'cost-limit': 'waiting',
};

/** Four significant digits, without trailing zeros: 0.0123, 1.5, 2.346e-7. */
export function formatMetric(v: number): string {
  return String(Number(v.toPrecision(4)));
}

function phaseColor(p: TrialProgress, c: Palette): (s: string) => string {
  if (p.failed || p.phase === 'failed') return c.red;
  if (p.phase === 'succeeded') return c.green;
  if (p.phase === 'running' || p.phase === 'starting' || p.phase === 'launching') return c.cyan;
  return c.dim;
}

export function progressLine(p: TrialProgress, c: Palette, idWidth = 0): string {
  const parts = [phaseColor(p, c)(PHASE[p.phase])];
  if (p.attempt !== undefined && p.attempt > 1) parts.push(`attempt ${p.attempt}`);
  if (p.step !== undefined) parts.push(`step ${p.step}`);
  if (p.metric) parts.push(`${p.metric.name} ${formatMetric(p.metric.value)}`);
  if (p.elapsedMs !== undefined) parts.push(formatDuration(p.elapsedMs));
  // "waiting — for a slot", not "waiting — waiting for a slot"
  const said = p.note?.startsWith(`${PHASE[p.phase]} `) ? p.note.slice(PHASE[p.phase].length + 1) : p.note;
  const note = said && p.phase !== 'running' && p.phase !== 'succeeded' ? c.dim(` — ${said}`) : '';
  return `${p.trial.padEnd(idWidth)}  ${parts.join('  ')}${note}`;
}

/** What a plain log line is printed for: a trial's phase, attempt or reason changing. */
export function progressKey(p: TrialProgress): string {
  return `${p.phase}|${p.attempt ?? ''}|${p.note ?? ''}`;
}

/** The best value of the shown metric in a trial: the objective's best when recorded, else its last value. */
function bestOf(p: TrialProgress): number | undefined {
  if (!p.metric) return undefined;
  const best = p.report.result?.best;
  return best && best.metric === p.metric.name ? best.value : p.metric.value;
}

export interface SummaryInput {
  job: JobSummary;
  progress: readonly TrialProgress[];
  goal: 'minimize' | 'maximize';
  elapsedMs: number;
}

/**
 * `Training completed: 4 trials, best loss 0.0123 (quickstart-0446f601), 1m02s, cost $0.00`, or
 * `Training failed: …, 1 failed (id: exit code 1), …` when a trial failed for good.
 */
export function trainingSummary(s: SummaryInput, named: boolean): string {
  const failed = s.progress.filter((p) => p.failed);
  const count = (phase: TrialPhase) => s.progress.filter((p) => p.phase === phase && !p.failed).length;
  const parts = [`${s.progress.length} trial${s.progress.length === 1 ? '' : 's'}`];
  const others = [
    count('early-stopped') && `${count('early-stopped')} early-stopped`,
    count('stopped') && `${count('stopped')} stopped`,
    count('halted') && `${count('halted')} not run`,
    count('cost-limit') && `${count('cost-limit')} held by the cost limit`,
  ].filter(Boolean);
  if (others.length) parts[0] += ` (${others.join(', ')})`;
  if (failed.length) parts.push(`${failed.length} failed: ${failed.map((p) => `${p.trial}${p.note ? ` (${p.note})` : ''}`).join(', ')}`);
  let best: { trial: string; name: string; value: number } | undefined;
  for (const p of s.progress) {
    const v = bestOf(p);
    if (v === undefined || p.failed) continue;
    if (!best || (s.goal === 'minimize' ? v < best.value : v > best.value)) best = { trial: p.trial, name: p.metric!.name, value: v };
  }
  if (best) parts.push(`best ${best.name} ${formatMetric(best.value)} (${best.trial})`);
  parts.push(formatDuration(s.elapsedMs), `cost $${s.job.spentUSD.toFixed(2)}`);
  const head = failed.length ? 'Training failed' : 'Training completed';
  return `${head}${named ? ` (${s.job.project}/${s.job.job})` : ''}: ${parts.join(', ')}`;
}
