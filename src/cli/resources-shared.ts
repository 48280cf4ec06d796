// What the `resources` verbs share: which regions to look in, the optional specs (-f) and what
// their stores say about trials, the inventory with prices, the clock, and the number/money
// formats of the tables.
import { parseDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import { trialKey, type InventoryInstance, type TrialKnowledge } from '../core/insights.js';
import type { TrialRecord } from '../core/observed.js';
import { desiredOf } from '../engine/planning.js';
import { NO_PRICES, tablePrice } from '../core/prices.js';
import type { Job, ResolvedCompute } from '../spec/types.js';
import type { CommandContext } from './commands.js';
import { loadJobs, trainctlHome } from './shared.js';
import { runpodConfig } from '../providers/runpod/clients.js';

/** The `region` RunPod pods are listed under (providers/runpod/inventory.ts RUNPOD_REGION). */
const RUNPOD = 'runpod';

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export { clockOf } from './shared.js';

/** The specs given with -f (none is fine: `resources` works on the cloud alone). */
export function givenJobs(ctx: CommandContext): Job[] {
  if (!(ctx.values.file as string[] | undefined)?.length) return [];
  const { jobs, ok } = loadJobs(ctx);
  if (!ok) throw new ExitError('the given specs have errors (above)', 1, 'fix them, or leave -f out to look at the cloud alone');
  return jobs;
}

/**
 * --region (repeatable, or a comma list; `runpod` for RunPod pods); else the regions of the aws
 * specs and AWS_REGION / AWS_DEFAULT_REGION, and `runpod` when a RunPod key is configured.
 */
export function regionsOf(ctx: CommandContext, jobs: readonly Job[]): string[] {
  const given = ((ctx.values.region as string[] | undefined) ?? []).flatMap((r) => r.split(',')).map((r) => r.trim()).filter(Boolean);
  for (const r of given) {
    if (r !== RUNPOD && !REGION.test(r)) throw new ExitError(`--region ${JSON.stringify(r)} is not an AWS region name`, 1, 'e.g. --region us-east-1,eu-west-1');
  }
  const regions = given.length ? given : [
    ...jobs.flatMap((j) => (j.spec.compute.provider === 'aws' && j.spec.compute.region ? [j.spec.compute.region] : [])),
    ...[ctx.env.AWS_REGION, ctx.env.AWS_DEFAULT_REGION].filter((r): r is string => Boolean(r)),
    // pods only where a RunPod key is configured: without one they are skipped, silently
    ...(runpodConfig(ctx.env).apiKey ? [RUNPOD] : []),
  ];
  const unique = [...new Set(regions)];
  if (unique.length === 0) {
    throw new ExitError('no AWS region to look in', 1, 'pass --region us-east-1 (repeatable or a comma list), -f with an aws spec that sets compute.region, or export AWS_REGION');
  }
  return unique;
}

/** --max-age / --heartbeat-timeout: `24h`, `15m`, `1h30m`, `2d`. */
export function durationOption(ctx: CommandContext, flag: string): number | undefined {
  const raw = ctx.values[flag] as string | undefined;
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined || ms <= 0) throw new ExitError(`--${flag} ${JSON.stringify(raw)} is not a duration`, 1, 'write it like 15m, 24h, 1h30m or 2d');
  return ms;
}

/**
 * Every present instance of the regions (managed only, or all), each with its hourly price when
 * known, in the order the plan's estimates use: the user's prices.json, the live spot price (spot
 * instances), the built-in list-price table.
 */
export async function readInventory(ctx: CommandContext, regions: readonly string[], opts: { managedOnly: boolean }): Promise<InventoryInstance[]> {
  const { AwsClientPool, scanRegion, toInventory, liveSpotPrices } = await import('../providers/aws/inventory.js');
  const { loadPriceOverrides } = await import('../providers/price-file.js');
  const overrides = loadPriceOverrides(trainctlHome(ctx.env), ctx.env);
  const pool = new AwsClientPool(ctx.env);
  const perRegion = await Promise.all(regions.filter((r) => r !== RUNPOD).map(async (region) => {
    const instances = (await scanRegion(pool, region, opts)).map((i) => toInventory(i, region));
    const spotTypes = [...new Set(instances.filter((i) => i.market === 'spot').map((i) => i.instanceType))].sort();
    const spot = await liveSpotPrices(pool, region, spotTypes);
    return instances.map((i): InventoryInstance => {
      const compute = { provider: 'aws', region, instanceType: i.instanceType, market: i.market, volumeGiB: 0 } as ResolvedCompute;
      const user = overrides ? tablePrice(compute, overrides, NO_PRICES) : undefined;
      if (user) return { ...i, price: { usdPerHour: user.usdPerHour, source: 'user' } };
      const live = i.market === 'spot' ? spot.get(`${i.instanceType}@${i.az ?? ''}`) ?? spot.get(i.instanceType) : undefined;
      if (live !== undefined) return { ...i, price: { usdPerHour: live, source: 'spot-live' } };
      const listed = tablePrice(compute, undefined);
      return listed ? { ...i, price: { usdPerHour: listed.usdPerHour, source: 'table' } } : i;
    });
  }));
  if (!regions.includes(RUNPOD)) return perRegion.flat();
  // pods are priced at what RunPod bills them now (costPerHr), unless prices.json says otherwise
  const { scanPods } = await import('../providers/runpod/inventory.js');
  const pods = (await scanPods(ctx.env, opts)).map((i): InventoryInstance => {
    const [, count, gpuType] = /^(\d+)x (.*)$/.exec(i.instanceType) ?? [];
    const compute = { provider: 'runpod', gpuType, gpuCount: Number(count), interruptible: i.market === 'spot', cloudType: 'ALL' } as ResolvedCompute;
    const user = overrides ? tablePrice(compute, overrides, NO_PRICES) : undefined;
    if (user) return { ...i, price: { usdPerHour: user.usdPerHour, source: 'user' } };
    const listed = i.price ? undefined : tablePrice(compute, undefined);
    return listed ? { ...i, price: { usdPerHour: listed.usdPerHour, source: 'table' } } : i;
  });
  return [...perRegion.flat(), ...pods];
}

/** The trials the given specs want and the records their stores hold (each job read from its own store). */
export async function trialKnowledge(jobs: readonly Job[]): Promise<TrialKnowledge> {
  const { trials } = desiredOf(jobs);
  const { openRunStore } = await import('../store/open.js');
  const reads = new Map<string, Promise<TrialRecord[]>>();
  const records = new Map<string, TrialRecord>();
  for (const job of jobs) {
    const uri = job.spec.output.uri;
    const key = `${uri}\0${job.project}`;
    if (!reads.has(key)) {
      reads.set(key, (async () => {
        const store = await openRunStore(uri);
        if ('error' in store) throw new ExitError(store.error, 1, store.hint);
        return store.readRecords(job.project);
      })());
    }
    for (const r of await reads.get(key)!) if (r.job === job.name) records.set(trialKey(r.project, r.job, r.trial), r);
  }
  return {
    projects: new Set(jobs.map((j) => j.project)),
    jobs: new Set(jobs.map((j) => `${j.project}/${j.name}`)),
    trials: new Set(trials.map((t) => trialKey(t.project, t.job, t.id))),
    records,
  };
}

export const usd = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `$${n < 10 ? n.toFixed(4) : n.toFixed(2)}`);
export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
