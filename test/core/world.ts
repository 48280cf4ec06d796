// Small observed/desired worlds for planner tests: one project `lab`, job `sweep`, specHash `h1`
// and a fixed clock unless a test says otherwise.
import type { AttemptRecord, AttemptState, ObservedResource, TrialRecord } from '../../src/core/observed.js';
import type { DesiredTrial, JobPolicy } from '../../src/core/plan.js';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
/** ISO time `min` minutes before NOW. */
export const ago = (min: number) => new Date(NOW.getTime() - min * 60_000).toISOString();

export function policy(over: Partial<JobPolicy> = {}): JobPolicy {
  return { project: 'lab', job: 'sweep', maxParallel: 10, stopOnFailure: false, retryOnFailure: 1, retryOnInterruption: 3, resume: 'auto', onExceed: 'stop', ...over };
}

/** Trial `<job>-<name>` with specHash `h1` unless told. */
export function trial(name: string, index: number, over: Partial<DesiredTrial> = {}): DesiredTrial {
  const job = over.job ?? 'sweep';
  return { id: `${job}-${name}`, job, project: 'lab', index, parameters: { lr: index }, specHash: 'h1', ...over };
}

export function res(trialId: string, over: Partial<ObservedResource> = {}): ObservedResource {
  const job = trialId.slice(0, trialId.lastIndexOf('-'));
  return { provider: 'local', id: `i-${trialId}-${over.nodeRank ?? 0}`, project: 'lab', job, trial: trialId, specHash: 'h1', nodeRank: 0, attempt: 1, state: 'running', launchedAt: ago(30), ...over };
}

export function att(n: number, state: AttemptState, over: Partial<AttemptRecord> = {}): AttemptRecord {
  return { n, specHash: 'h1', state, startedAt: ago(100 - n * 10), updatedAt: ago(95 - n * 10), costUSD: 0, ...over };
}

export function rec(trialId: string, attempts: AttemptRecord[], over: Partial<TrialRecord> = {}): TrialRecord {
  const job = trialId.slice(0, trialId.lastIndexOf('-'));
  return { project: 'lab', job, trial: trialId, specHash: attempts.at(-1)?.specHash ?? 'h1', attempts, ...over };
}

