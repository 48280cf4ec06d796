// `trainctl reconcile`: one pass over every spec given (what a scheduled CI job runs), or with
// --watch the long-running controller. Logs one line per change: `<time> <action> <trial> (<reason>)`.
import { formatDiagnostic, hasErrors } from '../core/diagnostics.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import type { Plan } from '../core/plan.js';
import type { ActionOutcome } from '../engine/apply.js';
import { cliLocks, parseLockTimeout } from '../engine/lock.js';
import { Reconciler, TerminalPassError, watch, type ReconcileEvent } from '../engine/reconcile.js';
import { reasonText } from '../render/plan-text.js';
import type { Job } from '../spec/types.js';
import { refuseOverBudget } from './apply.js';
import type { CommandContext } from './commands.js';
import { clockOf, loadJobs, trainctlHome } from './shared.js';

const DEFAULT_INTERVAL = '60s';

export async function run(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length) throw new ExitError(`reconcile takes no arguments (got "${ctx.positionals[0]}")`, 1, 'pass the specs with -f <file|dir>');
  const watching = Boolean(ctx.values.watch);
  const intervalMs = parseInterval(ctx.values.interval as string | undefined, watching);
  parseLockTimeout(ctx.values['lock-timeout'] as string | undefined);
  const first = loadJobs(ctx);
  if (!first.ok) return 1;

  const out = (line: string) => ctx.stdout.write(`${line}\n`);
  const locks = cliLocks({
    command: 'reconcile', lockTimeout: ctx.values['lock-timeout'] as string | undefined, env: ctx.env, inputs: first.inputs,
    onNotice: (m) => out(`${stamp(new Date())} lock ${m}`),
  });
  const allowOverBudget = Boolean(ctx.values['allow-over-budget']);
  let pending: Job[] | undefined = first.jobs;
  let shownDiagnostics = '';
  const reconciler = new Reconciler({
    env: { home: trainctlHome(ctx.env) },
    options: { prune: Boolean(ctx.values.prune) },
    // the controller re-reads the specs every pass: a `git pull` into the directory is picked up
    load: () => {
      if (pending) {
        const jobs = pending;
        pending = undefined;
        return jobs;
      }
      const { jobs, diagnostics } = loadJobs(ctx, { quiet: true });
      const text = diagnostics.map(formatDiagnostic).join('\n');
      if (text !== shownDiagnostics && text) ctx.stderr.write(`${text}\n`);
      shownDiagnostics = text;
      if (hasErrors(diagnostics)) throw new TerminalPassError('the specs do not load; nothing was changed', 'fix the errors above; the next pass reads them again');
      return jobs;
    },
    check: (plan: Plan) => {
      try {
        refuseOverBudget(plan, allowOverBudget);
      } catch (err) {
        if (err instanceof ExitError) throw new TerminalPassError(err.message, err.hint);
        throw err;
      }
    },
    locks,
    onEvent: (e) => { const line = eventLine(e); if (line) out(line); },
    // TRAINCTL_NOW pins it (tests of schedules); a pinned controller sees the same moment every pass
    clock: () => clockOf(ctx),
  });

  try {
    if (!watching) {
      const { pr, outcomes } = await reconciler.pass();
      out(passSummary(pr.plan, outcomes));
      let failed = 0;
      for (const o of outcomes) {
        if (o.kind !== 'failed') continue;
        ctx.stderr.write(`error: failed to ${o.action.kind} ${o.action.trial}: ${o.message}\n`);
        failed++;
      }
      return failed ? 1 : 0;
    }
    const stop = new AbortController();
    let signalled: string | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      // a second signal does not wait for the pass in progress
      if (signalled) process.exit(130);
      signalled = sig;
      out(`${stamp(new Date())} ${sig}: stopping after the current pass`);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const jobs = first.jobs.length;
    out(`${stamp(new Date())} watching ${jobs} job${jobs === 1 ? '' : 's'} (${first.inputs.join(', ')}), a pass every ${formatDuration(intervalMs)}`);
    try {
      await watch(reconciler, { intervalMs, signal: stop.signal }, (e) => { const line = eventLine(e); if (line) out(line); });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    out(`${stamp(new Date())} stopped`);
    return 0;
  } finally {
    await locks.release();
  }
}

function parseInterval(text: string | undefined, watching: boolean): number {
  if (text !== undefined && !watching) throw new ExitError('--interval works only with --watch', 1, 'add --watch, or drop --interval');
  const ms = parseDuration(text ?? DEFAULT_INTERVAL);
  if (ms === undefined || ms <= 0) throw new ExitError(`--interval "${text}" is not a duration`, 1, 'write it like 30s, 1m or 5m');
  return ms;
}

/** Second precision, UTC: log lines line up and sort. */
function stamp(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** `<time> <action> <trial> (<reason>)`; undefined for what is not a change. */
export function eventLine(e: ReconcileEvent): string | undefined {
  const t = stamp(e.at);
  switch (e.kind) {
    case 'outcome': return `${t} ${outcomeWords(e.outcome)}`;
    case 'settled': return `${t} ${e.state} ${e.action.trial} (${reasonText(e.action)})`;
    case 'warning': return `${t} warning ${e.message}`;
    case 'locked': return `${t} locked ${e.error.message}; trying again in ${formatDuration(e.retryInMs)}`;
    case 'error': {
      const err = e.error;
      const message = err instanceof ExitError ? `${err.message}${err.hint ? ` — ${err.hint}` : ''}` : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return `${t} error ${message}${e.retryInMs !== undefined ? `; next pass in ${formatDuration(e.retryInMs)}` : ''}`;
    }
  }
}

function outcomeWords(o: ActionOutcome): string {
  const a = o.action;
  const drift = a.drift?.length ? `; drift: ${a.drift.join(', ')}` : '';
  switch (o.kind) {
    case 'launched': case 'terminated': return `${a.kind} ${a.trial} (${reasonText(a)}${drift})`;
    case 'waiting': return `wait ${a.trial} (no capacity for ${a.kind}: ${o.message})`;
    case 'failed': return `failed ${a.trial} (${a.kind}: ${o.message})`;
  }
}

function passSummary(plan: Plan, outcomes: readonly ActionOutcome[]): string {
  const n = (k: ActionOutcome['kind']) => outcomes.filter((o) => o.kind === k).length;
  const parts = [`${n('launched')} launched`, `${n('terminated')} stopped`];
  if (n('waiting')) parts.push(`${n('waiting')} waiting for capacity`);
  if (plan.summary.wait) parts.push(`${plan.summary.wait} waiting`);
  if (n('failed')) parts.push(`${n('failed')} failed`);
  parts.push(`${plan.summary.noop} unchanged`);
  return `Reconciled ${plan.jobs.length} job${plan.jobs.length === 1 ? '' : 's'}: ${parts.join(', ')}.`;
}
