// The human view of a plan, in the spirit of Terraform's: one line per trial that changes, a
// symbol per kind, the reason in words, and a summary line.
import { formatCost } from '../core/cost.js';
import { formatDuration } from '../core/duration.js';
import { slotOf, slotText } from '../core/schedule.js';
import type { Action, ActionKind, ActionReason, JobSummary, Plan } from '../core/plan.js';
import type { Palette } from './color.js';

const SYMBOL: Record<ActionKind, string> = {
  create: '+', resume: '~', retry: '+', replace: '-/+', stop: '-', delete: '-', wait: '.', noop: ' ',
};

const REASON: Record<ActionReason, string> = {
  'new': 'new trial',
  'running': 'running',
  'finished': 'finished',
  'spec-changed': 'spec changed',
  'interrupted': 'interrupted',
  'node-lost': 'node lost while running',
  'interrupted-no-checkpoint': 'interrupted with no complete checkpoint; starts over',
  'failed': 'failed',
  'retries-exhausted': 'failed, no retries left',
  'interruptions-exhausted': 'interrupted too often (retry.onSpotInterruption)',
  'cost-limit': 'job reached limits.costUSD',
  'max-duration': 'ran past limits.maxDuration',
  'early-stopped': 'early-stopped by its runner',
  'stop-on-failure': 'another trial failed (stopOnFailure)',
  'halted-on-failure': 'sweep halted after a failure (stopOnFailure)',
  'orphaned': 'in no spec (--prune)',
  'max-parallel': 'waiting for a slot (maxParallel)',
  'destroyed': 'trainctl destroy; checkpoints kept',
  'idle': 'its attempt ended over 5 minutes ago but its machine still runs',
  'schedule-forbid': 'an older scheduled run still goes (concurrencyPolicy: Forbid)',
  'schedule-replaced': 'a newer scheduled run replaces it (concurrencyPolicy: Replace)',
};

export function reasonText(a: Action): string {
  const base = REASON[a.reason];
  const extra: string[] = [];
  if (a.previousSpecHash) extra.push(`${a.previousSpecHash} → ${a.specHash}`);
  if (a.resumeFromStep !== undefined) extra.push(`from checkpoint at step ${a.resumeFromStep}`);
  if (a.attempt !== undefined && a.attempt > 1 && a.kind !== 'wait') extra.push(`attempt ${a.attempt}`);
  return extra.length ? `${base}; ${extra.join(', ')}` : base;
}

export function driftRepair(a: Action): string {
  if (a.kind === 'wait' && a.reason === 'max-parallel') return `repaired when a slot frees (maxParallel)`;
  if (a.kind === 'noop' || a.kind === 'wait') return `not repaired: ${reasonText(a)}`;
  return `${a.kind} repairs it`;
}

export function formatParameters(p: Readonly<Record<string, string | number | boolean>>): string {
  return Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'string' && /[\s=]/.test(v) ? JSON.stringify(v) : String(v)}`).join(' ');
}

function colorFor(kind: ActionKind, c: Palette): (s: string) => string {
  switch (kind) {
    case 'create': case 'retry': return c.green;
    case 'resume': case 'replace': return c.yellow;
    case 'stop': case 'delete': return c.red;
    default: return c.dim;
  }
}

export function renderPlanText(plan: Plan, c: Palette): string {
  const out: string[] = [];
  const shown = plan.actions.filter((a) => a.kind !== 'noop' || (a.reason !== 'running' && a.reason !== 'finished'));
  const byJob = new Map<string, Action[]>();
  for (const a of shown) {
    const k = `${a.project}/${a.job}`;
    if (!byJob.has(k)) byJob.set(k, []);
    byJob.get(k)!.push(a);
  }
  const idWidth = Math.max(0, ...shown.map((a) => a.trial.length));
  const paramWidth = Math.min(48, Math.max(0, ...shown.map((a) => formatParameters(a.parameters).length)));
  for (const job of plan.jobs) {
    const key = `${job.project}/${job.job}`;
    const actions = byJob.get(key) ?? [];
    const unchanged = plan.actions.filter((a) => `${a.project}/${a.job}` === key && a.kind === 'noop' && (a.reason === 'running' || a.reason === 'finished'));
    const counts = countReasons(unchanged);
    const spend = job.costLimitUSD !== undefined ? `, spent $${job.spentUSD.toFixed(2)} of $${job.costLimitUSD.toFixed(2)}` : '';
    out.push(c.bold(`job ${key}`) + c.dim(` (${job.trials} trial${job.trials === 1 ? '' : 's'}${counts ? `; ${counts}` : ''}${spend})`));
    for (const a of actions) out.push(actionLine(a, idWidth, paramWidth, c, (job.estimate?.usdPerHour ?? 0) > 0));
    const cost = costLine(job);
    if (cost) out.push(c.dim(cost));
    const schedule = scheduleLine(job);
    if (schedule) out.push(c.dim(schedule));
    out.push('');
  }
  const orphans = shown.filter((a) => a.kind === 'delete' && !plan.jobs.some((j) => j.project === a.project && j.job === a.job));
  if (orphans.length) {
    out.push(c.bold('not in any spec'));
    for (const a of orphans) out.push(actionLine(a, idWidth, paramWidth, c, false));
    out.push('');
  }
  const drifted = plan.actions.filter((a) => a.drift?.length);
  if (drifted.length) {
    out.push(c.bold('drift (changed outside trainctl)'));
    for (const a of drifted) for (const d of a.drift!) out.push(`  ${c.yellow('!')} ${a.trial.padEnd(idWidth)}  ${d}; ${driftRepair(a)}`);
    out.push('');
  }
  for (const w of plan.warnings) out.push(c.yellow(`warning: ${w}`));
  if (plan.warnings.length) out.push('');
  out.push(summaryLine(plan, c));
  return `${out.join('\n')}\n`;
}

function actionLine(a: Action, idWidth: number, paramWidth: number, c: Palette, priced: boolean): string {
  const color = colorFor(a.kind, c);
  const params = formatParameters(a.parameters);
  const resources = a.kind === 'delete' || a.kind === 'stop' ? c.dim(` [${(a.resources ?? []).join(', ')}]`) : '';
  const cost = priced && a.estimatedCostUSD !== undefined ? c.dim(`  ≤ ${formatCost(a.estimatedCostUSD)}`) : '';
  return `  ${color(SYMBOL[a.kind].padStart(3))} ${color(a.kind.padEnd(7))} ${a.trial.padEnd(idWidth)}  ${params.padEnd(paramWidth)}  ${c.dim(reasonText(a))}${resources}${cost}`;
}

/**
 * `cost: $1.006/h × 2 nodes × 6h = $12.07 per trial; worst case $31.39 (spent $7.25 + up to $24.14
 * more) of the $50.00 limit`; nothing for free compute.
 */
export function costLine(job: JobSummary): string | undefined {
  const e = job.estimate;
  if (!e || e.usdPerHour === 0) return undefined;
  const source = e.priceSource === 'table' ? `list price ${e.asOf}` : e.priceSource === 'user' ? 'prices.json' : e.priceSource === 'live' ? 'live quote' : 'free';
  const rate = `$${e.usdPerHour}/h (${source}) × ${e.nodes} node${e.nodes === 1 ? '' : 's'}`;
  const limit = job.costLimitUSD !== undefined ? ` of the $${job.costLimitUSD.toFixed(2)} limit` : '';
  if (e.perTrialUSD === 'unbounded') return `  cost: ${rate}, no maxDuration: unbounded per trial${limit ? `; the runners hold it to the $${job.costLimitUSD!.toFixed(2)} limit` : ''}`;
  const more = e.remainingUSD === 'unbounded' ? 'unbounded' : formatCost(e.remainingUSD);
  return `  cost: ${rate} × ${formatDuration(e.maxDurationMs ?? 0)} = ${formatCost(e.perTrialUSD)} per trial; worst case ${formatCost(e.worstCaseUSD)} (spent ${formatCost(job.spentUSD)} + up to ${more} more)${limit}`;
}

/** `schedule: run 2026-11-25 02:00 UTC due (cron); next tick 2026-11-26 02:00 UTC`. */
export function scheduleLine(job: JobSummary): string | undefined {
  const s = job.schedule;
  if (!s) return undefined;
  const due = s.due ? `run ${slotText(s.due.slot)} due (${s.due.by === 'cron' ? 'cron' : `new data: ${s.due.object ?? ''}`})` : 'no run due';
  const next = s.next ? `; next tick ${slotText(slotOf(new Date(s.next)))}` : '';
  return `  schedule: ${due}${next}; concurrencyPolicy ${s.concurrencyPolicy}`;
}

function countReasons(actions: readonly Action[]): string {
  const running = actions.filter((a) => a.reason === 'running').length;
  const finished = actions.filter((a) => a.reason === 'finished').length;
  return [running && `${running} running`, finished && `${finished} finished`].filter(Boolean).join(', ');
}

export function summaryLine(plan: Plan, c: Palette): string {
  const s = plan.summary;
  const changes = s.create + s.resume + s.retry + s.replace + s.stop + s.delete;
  const unchanged = s.noop;
  if (changes === 0) {
    const waiting = s.wait ? ` ${s.wait} waiting.` : '';
    return `${c.bold('No changes.')} ${unchanged} trial${unchanged === 1 ? '' : 's'} match${unchanged === 1 ? 'es' : ''} the specs.${waiting}`;
  }
  const parts = [`${s.create} to create`, `${s.resume} to resume`];
  if (s.retry) parts.push(`${s.retry} to retry`);
  if (s.replace) parts.push(`${s.replace} to replace`);
  parts.push(`${s.stop} to stop`);
  if (s.delete) parts.push(`${s.delete} to delete`);
  const tail = [s.wait && `${s.wait} waiting`, unchanged && `${unchanged} unchanged`].filter(Boolean).join(', ');
  return `${c.bold('Plan:')} ${parts.join(', ')}.${tail ? ` ${tail[0]!.toUpperCase()}${tail.slice(1)}.` : ''}`;
}
