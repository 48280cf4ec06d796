// Where each trial stands, derived from the plan (what apply would do next) and the observed
// world (live resources, run records). Pure: `trainctl status` and apply's progress render it.
import type { AttemptRecord, Observed, TrialRecord } from './observed.js';
import type { Action, Plan } from './plan.js';

export type TrialState =
  | 'pending'      // wanted, never launched, and apply would launch it now
  | 'waiting'      // wanted, held back (maxParallel, cost limit)
  | 'starting' | 'running'
  | 'succeeded' | 'failed' | 'stopped' | 'early-stopped'
  | 'interrupted'  // will be resumed or retried by the next apply
  | 'lost'         // its node vanished mid-attempt
  | 'orphaned';    // live, but in no spec

/** The order states are counted in on summary lines: what is moving first, how things ended last. */
export const TRIAL_STATE_ORDER: readonly TrialState[] = ['running', 'starting', 'pending', 'waiting', 'interrupted', 'lost', 'succeeded', 'early-stopped', 'stopped', 'failed', 'orphaned'];

export interface TrialStatus {
  project: string;
  job: string;
  trial: string;
  parameters: Readonly<Record<string, string | number | boolean>>;
  state: TrialState;
  attempt: number;
  step?: number;
  metrics: Record<string, number>;
  elapsedMs: number;
  costUSD: number;
  /** What the next apply would do, and why. */
  next: Pick<Action, 'kind' | 'reason'>;
}

export interface JobStatus {
  project: string;
  job: string;
  trials: TrialStatus[];
  costUSD: number;
  counts: Partial<Record<TrialState, number>>;
  best?: { trial: string; metric: string; value: number };
}

const key = (project: string, trial: string) => `${project}/${trial}`;

function stateOf(a: Action, rec: TrialRecord | undefined, live: boolean, last: AttemptRecord | undefined): TrialState {
  if (a.kind === 'delete' || (a.kind === 'stop' && a.reason === 'orphaned')) return 'orphaned';
  if (live) return last && last.state === 'starting' ? 'starting' : 'running';
  if (a.kind === 'wait') return rec?.attempts.length ? stateFromRecord(rec, last) : 'waiting';
  if (a.kind === 'create') return 'pending';
  if (!rec || !last) return 'pending';
  return stateFromRecord(rec, last);
}

function stateFromRecord(rec: TrialRecord, last: AttemptRecord | undefined): TrialState {
  if (rec.result && (!last || rec.result.specHash === last.specHash)) return rec.result.state;
  if (!last) return 'pending';
  if (last.state === 'starting' || last.state === 'running') return 'lost';
  return last.state;
}

function elapsed(rec: TrialRecord | undefined, specHash: string, now: Date, live: boolean): number {
  let ms = 0;
  for (const a of rec?.attempts ?? []) {
    if (a.specHash !== specHash) continue;
    const end = live && a === rec!.attempts.at(-1) ? now.getTime() : Date.parse(a.updatedAt);
    ms += Math.max(0, end - Date.parse(a.startedAt));
  }
  return ms;
}

export function trialStatuses(plan: Plan, observed: Observed, now: Date, objectives: ReadonlyMap<string, { metric: string; goal: 'minimize' | 'maximize' }> = new Map()): JobStatus[] {
  const records = new Map(observed.records.map((r) => [key(r.project, r.trial), r]));
  const live = new Set(observed.resources.map((r) => key(r.project, r.trial)));
  const jobs = new Map<string, JobStatus>();
  for (const a of plan.actions) {
    const jk = `${a.project}/${a.job}`;
    if (!jobs.has(jk)) jobs.set(jk, { project: a.project, job: a.job, trials: [], costUSD: 0, counts: {} });
    const job = jobs.get(jk)!;
    const rec = records.get(key(a.project, a.trial));
    const isLive = live.has(key(a.project, a.trial));
    const last = rec?.attempts.at(-1);
    const state = stateOf(a, rec, isLive, last);
    const metrics = { ...(rec?.result?.finalMetrics ?? {}), ...(last?.metrics ?? {}) };
    const cost = rec?.attempts.reduce((s, x) => s + x.costUSD, 0) ?? 0;
    job.trials.push({
      project: a.project, job: a.job, trial: a.trial, parameters: a.parameters, state,
      attempt: last?.n ?? 0,
      ...(last?.step !== undefined ? { step: last.step } : {}),
      metrics, elapsedMs: elapsed(rec, last?.specHash ?? a.specHash, now, isLive), costUSD: cost,
      next: { kind: a.kind, reason: a.reason },
    });
    job.costUSD += cost;
    job.counts[state] = (job.counts[state] ?? 0) + 1;
  }
  for (const job of jobs.values()) {
    const objective = objectives.get(`${job.project}/${job.job}`);
    if (!objective) continue;
    for (const t of job.trials) {
      const rec = records.get(key(t.project, t.trial));
      const value = rec?.result?.best?.metric === objective.metric ? rec.result.best.value : t.metrics[objective.metric];
      if (value === undefined) continue;
      const better = !job.best || (objective.goal === 'minimize' ? value < job.best.value : value > job.best.value);
      if (better) job.best = { trial: t.trial, metric: objective.metric, value };
    }
  }
  return [...jobs.values()];
}
