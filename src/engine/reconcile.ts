// The controller (`trainctl reconcile`): a pass is level-based — read the specs and the world, plan,
// carry out every change without asking — so running it again is always safe. `watch` repeats
// passes until stopped; a pass that fails is retried with capped backoff, a terminal one (specs
// that do not load, a plan over budget) waits the interval, and a project another runner has
// locked is waited for. Every change becomes an event the CLI prints as one line.
import { ExitError } from '../core/errors.js';
import { CHANGING_KINDS, hasChanges, type Action, type Plan, type PlanOptions } from '../core/plan.js';
import { backoffDelay, type Backoff } from '../core/retry.js';
import type { Job } from '../spec/types.js';
import { executePlan, type ActionOutcome } from './apply.js';
import { LockHeldError } from './lock.js';
import type { Environment } from './observe.js';
import { planJobs, type PlanResult } from './planning.js';

/** A pass failed for a reason retrying cannot cure: only a change of the specs (or limits) can. */
export class TerminalPassError extends ExitError {
  constructor(message: string, hint?: string) {
    super(message, 1, hint);
    this.name = 'TerminalPassError';
  }
}

export type ReconcileEvent =
  /** An action carried out (or that failed, or found no capacity). */
  | { kind: 'outcome'; at: Date; outcome: ActionOutcome }
  /** A trial came to rest since the last pass (finished, failed for good, held by the cost limit). */
  | { kind: 'settled'; at: Date; action: Action; state: string }
  /** A plan warning not seen in the last pass (a job reaching its cost limit). */
  | { kind: 'warning'; at: Date; message: string }
  /** A pass failed; the next one starts in `retryInMs` (watch only). */
  | { kind: 'error'; at: Date; error: unknown; retryInMs?: number }
  /** A project is locked by another runner; the next pass tries again in `retryInMs`. */
  | { kind: 'locked'; at: Date; error: LockHeldError; retryInMs: number };

/** What a pass needs from the CLI: the specs, a check of each plan, and the project locks. */
export interface ReconcilerOptions {
  env: Environment;
  options: PlanOptions;
  /** The specs as they are now; throws a TerminalPassError when they do not load. */
  load(): Job[];
  /** Throws (a TerminalPassError) to refuse a plan, e.g. one over its cost limit. */
  check?(plan: Plan): void;
  locks: { sync(jobs: readonly Job[]): Promise<void>; assertHeld(): void };
  onEvent(e: ReconcileEvent): void;
  clock?: () => Date;
}

export interface PassResult {
  pr: PlanResult;
  outcomes: ActionOutcome[];
}

const trialKey = (a: Pick<Action, 'project' | 'trial'>) => `${a.project}/${a.trial}`;

/** The word a trial at rest is logged with. */
function restingState(a: Action, pr: PlanResult): string | undefined {
  if (a.kind === 'wait') return a.reason === 'cost-limit' ? 'held' : undefined;
  if (a.kind !== 'noop' || a.reason === 'running') return undefined;
  switch (a.reason) {
    case 'finished': return pr.observed.records.find((r) => r.project === a.project && r.trial === a.trial)?.result?.state ?? 'finished';
    case 'retries-exhausted': case 'interruptions-exhausted': return 'failed';
    case 'halted-on-failure': return 'halted';
    default: return 'stopped';
  }
}

export class Reconciler {
  /** Each trial's resting state and the warnings of the last pass: only changes are logged. */
  private resting: Map<string, string> | undefined;
  private warnings = new Set<string>();

  constructor(private readonly o: ReconcilerOptions) {}

  /** One pass. Throws when it could not plan or apply; a failed action is an outcome, not a throw. */
  async pass(): Promise<PassResult> {
    const clock = this.o.clock ?? (() => new Date());
    const jobs = this.o.load();
    // the lock is taken (or confirmed) before planning: the plan must see the world as the last holder left it
    await this.o.locks.sync(jobs);
    const pr = await planJobs(jobs, this.o.env, this.o.options, clock());
    this.report(pr, clock());
    let outcomes: ActionOutcome[] = [];
    if (hasChanges(pr.plan)) {
      this.o.check?.(pr.plan);
      this.o.locks.assertHeld();
      outcomes = await executePlan(pr.plan, { jobs, trials: pr.trials, resources: pr.observed.resources, records: pr.observed.records, env: this.o.env }, {
        renderer: 'silent',
        onOutcome: (outcome) => this.o.onEvent({ kind: 'outcome', at: clock(), outcome }),
      });
    }
    return { pr, outcomes };
  }

  private report(pr: PlanResult, at: Date): void {
    const first = this.resting === undefined;
    const resting = new Map<string, string>();
    for (const a of pr.plan.actions) {
      if (CHANGING_KINDS.has(a.kind)) continue;
      const state = restingState(a, pr);
      if (state === undefined) continue;
      resting.set(trialKey(a), state);
      // the first pass only learns where things stand: a controller's log starts with changes
      if (!first && this.resting!.get(trialKey(a)) !== state) this.o.onEvent({ kind: 'settled', at, action: a, state });
    }
    const warnings = new Set(pr.plan.warnings);
    for (const w of warnings) if (!this.warnings.has(w)) this.o.onEvent({ kind: 'warning', at, message: w });
    this.resting = resting;
    this.warnings = warnings;
  }
}

export interface WatchOptions {
  intervalMs: number;
  /** Aborted by SIGINT/SIGTERM: the pass in progress finishes, then the loop ends. */
  signal: AbortSignal;
  backoff?: Backoff;
}

/** Backoff after failed passes: from 1 s, doubling, never more than 5 minutes apart. */
export const PASS_BACKOFF: Backoff = { baseMs: 1000, maxMs: 5 * 60_000, factor: 2, jitter: 0.2 };

/** Passes every interval until `signal` aborts. Never throws for a failed pass: it reports it and goes on. */
export async function watch(r: Pick<Reconciler, 'pass'>, o: WatchOptions, onEvent: (e: ReconcileEvent) => void, clock: () => Date = () => new Date()): Promise<void> {
  let failures = 0;
  // a lock held, or specs that do not load, is said once, not every interval, until it changes
  let said: string | undefined;
  while (!o.signal.aborted) {
    let delay = o.intervalMs;
    try {
      const { outcomes } = await r.pass();
      said = undefined;
      // a launch or stop that failed (an API that did not answer) is retried sooner, then less often
      if (outcomes.some((x) => x.kind === 'failed')) delay = Math.min(o.intervalMs, backoffDelay(++failures, o.backoff ?? PASS_BACKOFF));
      else failures = 0;
    } catch (err) {
      if (err instanceof LockHeldError || err instanceof TerminalPassError) {
        if (err.message !== said) onEvent(err instanceof LockHeldError ? { kind: 'locked', at: clock(), error: err, retryInMs: delay } : { kind: 'error', at: clock(), error: err, retryInMs: delay });
        said = err.message;
      } else {
        said = undefined;
        delay = backoffDelay(++failures, o.backoff ?? PASS_BACKOFF);
        onEvent({ kind: 'error', at: clock(), error: err, retryInMs: delay });
      }
    }
    await sleep(delay, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
