// destroy: stops live trials gracefully (the runner forwards SIGTERM, waits for the final
// checkpoint and uploads it) and then records them as `stopped`, so later plans leave them be.
// Checkpoints and run records are kept.
import { summarizeMetrics } from '../core/metrics.js';
import type { Observed, ObservedResource } from '../core/observed.js';
import type { Action, Plan } from '../core/plan.js';
import { openRunStore } from '../store/open.js';
import type { Job, Trial } from '../spec/types.js';
import { executePlan, type ActionOutcome } from './apply.js';
import type { Environment } from './observe.js';

const key = (project: string, trial: string) => `${project}/${trial}`;

/**
 * One stop action per live trial of the jobs (their trials in the specs, and live ones of the same
 * jobs that the specs no longer name), limited to `only` when given. Pure.
 */
export function destroyActions(jobs: readonly Job[], trials: readonly Trial[], observed: Observed, only?: ReadonlySet<string>): Action[] {
  const jobKeys = new Set(jobs.map((j) => `${j.project}/${j.name}`));
  const params = new Map(trials.map((t) => [key(t.project, t.id), t]));
  const live = new Map<string, ObservedResource[]>();
  for (const r of observed.resources) {
    if (!jobKeys.has(`${r.project}/${r.job}`) || (only && !only.has(r.trial))) continue;
    const k = key(r.project, r.trial);
    live.set(k, [...(live.get(k) ?? []), r]);
  }
  return [...live.values()].map((rs) => {
    const r = rs[0]!;
    const t = params.get(key(r.project, r.trial));
    return {
      kind: 'stop', reason: 'destroyed', project: r.project, job: r.job, trial: r.trial,
      parameters: t?.parameters ?? {}, specHash: r.specHash, resources: rs.map((x) => x.id).sort(),
    } satisfies Action;
  }).sort((a, b) => (a.trial < b.trial ? -1 : 1));
}

export async function destroy(actions: readonly Action[], jobs: readonly Job[], observed: Observed, env: Environment, onOutcome?: (o: ActionOutcome) => void): Promise<ActionOutcome[]> {
  const plan: Plan = {
    formatVersion: 1, createdAt: new Date().toISOString(), options: { prune: false }, actions: [...actions], warnings: [], jobs: [],
    summary: { create: 0, resume: 0, retry: 0, replace: 0, stop: actions.length, delete: 0, wait: 0, noop: 0 }, observedDigest: '',
  };
  const outcomes = await executePlan(plan, { jobs, trials: [], resources: observed.resources, env }, { renderer: 'silent', ...(onOutcome ? { onOutcome } : {}) });
  const byJob = new Map(jobs.map((j) => [`${j.project}/${j.name}`, j]));
  await Promise.all(outcomes.filter((o) => o.kind === 'terminated').map((o) => markStopped(byJob.get(`${o.action.project}/${o.action.job}`)!, o.action)));
  return outcomes;
}

/** Writes result.json `stopped` for a trial whose last attempt did not end for good by itself. */
async function markStopped(job: Job, a: Action): Promise<void> {
  const store = await openRunStore(job.spec.output.uri);
  if ('error' in store) return;
  const ref = { project: a.project, job: a.job, trial: a.trial };
  const rec = await store.readTrial(ref);
  const last = rec?.attempts.at(-1);
  if (!rec || !last || last.state === 'succeeded' || last.state === 'failed') return;
  const attempts = rec.attempts.filter((x) => x.specHash === last.specHash);
  const ours = new Set(attempts.map((x) => x.n));
  const objective = job.spec.metrics.objective;
  const summary = summarizeMetrics(
    (await store.readMetrics(ref)).filter((p) => ours.has(p.attempt)),
    objective ? { metric: objective.metric, goal: objective.goal ?? 'minimize' } : undefined,
  );
  await store.writeResult(ref, {
    state: 'stopped', specHash: last.specHash, finishedAt: new Date().toISOString(), attempt: last.n,
    durationMs: attempts.reduce((s, x) => s + Math.max(0, Date.parse(x.updatedAt) - Date.parse(x.startedAt)), 0),
    costUSD: attempts.reduce((s, x) => s + x.costUSD, 0),
    ...summary,
  });
}
