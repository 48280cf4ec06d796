// The planner: a pure function of (desired trials, observed world, options, clock) → Plan.
// No I/O. Each action has a kind and a reason, both enums; rendering turns them into words.
import { jobCostEstimate, trialEstimateUSD, type CostBound, type JobCostEstimate } from './cost.js';
import { canonicalJson, sha256 } from './hash.js';
import { applyConcurrency, inCurrentRun, newestSlot, type ConcurrencyPolicy } from './schedule.js';
import type { AttemptRecord, GoneResource, Observed, ObservedResource, TrialRecord } from './observed.js';

export const ACTION_KINDS = ['create', 'resume', 'retry', 'replace', 'stop', 'delete', 'wait', 'noop'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

export const ACTION_REASONS = [
  'new',                       // create: nothing live, no record
  'running',                   // noop: live with the same specHash
  'finished',                  // noop: ended for good (succeeded, stopped, early-stopped) with the same specHash
  'spec-changed',              // replace: live or recorded with another specHash
  'interrupted',               // resume: last attempt interrupted, complete checkpoint
  'node-lost',                 // resume/retry: last attempt never ended and nothing is live
  'interrupted-no-checkpoint', // retry: interrupted but no complete checkpoint to resume from
  'failed',                    // retry: failed, retries left
  'retries-exhausted',         // noop: failed, no retries left
  'interruptions-exhausted',   // noop: interrupted more often than retry.onSpotInterruption
  'cost-limit',                // stop/wait: the job's spend reached limits.costUSD
  'max-duration',              // stop/noop: the trial ran for its whole limits.maxDuration
  'early-stopped',             // stop: the runner marked it early-stopped but it is still live
  'stop-on-failure',           // stop: another trial failed and stopOnFailure is set
  'halted-on-failure',         // noop: not launched because the sweep halted on a failure
  'orphaned',                  // delete: managed resource whose trial is in no spec (--prune)
  'max-parallel',              // wait: over maxParallel, launched by a later pass
  'destroyed',                 // stop: asked for by `trainctl destroy` (never planned)
  'idle',                      // stop: its attempt ended long ago but its machine still runs (and bills)
  'schedule-forbid',           // wait: an older scheduled run still goes (concurrencyPolicy: Forbid)
  'schedule-replaced',         // stop/noop: a newer scheduled run replaces it (concurrencyPolicy: Replace)
] as const;
export type ActionReason = (typeof ACTION_REASONS)[number];

/** A trial the specs want. `Trial` from spec/ satisfies this. */
export interface DesiredTrial {
  id: string;
  job: string;
  project: string;
  index: number;
  parameters: Readonly<Record<string, string | number | boolean>>;
  specHash: string;
  /** For a scheduled or triggered job: the run (UTC minute, `YYYYMMDDtHHMM`) the trial belongs to. */
  slot?: string;
}

/** When a scheduled or triggered job runs, as the engine decided it from the clock and the world. */
export interface JobSchedule {
  concurrencyPolicy: ConcurrencyPolicy;
  /** The slot whose run starts now, and what made it due. */
  due?: { slot: string; by: 'cron' | 's3'; object?: string };
  /** ISO time of the next cron tick. */
  next?: string;
}

/** The parts of a job that steer planning. */
export interface JobPolicy {
  project: string;
  job: string;
  maxParallel: number;
  stopOnFailure: boolean;
  retryOnFailure: number;
  retryOnInterruption: number;
  resume: 'auto' | 'never';
  costLimitUSD?: number;
  maxDurationMs?: number;
  onExceed: 'stop' | 'warn';
  /** Nodes per trial (distributed.nodes), for cost estimates. Default 1. */
  nodes?: number;
  schedule?: JobSchedule;
}

/** Price of one node of a job's compute, as the engine found it. */
export interface JobPrice {
  usdPerHour: number;
  source: JobCostEstimate['priceSource'];
  asOf: string;
}

export interface Desired {
  jobs: readonly JobPolicy[];
  trials: readonly DesiredTrial[];
  /**
   * Node prices by `project/job`; a job without one gets no cost estimate. Kept apart from the
   * policies: a live spot price moves, and that must not make a saved plan's specs look changed.
   */
  prices?: Readonly<Record<string, JobPrice>>;
}

export interface PlanOptions {
  prune: boolean;
}

export interface Action {
  kind: ActionKind;
  reason: ActionReason;
  project: string;
  job: string;
  trial: string;
  parameters: Readonly<Record<string, string | number | boolean>>;
  /** The specHash the trial will have (desired), or the resource's for deletes. */
  specHash: string;
  /** The specHash found live or recorded, when it differs. */
  previousSpecHash?: string;
  /** The attempt number a launching action starts. */
  attempt?: number;
  /** Checkpoint step a resume starts from. */
  resumeFromStep?: number;
  /** Live resource ids the action stops, deletes or keeps. */
  resources?: string[];
  /**
   * Worst case the trial may still spend (price × nodes × the maxDuration it has left), for trials
   * that run, launch or wait for a slot, when the job's price is known.
   */
  estimatedCostUSD?: CostBound;
  /**
   * Drift: the trial's nodes that vanished outside trainctl while its attempt ran, in words
   * (`node <id> is gone (process 1234 not running)`); the action repairs it.
   */
  drift?: string[];
}

export interface JobSummary {
  project: string;
  job: string;
  trials: number;
  spentUSD: number;
  costLimitUSD?: number;
  /** Present when the job's price is known. */
  estimate?: JobCostEstimate;
  /** Present for a scheduled or triggered job. */
  schedule?: JobSchedule;
}

export interface Plan {
  formatVersion: 1;
  createdAt: string;
  options: PlanOptions;
  actions: Action[];
  warnings: string[];
  jobs: JobSummary[];
  summary: Record<ActionKind, number>;
  /** Hash of the observed world the plan was made from: apply refuses a plan whose world moved. */
  observedDigest: string;
}

/** Kinds that change the world. */
export const CHANGING_KINDS: ReadonlySet<ActionKind> = new Set(['create', 'resume', 'retry', 'replace', 'stop', 'delete']);
const LAUNCHING_KINDS: ReadonlySet<ActionKind> = new Set(['create', 'resume', 'retry', 'replace']);

export function hasChanges(plan: Plan): boolean {
  return plan.actions.some((a) => CHANGING_KINDS.has(a.kind));
}

const jobKey = (project: string, job: string) => `${project}/${job}`;
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/** How long a node may outlive its attempt's end before the plan stops it ('idle'). */
export const IDLE_AFTER_MS = 5 * 60_000;

const spentOn = (r: TrialRecord) => r.attempts.reduce((s, a) => s + a.costUSD, 0);
const isTerminalAttempt = (a: AttemptRecord) => a.state !== 'starting' && a.state !== 'running';

/**
 * The failure/interruption history of a trial under one specHash. The next attempt number also
 * counts live resources: a launch whose status.json is not written yet still owns its number,
 * and attempt numbers feed idempotency tokens (a reused number would re-find the old machine).
 */
function history(rec: TrialRecord | undefined, specHash: string, live: readonly ObservedResource[]) {
  const attempts = rec?.attempts.filter((a) => a.specHash === specHash) ?? [];
  const last = rec?.attempts.at(-1);
  return {
    failures: attempts.filter((a) => a.state === 'failed').length,
    interruptions: attempts.filter((a) => a.state === 'interrupted' || !isTerminalAttempt(a)).length,
    nextAttempt: Math.max(last?.n ?? 0, ...live.map((r) => r.attempt)) + 1,
    last,
  };
}

/**
 * result.json as it speaks for the trial now. Old records are kept across a replace and a retry,
 * so a result written before the last attempt started, or under another specHash, is history.
 */
function currentResult(rec: TrialRecord): TrialRecord['result'] {
  const last = rec.attempts.at(-1);
  const r = rec.result;
  if (!r || !last) return r;
  if (r.specHash !== last.specHash || Date.parse(r.finishedAt) < Date.parse(last.startedAt)) return undefined;
  return r;
}

/**
 * Time the trial has run under one specHash, over all its attempts (limits.maxDuration): a
 * changed spec is a new run with its own time, not the remainder of the old one's.
 */
function elapsedMs(rec: TrialRecord | undefined, specHash: string, live: readonly ObservedResource[], now: Date): number {
  let ms = 0;
  const liveAttempts = new Set(live.map((r) => r.attempt));
  for (const a of rec?.attempts ?? []) {
    // a live attempt's time is counted from its launch, below
    if (a.specHash === specHash && isTerminalAttempt(a) && !liveAttempts.has(a.n)) ms += Math.max(0, Date.parse(a.updatedAt) - Date.parse(a.startedAt));
  }
  const launched = Math.min(...live.map((r) => Date.parse(r.launchedAt)));
  if (Number.isFinite(launched)) ms += Math.max(0, now.getTime() - launched);
  return ms;
}

export function plan(desired: Desired, observed: Observed, options: PlanOptions, now: Date): Plan {
  const actions: Action[] = [];
  const warnings: string[] = [];
  const liveByTrial = groupBy(observed.resources, (r) => jobKey(r.project, r.trial));
  const recordByTrial = new Map(observed.records.map((r) => [jobKey(r.project, r.trial), r]));
  const trialsByJob = groupBy(desired.trials, (t) => jobKey(t.project, t.job));
  const wanted = new Set(desired.trials.map((t) => jobKey(t.project, t.id)));
  const recordsByJob = groupBy(observed.records, (r) => jobKey(r.project, r.job));
  const goneByTrial = groupBy(observed.gone ?? [], (r) => jobKey(r.project, r.trial));
  const jobs: JobSummary[] = [];

  // Managed resources whose trial no spec wants, in the projects the specs cover; sorted, so the
  // plan does not depend on the order a provider lists them in.
  const projects = new Set(desired.jobs.map((j) => j.project));
  const orphans = [...groupBy(observed.resources.filter((r) => projects.has(r.project) && !wanted.has(jobKey(r.project, r.trial))), (r) => jobKey(r.project, r.trial))]
    .sort(([a], [b]) => compare(a, b))
    .map(([, rs]) => [...rs].sort((a, b) => compare(a.id, b.id)));
  // Without --prune an orphan keeps running on its job's machines, so it keeps its slot.
  const orphanSlots = new Map<string, number>();
  for (const rs of options.prune ? [] : orphans) {
    const k = jobKey(rs[0]!.project, rs[0]!.job);
    orphanSlots.set(k, (orphanSlots.get(k) ?? 0) + 1);
  }

  for (const policy of desired.jobs) {
    const key = jobKey(policy.project, policy.job);
    const trials = [...(trialsByJob.get(key) ?? [])].sort((a, b) => a.index - b.index);
    // summed in trial order: floating-point sums depend on order, and the plan must not
    const spent = [...(recordsByJob.get(key) ?? [])].sort((a, b) => compare(a.trial, b.trial)).reduce((s, r) => s + spentOn(r), 0);
    jobs.push({ project: policy.project, job: policy.job, trials: trials.length, spentUSD: spent, ...(policy.costLimitUSD !== undefined ? { costLimitUSD: policy.costLimitUSD } : {}), ...(policy.schedule ? { schedule: policy.schedule } : {}) });
    const overBudget = policy.costLimitUSD !== undefined && spent >= policy.costLimitUSD;
    if (overBudget) {
      warnings.push(`job ${policy.job}: spent $${spent.toFixed(2)} of its $${policy.costLimitUSD!.toFixed(2)} limit${policy.onExceed === 'warn' ? ' (onExceed: warn, nothing is stopped)' : ''}`);
    }
    const enforceBudget = overBudget && policy.onExceed === 'stop';

    // First pass: what each trial needs, ignoring slots.
    const decided = trials.map((t) => {
      const k = jobKey(t.project, t.id);
      const live = liveByTrial.get(k) ?? [];
      return withDrift(decideTrial(t, policy, live, recordByTrial.get(k), now, warnings), live, recordByTrial.get(k), goneByTrial.get(k) ?? []);
    });
    applyConcurrency(decided, trials, policy.schedule?.concurrencyPolicy);
    // each scheduled run is its own sweep: an older run's failure does not halt the current one
    const current = newestSlot(trials);
    const halted = policy.stopOnFailure && decided.some((a, i) => a.reason === 'retries-exhausted' && inCurrentRun(trials[i]!, current));

    // Second pass: job-wide limits, then slots. Trials that stay live hold a slot.
    const firstAction = actions.length;
    let busy = decided.filter((a) => a.kind === 'noop' && a.reason === 'running').length
      + decided.filter((a) => a.kind === 'replace' && a.resources?.length).length
      + (orphanSlots.get(key) ?? 0);
    for (const a of decided) {
      const live = a.resources !== undefined && a.resources.length > 0;
      if (live && (a.kind === 'noop' || a.kind === 'replace') && (enforceBudget || halted)) {
        busy--;
        const { attempt: _attempt, previousSpecHash: _previous, ...rest } = a;
        actions.push({ ...rest, kind: 'stop', reason: enforceBudget ? 'cost-limit' : 'stop-on-failure' });
        continue;
      }
      if (!LAUNCHING_KINDS.has(a.kind) || live) { actions.push(a); continue; }
      if (enforceBudget) { actions.push({ ...a, kind: 'wait', reason: 'cost-limit' }); continue; }
      if (halted) {
        // no launch follows, so no attempt number or checkpoint to show (a wait keeps them: it launches later)
        const { attempt: _attempt, resumeFromStep: _step, ...rest } = a;
        actions.push({ ...rest, kind: 'noop', reason: 'halted-on-failure' });
        continue;
      }
      if (busy >= policy.maxParallel) { actions.push({ ...a, kind: 'wait', reason: 'max-parallel' }); continue; }
      busy++;
      actions.push(a);
    }
    const price = desired.prices?.[key];
    if (price) {
      const summary = jobs.at(-1)!;
      summary.estimate = estimateJob(policy, price, actions.slice(firstAction), spent, liveByTrial, recordByTrial, now);
      warnings.push(...costWarnings(policy, summary.estimate, spent));
    } else if (desired.prices && policy.costLimitUSD !== undefined) {
      warnings.push(`job ${policy.job}: no price is known for its compute, so its spend is not counted and limits.costUSD cannot hold; add the price to prices.json`);
    }
  }

  for (const rs of orphans) {
    const r = rs[0]!;
    if (options.prune) {
      actions.push({ kind: 'delete', reason: 'orphaned', project: r.project, job: r.job, trial: r.trial, parameters: {}, specHash: r.specHash, resources: rs.map((x) => x.id) });
    } else {
      warnings.push(`trial ${r.trial} (job ${r.job}) is running but in no spec; plan with --prune to delete it`);
    }
  }

  const summary = Object.fromEntries(ACTION_KINDS.map((k) => [k, 0])) as Record<ActionKind, number>;
  for (const a of actions) summary[a.kind]++;
  return {
    formatVersion: 1,
    createdAt: now.toISOString(),
    options: { prune: options.prune },
    actions,
    warnings,
    jobs,
    summary,
    observedDigest: observedDigest(observed),
  };
}

/** Sets each running, launching or slot-waiting action's estimate and sums them for the job. */
function estimateJob(
  policy: JobPolicy, price: JobPrice, jobActions: Action[], spent: number,
  liveByTrial: ReadonlyMap<string, ObservedResource[]>, recordByTrial: ReadonlyMap<string, TrialRecord>, now: Date,
): JobCostEstimate {
  const nodes = policy.nodes ?? 1;
  const remaining: CostBound[] = [];
  let launches = false;
  for (const a of jobActions) {
    const runs = LAUNCHING_KINDS.has(a.kind) || (a.kind === 'wait' && a.reason === 'max-parallel') || (a.kind === 'noop' && a.reason === 'running');
    if (!runs) continue;
    if (a.kind !== 'noop') launches = true;
    const k = jobKey(a.project, a.trial);
    // a replace starts the new spec's clock at zero; the rest carry the time already run
    const elapsed = a.kind === 'replace' ? 0 : elapsedMs(recordByTrial.get(k), a.specHash, liveByTrial.get(k) ?? [], now);
    a.estimatedCostUSD = trialEstimateUSD(price.usdPerHour, nodes, policy.maxDurationMs, elapsed);
    remaining.push(a.estimatedCostUSD);
  }
  return jobCostEstimate(price, nodes, policy.maxDurationMs, spent, remaining, policy.costLimitUSD, launches);
}

function costWarnings(policy: JobPolicy, e: JobCostEstimate, spent: number): string[] {
  if (policy.costLimitUSD === undefined) return [];
  const limit = `$${policy.costLimitUSD.toFixed(2)}`;
  if (e.worstCaseUSD === 'unbounded') {
    return [`job ${policy.job}: no limits.maxDuration, so its worst-case cost is unbounded; ${policy.onExceed === 'stop' ? `its runners stop it when its spend reaches limits.costUSD ${limit}` : `limits.costUSD ${limit} only warns (onExceed: warn)`}`];
  }
  if (!e.overLimit) return [];
  const more = e.remainingUSD as number;
  return [`job ${policy.job}: worst-case cost $${e.worstCaseUSD.toFixed(2)} (spent $${spent.toFixed(2)} + up to $${more.toFixed(2)} more) exceeds limits.costUSD ${limit}`];
}

function decideTrial(t: DesiredTrial, policy: JobPolicy, live: readonly ObservedResource[], rec: TrialRecord | undefined, now: Date, warnings: string[]): Action {
  const base = { project: t.project, job: t.job, trial: t.id, parameters: t.parameters, specHash: t.specHash };
  const h = history(rec, t.specHash, live);
  const launch = (kind: ActionKind, reason: ActionReason, extra: Partial<Action> = {}): Action => ({ ...base, kind, reason, attempt: h.nextAttempt, ...extra });
  const elapsed = () => elapsedMs(rec, t.specHash, live, now);
  const overDuration = () => policy.maxDurationMs !== undefined && elapsed() >= policy.maxDurationMs;

  if (live.length > 0) {
    const sorted = [...live].sort((x, y) => compare(x.id, y.id));
    const resources = sorted.map((r) => r.id);
    // A changed spec wins over early stopping and maxDuration: both judge the old run, which
    // replace stops anyway, and the new run starts with its own time. Only the job-wide limits
    // (cost, stopOnFailure) turn a replace into a stop, in plan()'s second pass.
    const stale = sorted.find((r) => r.specHash !== t.specHash);
    if (stale) return launch('replace', 'spec-changed', { previousSpecHash: stale.specHash, resources });
    // Only the live attempt's own status, or a result written for this spec since it launched:
    // an early-stopped record from before a replace says nothing about the run now live.
    const liveAttempt = Math.max(...live.map((r) => r.attempt));
    const launchedAt = Math.min(...live.map((r) => Date.parse(r.launchedAt)));
    const result = rec?.result;
    const resultEarlyStopped = result?.state === 'early-stopped' && result.specHash === t.specHash && !(Date.parse(result.finishedAt) < launchedAt);
    if (resultEarlyStopped || rec?.attempts.some((a) => a.n === liveAttempt && a.state === 'early-stopped')) {
      return { ...base, kind: 'stop', reason: 'early-stopped', resources };
    }
    // A cloud node powers itself off when its runner ends; one that did not (the power-off failed)
    // bills for nothing: stop it once its attempt has been over for a while.
    const liveRecord = rec?.attempts.find((a) => a.n === liveAttempt);
    if (liveRecord && isTerminalAttempt(liveRecord) && live.every((r) => r.state !== 'stopping') && now.getTime() - Date.parse(liveRecord.updatedAt) > IDLE_AFTER_MS) {
      return { ...base, kind: 'stop', reason: 'idle', resources };
    }
    if (overDuration()) {
      if (policy.onExceed === 'stop') return { ...base, kind: 'stop', reason: 'max-duration', resources };
      warnings.push(`trial ${t.id} has run longer than its maxDuration (onExceed: warn)`);
    }
    return { ...base, kind: 'noop', reason: 'running', resources };
  }

  if (!rec || rec.attempts.length === 0) return launch('create', 'new');
  const last = h.last!;
  // What ran last decides whether the spec changed: spec.json is rewritten before a launch that
  // may never have produced an attempt, and result.json outlives a replace.
  if (last.specHash !== t.specHash) return launch('replace', 'spec-changed', { previousSpecHash: last.specHash });
  const result = currentResult(rec);
  if (result && result.state !== 'failed') return { ...base, kind: 'noop', reason: 'finished' };
  if (last.state === 'succeeded' || last.state === 'stopped' || last.state === 'early-stopped') {
    // the attempt ended for good but result.json was never written (runner killed while finishing)
    return { ...base, kind: 'noop', reason: 'finished' };
  }
  // A stopped-for-time trial comes back interrupted (SIGTERM) or failed; launching it again
  // would only be stopped again on the next pass.
  const relaunch = (kind: ActionKind, reason: ActionReason, extra: Partial<Action> = {}): Action => {
    if (!overDuration()) return launch(kind, reason, extra);
    if (policy.onExceed === 'stop') return { ...base, kind: 'noop', reason: 'max-duration' };
    warnings.push(`trial ${t.id} has run longer than its maxDuration (onExceed: warn)`);
    return launch(kind, reason, extra);
  };
  if (last.state === 'failed' || result?.state === 'failed') {
    // a failed result.json over a status.json that never said so is one more failure
    const failures = h.failures + (last.state === 'failed' ? 0 : 1);
    return failures <= policy.retryOnFailure ? relaunch('retry', 'failed') : { ...base, kind: 'noop', reason: 'retries-exhausted' };
  }
  // interrupted, or an attempt that never ended and has nothing live: the node is gone
  const reason: ActionReason = last.state === 'interrupted' ? 'interrupted' : 'node-lost';
  if (h.interruptions > policy.retryOnInterruption) return { ...base, kind: 'noop', reason: 'interruptions-exhausted' };
  if (rec.checkpoint && policy.resume === 'auto') return relaunch('resume', reason, { resumeFromStep: rec.checkpoint.step });
  return relaunch('retry', reason === 'interrupted' ? 'interrupted-no-checkpoint' : 'node-lost');
}

/**
 * Marks an action as repairing drift when nodes of the trial's last attempt are gone while its
 * record says the attempt never ended: they vanished without trainctl or the runner knowing (a
 * process killed, an instance terminated). An attempt that ended (interrupted included) is history.
 */
function withDrift(a: Action, live: readonly ObservedResource[], rec: TrialRecord | undefined, gone: readonly GoneResource[]): Action {
  const last = rec?.attempts.at(-1);
  if (live.length > 0 || !last || isTerminalAttempt(last)) return a;
  const lost = gone.filter((g) => g.attempt === last.n).sort((x, y) => x.nodeRank - y.nodeRank || compare(x.id, y.id));
  return lost.length ? { ...a, drift: lost.map((g) => `node ${g.id} is gone (${g.detail})`) } : a;
}

/** A digest of the observed world that ignores order (and heartbeat churn: steps, times, cost). */
export function observedDigest(observed: Observed): string {
  const resources = observed.resources.map((r) => `${r.provider}:${r.id}:${r.trial}:${r.specHash}:${r.state === 'stopping' ? 's' : 'l'}`).sort();
  const records = observed.records.map((r) => `${r.project}/${r.trial}:${r.specHash}:${r.result?.state ?? ''}:${r.attempts.map((a) => `${a.n}.${a.state}`).join(',')}:${r.checkpoint ? 'c' : ''}`).sort();
  return sha256(canonicalJson({ resources, records })).slice(0, 16);
}
