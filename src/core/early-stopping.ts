// The median stopping rule (metrics.earlyStopping): whether a trial has fallen behind its peers.
// Pure: the runner reads the series from the store and acts on the verdict.

/** One trial's objective values, ascending by step. */
export type Series = readonly { step: number; value: number }[];

export interface EarlyStoppingRule {
  rule: 'median';
  /** Peers that must have reached step s before the rule judges a trial at s. */
  minTrials: number;
  /** No trial is judged before this step. */
  startStep: number;
}

export type EarlyStoppingVerdict =
  | { stop: true; step: number; value: number; median: number; peers: number }
  /** `step` is where it was judged; undefined when no step qualified. */
  | { stop: false; step?: number; value?: number; median?: number; peers?: number };

/** The latest value at or before `step`, or undefined when the series starts after it. */
export function valueAt(series: Series, step: number): number | undefined {
  let v: number | undefined;
  for (const p of series) {
    if (p.step > step) break;
    v = p.value;
  }
  return v;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Judges `own` at the latest of its steps s ≥ startStep that at least minTrials peers have
 * reached (a peer reached s when its last step is ≥ s); a peer's value at s is its latest value
 * at or before s. The trial is stopped when its own value at s is worse than the median of those
 * peers' values: higher when minimizing, lower when maximizing; equal to the median is not worse.
 * Judging at the latest such step, rather than only at the trial's newest step, lets a trial
 * that runs ahead of its peers be judged where they have caught up.
 */
export function medianStoppingVerdict(rule: EarlyStoppingRule, goal: 'minimize' | 'maximize', own: Series, peers: readonly Series[]): EarlyStoppingVerdict {
  const reached = peers.filter((p) => p.length > 0).map((p) => ({ series: p, last: p.at(-1)!.step }));
  for (let i = own.length - 1; i >= 0; i--) {
    const { step, value } = own[i]!;
    if (step < rule.startStep) break;
    const values = reached.filter((p) => p.last >= step).map((p) => valueAt(p.series, step)).filter((v): v is number => v !== undefined);
    if (values.length < rule.minTrials) continue;
    const m = median(values);
    const worse = goal === 'minimize' ? value > m : value < m;
    return worse ? { stop: true, step, value, median: m, peers: values.length } : { stop: false, step, value, median: m, peers: values.length };
  }
  return { stop: false };
}
