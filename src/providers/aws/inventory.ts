// The AWS reads and the one write behind `trainctl resources`: every instance of a region (managed
// or not) in one paged scan, live spot prices, and a terminate that re-reads each instance's tags
// right before TerminateInstances, so nothing without trainctl:managed=true is ever terminated.
import { DescribeInstancesCommand, DescribeSpotPriceHistoryCommand, TerminateInstancesCommand, type Filter } from '@aws-sdk/client-ec2';
import { ExitError } from '../../core/errors.js';
import type { InventoryInstance } from '../../core/insights.js';
import { withRetry } from '../../core/retry.js';
import { userFacing, type AwsClientPool } from './clients.js';
import { classifyAwsError, tagsOf, TAG, type InstanceDescription } from './model.js';

export { AwsClientPool } from './clients.js';

/** Every state that is still an instance (terminated ones are history, not inventory). */
const PRESENT = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

const throttled = <T>(fn: () => Promise<T>): Promise<T> =>
  withRetry(fn, { retries: 6, backoff: { baseMs: 300, maxMs: 8000, factor: 2, jitter: 0.5 }, isTransient: (e) => classifyAwsError(e) === 'throttled' });

function rethrow(err: unknown, what: string, region: string): never {
  if (err instanceof ExitError) throw err;
  const e = userFacing(err, `${what} in ${region}`);
  if (e instanceof ExitError) throw e;
  throw new ExitError(`${what} in ${region} failed: ${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`, 1, 'check your AWS credentials, region and network');
}

/**
 * Every present instance of the region, one paged DescribeInstances scan (1,000 per page):
 * only the managed ones with `managedOnly`, else all (insights needs the untagged ones too).
 */
export async function scanRegion(pool: AwsClientPool, region: string, opts: { managedOnly: boolean }): Promise<InstanceDescription[]> {
  const c = pool.for(region);
  const Filters: Filter[] = [{ Name: 'instance-state-name', Values: PRESENT }];
  if (opts.managedOnly) Filters.push({ Name: `tag:${TAG.managed}`, Values: ['true'] });
  const out: InstanceDescription[] = [];
  let NextToken: string | undefined;
  try {
    do {
      const page = await throttled(() => c.ec2.send(new DescribeInstancesCommand({ Filters, MaxResults: 1000, NextToken })));
      for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    rethrow(err, 'DescribeInstances', region);
  }
  return out;
}

/** An instance description as `resources` sees it: identity from the tags, market from InstanceLifecycle. */
export function toInventory(i: InstanceDescription, region: string): InventoryInstance {
  const tags = tagsOf(i);
  const int = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const launched = i.LaunchTime instanceof Date ? i.LaunchTime.toISOString() : new Date(String(i.LaunchTime ?? 0)).toISOString();
  const managed = tags[TAG.managed] === 'true';
  const opt = <K extends string>(k: K, v: string | number | undefined) => (v === undefined || v === '' ? {} : { [k]: v });
  return {
    id: i.InstanceId ?? '',
    region,
    ...opt('az', i.Placement?.AvailabilityZone),
    state: i.State?.Name ?? 'unknown',
    instanceType: i.InstanceType ?? 'unknown',
    market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    launchedAt: launched,
    ...opt('name', tags.Name),
    managed,
    ...(managed ? {
      ...opt('project', tags[TAG.project]), ...opt('job', tags[TAG.job]), ...opt('trial', tags[TAG.trial]), ...opt('specHash', tags[TAG.specHash]),
      ...opt('rank', int(tags[TAG.nodeRank])), ...opt('attempt', int(tags[TAG.attempt])),
    } : {}),
  };
}

/**
 * The current spot price (USD/h, Linux) of each type in the region, lowest across its zones, by
 * type and by `type@zone`. One paged DescribeSpotPriceHistory for all the types. Unknown types
 * are simply absent; a failure here leaves prices unknown rather than failing the listing.
 */
export async function liveSpotPrices(pool: AwsClientPool, region: string, types: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (types.length === 0) return out;
  const c = pool.for(region);
  let NextToken: string | undefined;
  try {
    do {
      const page = await throttled(() => c.ec2.send(new DescribeSpotPriceHistoryCommand({
        InstanceTypes: [...types] as never[], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(), MaxResults: 1000, NextToken,
      })));
      for (const p of page.SpotPriceHistory ?? []) {
        const usd = Number(p.SpotPrice);
        if (!p.InstanceType || !Number.isFinite(usd) || usd <= 0) continue;
        const zoneKey = `${p.InstanceType}@${p.AvailabilityZone ?? ''}`;
        if (!out.has(zoneKey)) out.set(zoneKey, usd);
        out.set(p.InstanceType, Math.min(out.get(p.InstanceType) ?? Infinity, usd));
      }
      NextToken = page.NextToken || undefined;
    } while (NextToken);
  } catch (err) {
    const e = userFacing(err, `DescribeSpotPriceHistory in ${region}`);
    if (e instanceof ExitError) throw e;
  }
  return out;
}

export interface TerminateOutcome {
  terminated: string[];
  /** Not terminated, with why: no managed tag (any more), already gone, or not found. */
  skipped: { id: string; why: string }[];
}

/**
 * Terminates those of `ids` that carry trainctl:managed=true at this moment: their tags are read
 * again right before TerminateInstances, and an instance whose tag is gone (or never was) is left
 * alone whatever the caller asked.
 */
export async function terminateManaged(pool: AwsClientPool, region: string, ids: readonly string[]): Promise<TerminateOutcome> {
  const c = pool.for(region);
  const outcome: TerminateOutcome = { terminated: [], skipped: [] };
  for (let at = 0; at < ids.length; at += 500) {
    const batch = ids.slice(at, at + 500);
    const seen = new Map<string, InstanceDescription>();
    try {
      for (const i of await describeIds(pool, region, batch)) if (i.InstanceId) seen.set(i.InstanceId, i);
    } catch (err) {
      rethrow(err, 'DescribeInstances', region);
    }
    const doomed: string[] = [];
    for (const id of batch) {
      const i = seen.get(id);
      if (!i) outcome.skipped.push({ id, why: 'not found' });
      else if (tagsOf(i)[TAG.managed] !== 'true') outcome.skipped.push({ id, why: 'no trainctl:managed=true tag: never terminated by trainctl' });
      else if (i.State?.Name === 'shutting-down' || i.State?.Name === 'terminated') outcome.skipped.push({ id, why: `already ${i.State.Name}` });
      else doomed.push(id);
    }
    if (doomed.length === 0) continue;
    try {
      const out = await throttled(() => c.ec2.send(new TerminateInstancesCommand({ InstanceIds: doomed })));
      outcome.terminated.push(...(out.TerminatingInstances ?? []).map((t) => t.InstanceId!).filter(Boolean));
    } catch (err) {
      rethrow(err, 'TerminateInstances', region);
    }
  }
  return outcome;
}

/** The descriptions of these ids; ids EC2 does not know (any more) are left out, not an error. */
async function describeIds(pool: AwsClientPool, region: string, ids: readonly string[]): Promise<InstanceDescription[]> {
  const c = pool.for(region);
  try {
    const out = await throttled(() => c.ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] })));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  } catch (err) {
    if (classifyAwsError(err) !== 'not-found') throw err;
    if (ids.length === 1) return [];
    // one unknown id fails the whole call: ask one by one
    return (await Promise.all(ids.map((id) => describeIds(pool, region, [id])))).flat();
  }
}
