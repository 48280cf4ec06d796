// What observation returns: live resources (from providers) and run records (from the output
// store). Providers and stores produce these values; the planner only reads them.

export type ProviderName = 'local' | 'aws' | 'runpod';

/** A managed machine or process, identified by its trainctl tags. */
export interface ObservedResource {
  provider: ProviderName;
  /** Instance id, pod id, or local node id. */
  id: string;
  project: string;
  job: string;
  trial: string;
  specHash: string;
  nodeRank: number;
  attempt: number;
  state: 'pending' | 'running' | 'stopping';
  /** ISO time the resource was launched. */
  launchedAt: string;
}

export type AttemptState = 'starting' | 'running' | 'succeeded' | 'failed' | 'interrupted' | 'stopped' | 'early-stopped';

/** One attempt's heartbeat, `attempts/<n>/status.json`. */
export interface AttemptRecord {
  n: number;
  specHash: string;
  state: AttemptState;
  step?: number;
  startedAt: string;
  updatedAt: string;
  costUSD: number;
  exitCode?: number;
  /** Latest value of each metric the runner has seen. */
  metrics?: Record<string, number>;
}

export type FinalState = 'succeeded' | 'stopped' | 'early-stopped' | 'failed';

/** Everything the store holds about one trial. */
export interface TrialRecord {
  project: string;
  job: string;
  trial: string;
  /** specHash of the trial's latest spec.json. */
  specHash: string;
  /** Ascending by n. */
  attempts: AttemptRecord[];
  /** result.json: present once the trial has ended for good. */
  result?: { state: FinalState; specHash: string; finishedAt: string; exitCode?: number; finalMetrics?: Record<string, number>; best?: { metric: string; value: number; step?: number } };
  /** The newest checkpoint with a MANIFEST (LATEST pointer). */
  checkpoint?: { step: number };
}

/**
 * A node that existed and is gone without trainctl stopping it: a local runner whose process is not
 * running, a cloud instance terminated. Only drift is read off it; it holds no slot and no cost.
 */
export interface GoneResource extends Omit<ObservedResource, 'state' | 'launchedAt'> {
  /** Why it is gone, in words: `process 1234 not running`, `instance i-0abc terminated (…)`. */
  detail: string;
}

export interface Observed {
  resources: ObservedResource[];
  records: TrialRecord[];
  /** Gone nodes the providers still know of (drift); absent where none can tell. */
  gone?: GoneResource[];
}

export const emptyObserved = (): Observed => ({ resources: [], records: [] });
