// apply: carries a Plan out as a listr2 task graph (launches in parallel), refusing a plan whose
// world or specs moved since it was made; and `--wait`, which keeps reconciling (plan → apply)
// until every trial has settled. Every action is idempotent: providers claim per (trial, attempt,
// rank) and the runner claims (attempt, rank) in the store, so a re-run never launches twice.
import { Listr } from 'listr2';
import { ExitError } from '../core/errors.js';
import type { ObservedResource, ProviderName, TrialRecord } from '../core/observed.js';
import { CHANGING_KINDS, hasChanges, type Action, type Plan, type PlanOptions } from '../core/plan.js';
import type { Provider } from '../providers/provider.js';
import { formatParameters, reasonText } from '../render/plan-text.js';
import { readTrialReport, type TrialReport } from '../store/report.js';
import type { Job, Trial } from '../spec/types.js';
import { launchRequest } from './launch.js';
import { providerFor, type Environment } from './observe.js';
import { planJobs, type PlanResult } from './planning.js';

/** Actions launched or terminated at once; each launch copies code and starts a process. */
const CONCURRENCY = 16;

export interface PlanDigests { observedDigest: string; desiredDigest: string }

/**
 * Plans again against the world as it is now and refuses when it differs from the one `saved`
 * was made from: applying a plan for another world could start a trial twice or stop the wrong one.
 */
export async function replanChecked(saved: PlanDigests, jobs: readonly Job[], env: Environment, options: PlanOptions, now: Date): Promise<PlanResult> {
  const fresh = await planJobs(jobs, env, options, now);
  if (fresh.desiredDigest !== saved.desiredDigest) {
    throw new ExitError('the plan is stale: the specs changed since it was made', 1, 'run `trainctl plan` again and apply the new plan');
  }
  if (fresh.plan.observedDigest !== saved.observedDigest) {
    throw new ExitError('the plan is stale: the world changed since it was made (trials started, ended or were stopped)', 1, 'run `trainctl plan` again and apply the new plan');
  }
  return fresh;
}

export type ActionOutcome =
  | { kind: 'launched'; action: Action; resources: string[] }
  | { kind: 'terminated'; action: Action; resources: string[] }
  /** No capacity now; `permanent` when waiting cannot help (more GPUs than the machine has). */
  | { kind: 'waiting'; action: Action; message: string; permanent: boolean }
  | { kind: 'failed'; action: Action; message: string };

export interface World {
  jobs: readonly Job[];
  trials: readonly Trial[];
  /** What the plan being applied was made from: the providers of the resources it stops. */
  resources: readonly ObservedResource[];
  /** The run records the plan was made from (interruptions so far steer the spot fallback). */
  records?: readonly TrialRecord[];
  env: Environment;
}

export interface ExecuteOptions {
  /** `default`: listr2's live task list (a terminal); `silent`: nothing, the caller reports outcomes. */
  renderer: 'default' | 'silent';
  onOutcome?(outcome: ActionOutcome): void;
}

const key = (project: string, trial: string) => `${project}/${trial}`;

/** Runs every changing action of the plan; an action that fails does not stop the others. */
export async function executePlan(plan: Plan, world: World, opts: ExecuteOptions): Promise<ActionOutcome[]> {
  const providers = new Map<ProviderName, Promise<Provider>>();
  const provider = (name: ProviderName) => {
    if (!providers.has(name)) providers.set(name, providerFor(name, world.env, world.jobs));
    return providers.get(name)!;
  };
  const jobs = new Map(world.jobs.map((j) => [key(j.project, j.name), j]));
  const trials = new Map(world.trials.map((t) => [key(t.project, t.id), t]));
  const resourceProvider = new Map(world.resources.map((r) => [r.id, r.provider]));
  const records = new Map((world.records ?? []).map((r) => [key(r.project, r.trial), r]));
  const outcomes: ActionOutcome[] = [];

  const terminate = async (a: Action): Promise<string[]> => {
    const ids = a.resources ?? [];
    const byProvider = new Map<ProviderName, string[]>();
    for (const id of ids) {
      const name = resourceProvider.get(id) ?? jobs.get(key(a.project, a.job))?.spec.compute.provider ?? 'local';
      byProvider.set(name, [...(byProvider.get(name) ?? []), id]);
    }
    await Promise.all([...byProvider].map(async ([name, list]) => {
      const p = await provider(name);
      if (!p.terminate) throw new ExitError(`provider "${name}" cannot stop resources in this version of trainctl`);
      await p.terminate(list);
    }));
    return ids;
  };

  const run = async (a: Action): Promise<ActionOutcome> => {
    if (a.kind === 'stop' || a.kind === 'delete') return { kind: 'terminated', action: a, resources: await terminate(a) };
    const job = jobs.get(key(a.project, a.job));
    const trial = trials.get(key(a.project, a.trial));
    if (!job || !trial) throw new Error(`plan action for ${a.trial} names no trial of the loaded specs`);
    if (a.kind === 'replace' && a.resources?.length) await terminate(a);
    const p = await provider(job.spec.compute.provider);
    if (!p.launch) throw new ExitError(`provider "${p.name}" cannot launch in this version of trainctl`);
    const rec = records.get(key(a.project, a.trial));
    const interruptions = rec?.attempts.filter((x) => x.specHash === a.specHash && x.state === 'interrupted').length ?? 0;
    const outcome = await p.launch(launchRequest(job, trial, a, interruptions));
    if (outcome.kind === 'no-capacity') return { kind: 'waiting', action: a, message: outcome.message, permanent: outcome.permanent ?? false };
    return { kind: 'launched', action: a, resources: outcome.resources.map((r) => r.id) };
  };

  const changing = plan.actions.filter((a) => CHANGING_KINDS.has(a.kind));
  // listr2 keeps going past a failed task and only shows its message; a bug must still reach
  // bin.ts with its stack once the other actions are done
  const bugs: unknown[] = [];
  const list = new Listr(changing.map((a) => ({
    title: `${a.kind} ${a.trial}  ${formatParameters(a.parameters)}`.trimEnd(),
    task: async (_ctx: unknown, task: { title: string; skip(message?: string): void }) => {
      let outcome: ActionOutcome;
      try {
        outcome = await run(a);
      } catch (err) {
        if (!(err instanceof ExitError)) bugs.push(err);
        outcome = { kind: 'failed', action: a, message: err instanceof Error ? err.message : String(err) };
      }
      outcomes.push(outcome);
      opts.onOutcome?.(outcome);
      task.title = outcomeText(outcome);
      if (outcome.kind === 'waiting') task.skip(outcomeText(outcome));
      if (outcome.kind === 'failed') throw new Error(outcomeText(outcome));
    },
  })), {
    concurrent: CONCURRENCY,
    exitOnError: false,
    renderer: opts.renderer,
    registerSignalListeners: opts.renderer !== 'silent',
    rendererOptions: { collapseErrors: false, collapseSkips: false },
  });
  await list.run();
  if (bugs.length) throw bugs[0];
  return outcomes;
}

const PAST: Record<Action['kind'], string> = {
  create: 'created', resume: 'resumed', retry: 'retried', replace: 'replaced', stop: 'stopped', delete: 'deleted', wait: 'waiting', noop: 'unchanged',
};

/** One line per change, for the task list and for plain (CI) logs. */
export function outcomeText(o: ActionOutcome): string {
  const a = o.action;
  const attempt = a.attempt !== undefined && a.kind !== 'stop' && a.kind !== 'delete' ? ` (attempt ${a.attempt}${a.resumeFromStep !== undefined ? `, from step ${a.resumeFromStep}` : ''})` : '';
  switch (o.kind) {
    case 'launched': return `${PAST[a.kind]} ${a.trial}${attempt}`;
    case 'terminated': return `${PAST[a.kind]} ${a.trial} (${reasonText(a)})`;
    case 'waiting': return `waiting ${a.trial}: no capacity: ${o.message}`;
    case 'failed': return `failed to ${a.kind} ${a.trial}: ${o.message}`;
  }
}

// ---- progress: what each trial is doing, for `apply --wait` --------------------------------------

export type TrialPhase =
  | 'waiting' | 'launching' | 'starting' | 'running' | 'stopping'
  | 'succeeded' | 'stopped' | 'early-stopped' | 'failed' | 'halted' | 'cost-limit';

export interface TrialProgress {
  project: string;
  job: string;
  trial: string;
  parameters: Readonly<Record<string, string | number | boolean>>;
  phase: TrialPhase;
  /** Nothing more happens to it unless the spec or the limits change. */
  settled: boolean;
  /** Settled as a failure: no retries left, or it can never be launched here. */
  failed: boolean;
  attempt?: number;
  step?: number;
  /** The job's objective metric, or `loss`, latest value (final for finished trials). */
  metric?: { name: string; value: number };
  elapsedMs?: number;
  note?: string;
  report: TrialReport;
}

/** The metric progress and summaries show: the job's objective, else `loss` when there is one. */
export function shownMetric(job: Job | undefined, report: TrialReport): { name: string; goal: 'minimize' | 'maximize' } | undefined {
  const objective = job?.spec.metrics.objective;
  if (objective) return { name: objective.metric, goal: objective.goal ?? 'minimize' };
  const known = { ...report.result?.finalMetrics, ...report.latest };
  return 'loss' in known ? { name: 'loss', goal: 'minimize' } : undefined;
}

export async function progressOf(pr: PlanResult, outcomes: readonly ActionOutcome[], jobs: readonly Job[], now: Date): Promise<TrialProgress[]> {
  const jobByKey = new Map(jobs.map((j) => [key(j.project, j.name), j]));
  const records = new Map(pr.observed.records.map((r) => [key(r.project, r.trial), r]));
  const live = new Map<string, ObservedResource[]>();
  for (const r of pr.observed.resources) live.set(key(r.project, r.trial), [...(live.get(key(r.project, r.trial)) ?? []), r]);
  const outcomeOf = new Map(outcomes.map((o) => [key(o.action.project, o.action.trial), o]));

  return Promise.all(pr.plan.actions.map(async (a): Promise<TrialProgress> => {
    const job = jobByKey.get(key(a.project, a.job));
    const rec = records.get(key(a.project, a.trial));
    const last = rec?.attempts.at(-1);
    const resources = live.get(key(a.project, a.trial)) ?? [];
    const report = job ? await readTrialReport(job.spec.output.uri, { project: a.project, job: a.job, trial: a.trial }) : { latest: {} };
    const p: TrialProgress = { project: a.project, job: a.job, trial: a.trial, parameters: a.parameters, phase: 'waiting', settled: false, failed: false, report };
    const set = (phase: TrialPhase, extra: Partial<TrialProgress> = {}) => Object.assign(p, { phase }, extra);

    switch (a.kind) {
      case 'noop':
        if (a.reason === 'running') set(last && resources.some((r) => r.attempt === last.n) && last.state === 'running' ? 'running' : 'starting');
        else if (a.reason === 'finished') {
          const why = report.result?.stopReason === 'cost-limit' ? 'its job reached limits.costUSD' : report.result?.stopReason === 'max-duration' ? 'ran its whole limits.maxDuration' : undefined;
          set(report.result?.state ?? rec?.result?.state ?? (last?.state as TrialPhase | undefined) ?? 'succeeded', { settled: true, ...(why ? { note: why } : {}) });
        }
        else if (a.reason === 'retries-exhausted') {
          // the runner leaves result.json to the planner's verdict; the attempt's status has the exit code
          const code = report.result?.exitCode ?? last?.exitCode;
          set('failed', { settled: true, failed: true, note: code !== undefined ? `exit code ${code}` : reasonText(a) });
        }
        else if (a.reason === 'interruptions-exhausted') set('failed', { settled: true, failed: true, note: reasonText(a) });
        // a trial that had run was stopped by the halt; one that never ran was not run
        else if (a.reason === 'halted-on-failure') set(rec?.attempts.length ? 'stopped' : 'halted', { settled: true, note: reasonText(a) });
        else set('stopped', { settled: true, note: reasonText(a) });
        break;
      case 'wait':
        if (a.reason === 'cost-limit') set('cost-limit', { settled: true, note: reasonText(a) });
        else set('waiting', { note: reasonText(a) });
        break;
      case 'stop': case 'delete':
        set('stopping', { note: reasonText(a) });
        break;
      default: {
        const o = outcomeOf.get(key(a.project, a.trial));
        if (o?.kind === 'waiting') set('waiting', { note: `no capacity: ${o.message}`, ...(o.permanent ? { settled: true, failed: true } : {}) });
        else if (o?.kind === 'failed') set('failed', { note: o.message });
        else set(o ? 'starting' : 'launching', { attempt: a.attempt!, note: reasonText(a) });
      }
    }
    if (p.attempt === undefined) {
      const n = Math.max(0, ...resources.map((r) => r.attempt), p.settled ? (last?.n ?? 0) : 0);
      if (n > 0) p.attempt = n;
    }
    const step = report.step ?? (p.phase === 'running' || p.settled ? last?.step : undefined);
    if (step !== undefined) p.step = step;
    const metric = shownMetric(job, report);
    const value = metric && (p.settled ? report.result?.finalMetrics?.[metric.name] ?? report.latest[metric.name] : report.latest[metric.name]);
    if (metric && value !== undefined) p.metric = { name: metric.name, value };
    if (p.settled && report.result) p.elapsedMs = report.result.durationMs;
    else if (p.settled && rec) p.elapsedMs = rec.attempts.filter((x) => x.specHash === a.specHash).reduce((ms, x) => ms + Math.max(0, Date.parse(x.updatedAt) - Date.parse(x.startedAt)), 0);
    else if (resources.length) p.elapsedMs = Math.max(0, now.getTime() - Math.min(...resources.map((r) => Date.parse(r.launchedAt))));
    return p;
  }));
}

export interface WaitOptions {
  jobs: readonly Job[];
  trials: readonly Trial[];
  env: Environment;
  options: PlanOptions;
  intervalMs: number;
  /** The plan of the first pass, already shown (and confirmed). */
  first: PlanResult;
  /** Renderer of each pass's task graph. */
  renderer: 'default' | 'silent';
  onOutcome?(outcome: ActionOutcome): void;
  onProgress(progress: TrialProgress[]): void;
  /** Before every pass: throws to stop launching (the apply lock was lost). */
  beforePass?(): void;
  /** For tests and the final summary. */
  clock?: () => Date;
}

export interface WaitResult {
  last: PlanResult;
  progress: TrialProgress[];
  /** Actions that failed (not no-capacity): the loop stops at the first pass that has any. */
  failures: ActionOutcome[];
}

/**
 * Reconciles until every trial has settled: each pass plans against the world as it is and carries
 * out the changes (launching trials as slots free, resuming interrupted ones).
 */
export async function applyUntilSettled(o: WaitOptions): Promise<WaitResult> {
  const clock = o.clock ?? (() => new Date());
  let pr = o.first;
  for (;;) {
    o.beforePass?.();
    const outcomes = hasChanges(pr.plan)
      ? await executePlan(pr.plan, { jobs: o.jobs, trials: pr.trials, resources: pr.observed.resources, records: pr.observed.records, env: o.env }, { renderer: o.renderer, ...(o.onOutcome ? { onOutcome: o.onOutcome } : {}) })
      : [];
    const progress = await progressOf(pr, outcomes, o.jobs, clock());
    o.onProgress(progress);
    const failures = outcomes.filter((x) => x.kind === 'failed');
    // a trial just launched or being stopped is never settled, so this waits for them
    if (failures.length || progress.every((p) => p.settled)) return { last: pr, progress, failures };
    await new Promise((r) => setTimeout(r, o.intervalMs));
    pr = await planJobs(o.jobs, o.env, o.options, clock());
  }
}
