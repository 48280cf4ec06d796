// Cost estimates: what a trial may still spend at worst (price × nodes × the maxDuration it has
// left), summed per job, against limits.costUSD. Pure; prices come from core/prices and providers.

/** USD, or 'unbounded' when nothing bounds the time a trial may run. */
export type CostBound = number | 'unbounded';

const HOUR_MS = 3_600_000;

/**
 * Worst case a trial may still spend: usdPerHour × nodes × (maxDuration − time already run), or
 * 'unbounded' without a maxDuration. Free compute costs nothing however long it runs.
 */
export function trialEstimateUSD(usdPerHour: number, nodes: number, maxDurationMs: number | undefined, elapsedMs = 0): CostBound {
  if (usdPerHour === 0) return 0;
  if (maxDurationMs === undefined) return 'unbounded';
  return (usdPerHour * nodes * Math.max(0, maxDurationMs - elapsedMs)) / HOUR_MS;
}

export function sumCost(values: readonly CostBound[]): CostBound {
  let total = 0;
  for (const v of values) {
    if (v === 'unbounded') return 'unbounded';
    total += v;
  }
  return total;
}

/** Spend of one job for a limit check, in trial order so that the float sum is stable. */
export interface JobCostEstimate {
  usdPerHour: number;
  nodes: number;
  /** limits.maxDuration; absent: unbounded. */
  maxDurationMs?: number;
  /** Where the price came from: a price table, the user's prices.json, a live quote, or free compute. */
  priceSource: 'table' | 'user' | 'live' | 'free';
  asOf: string;
  /** One trial from its start: usdPerHour × nodes × maxDuration. */
  perTrialUSD: CostBound;
  /** What the trials still to run (running, launching, waiting for a slot) may spend at worst. */
  remainingUSD: CostBound;
  /** Spent so far plus remainingUSD. */
  worstCaseUSD: CostBound;
  /** worstCaseUSD is above limits.costUSD and the plan launches or holds trials to launch. */
  overLimit: boolean;
}

export function jobCostEstimate(
  price: { usdPerHour: number; source: JobCostEstimate['priceSource']; asOf: string },
  nodes: number,
  maxDurationMs: number | undefined,
  spentUSD: number,
  remaining: readonly CostBound[],
  costLimitUSD: number | undefined,
  launches: boolean,
): JobCostEstimate {
  const remainingUSD = sumCost(remaining);
  const worstCaseUSD = remainingUSD === 'unbounded' ? 'unbounded' : spentUSD + remainingUSD;
  return {
    usdPerHour: price.usdPerHour, nodes, ...(maxDurationMs !== undefined ? { maxDurationMs } : {}), priceSource: price.source, asOf: price.asOf,
    perTrialUSD: trialEstimateUSD(price.usdPerHour, nodes, maxDurationMs),
    remainingUSD, worstCaseUSD,
    overLimit: launches && costLimitUSD !== undefined && worstCaseUSD !== 'unbounded' && worstCaseUSD > costLimitUSD + 1e-9,
  };
}

/** `$1.23`, `$0.0042` for amounts under a cent, or `unbounded`. */
export function formatCost(v: CostBound): string {
  if (v === 'unbounded') return 'unbounded';
  if (v > 0 && v < 0.01) return `$${v.toPrecision(2)}`;
  return `$${v.toFixed(2)}`;
}
