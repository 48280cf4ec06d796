// The node price of each job's compute, for the plan's cost estimates: the user's prices.json
// first (a stated price wins), then the provider's own quote (free local nodes, live spot
// prices), then the built-in list-price table.
import type { JobPrice } from '../core/plan.js';
import { NO_PRICES, tablePrice } from '../core/prices.js';
import { loadPriceOverrides } from '../providers/price-file.js';
import type { Job } from '../spec/types.js';
import { providerFor, type Environment } from './observe.js';

export async function jobPrices(jobs: readonly Job[], env: Environment): Promise<Record<string, JobPrice>> {
  const overrides = loadPriceOverrides(env.home);
  const out: Record<string, JobPrice> = {};
  for (const job of jobs) {
    const compute = job.spec.compute;
    const user = overrides ? tablePrice(compute, overrides, NO_PRICES) : undefined;
    const quote = user ?? (await (await providerFor(compute.provider, env, jobs)).price(compute)) ?? tablePrice(compute, undefined);
    if (quote) out[`${job.project}/${job.name}`] = { usdPerHour: quote.usdPerHour, source: quote.source, asOf: quote.asOf };
  }
  return out;
}
