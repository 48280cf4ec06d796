// The aws provider (DESIGN §6): EC2 instances per node rank, started through SSM, known by their
// trainctl tags. Observation is one paged DescribeInstances scan per region, shared by every
// project observed in the same process.
import { DescribeInstancesCommand, DescribeSpotPriceHistoryCommand } from '@aws-sdk/client-ec2';
import { ExitError } from '../../core/errors.js';
import { tablePrice } from '../../core/prices.js';
import type { GoneResource, ObservedResource } from '../../core/observed.js';
import type { ResolvedCompute } from '../../spec/types.js';
import type { LaunchOutcome, LaunchRequest, PriceQuote, ProviderLauncher, ProviderObserver } from '../provider.js';
import { runnerScript } from '../local/launch.js';
import { AwsClientPool, defaultRegion, userFacing } from './clients.js';
import { toGone } from './gone.js';
import { DEFAULT_TIMING, launchAws, stopAndTerminate, type AwsTiming } from './launch.js';
import { bootstrapLost, TAG, toResource, type InstanceDescription, type Market } from './model.js';

/** Timing overrides for tests and the emulator: TRAINCTL_AWS_POLL_MS, TRAINCTL_AWS_BOOT_TIMEOUT_MS, TRAINCTL_AWS_STOP_TIMEOUT_MS. */
function timingFrom(env: NodeJS.ProcessEnv): AwsTiming {
  const num = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) ? Number(v) : d);
  return {
    pollMs: num(env.TRAINCTL_AWS_POLL_MS, DEFAULT_TIMING.pollMs),
    bootTimeoutMs: num(env.TRAINCTL_AWS_BOOT_TIMEOUT_MS, DEFAULT_TIMING.bootTimeoutMs),
    stopTimeoutMs: num(env.TRAINCTL_AWS_STOP_TIMEOUT_MS, DEFAULT_TIMING.stopTimeoutMs),
  };
}

/**
 * Every managed instance in one region, one paged scan: the live ones (pending, running, going)
 * for observe, and the terminated ones EC2 still lists (about an hour) for drift.
 */
export async function scanManaged(pool: AwsClientPool, region: string | undefined): Promise<InstanceDescription[]> {
  const c = pool.for(region);
  const out: InstanceDescription[] = [];
  let NextToken: string | undefined;
  try {
    do {
      const page = await c.ec2.send(new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${TAG.managed}`, Values: ['true'] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'terminated'] },
        ],
        MaxResults: 1000, NextToken,
      }));
      for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    const e = userFacing(err, `DescribeInstances in ${c.region}`);
    if (e instanceof ExitError) throw e;
    throw new ExitError(`cannot list instances in ${c.region}: ${(err as Error).message}`, 1, 'check your AWS credentials, region and network');
  }
  return out;
}

export class AwsProvider implements ProviderObserver, ProviderLauncher {
  readonly name = 'aws' as const;
  private readonly pool: AwsClientPool;
  private readonly scans = new Map<string, Promise<InstanceDescription[]>>();
  /** Which region each instance id was seen or launched in, for terminate. */
  private readonly regionOf = new Map<string, string>();
  private readonly timing: AwsTiming;

  /** `regions`: the regions of the jobs in play (compute.region or the default region). */
  constructor(private readonly regions: readonly (string | undefined)[], private readonly env: NodeJS.ProcessEnv = process.env) {
    this.pool = new AwsClientPool(env);
    this.timing = timingFrom(env);
  }

  private regionList(): string[] {
    const list = [...new Set(this.regions.map((r) => r ?? defaultRegion(this.env)))];
    if (list.some((r) => r === undefined)) this.pool.for(undefined); // throws the one-line "no region" error
    return list as string[];
  }

  private scan(region: string): Promise<InstanceDescription[]> {
    let s = this.scans.get(region);
    if (!s) {
      s = scanManaged(this.pool, region);
      this.scans.set(region, s);
      s.catch(() => this.scans.delete(region));
    }
    return s;
  }

  async observe(project: string): Promise<ObservedResource[]> {
    const out: ObservedResource[] = [];
    const now = Date.now();
    for (const region of this.regionList()) {
      for (const i of await this.scan(region)) {
        const r = toResource(i);
        if (r && bootstrapLost(i, now, this.timing.bootTimeoutMs)) continue;
        if (!r || r.project !== project) continue;
        this.regionOf.set(r.id, region);
        out.push(r);
      }
    }
    return out;
  }

  /** Terminated instances of the project (drift; src/providers/aws/gone.ts). */
  // async: a missing region must reject the promise, never throw before the caller holds it
  async observeGone(project: string): Promise<GoneResource[]> {
    const out: GoneResource[] = [];
    for (const region of this.regionList()) {
      for (const i of await this.scan(region)) {
        const g = toGone(i);
        if (g && g.project === project) out.push(g);
      }
    }
    return out;
  }

  /**
   * The live spot price for `market: spot` without a bid; otherwise undefined, so the estimate
   * takes the table's worst case (the bid, or on-demand for spot-with-fallback).
   */
  async price(compute: ResolvedCompute): Promise<PriceQuote | undefined> {
    if (compute.provider !== 'aws' || compute.market !== 'spot' || compute.maxPricePerHour !== undefined) return undefined;
    const spot = await this.spotPrice(compute.region, compute.instanceType);
    return spot === undefined ? undefined : { usdPerHour: spot, source: 'live', asOf: new Date().toISOString() };
  }

  /** The lowest current spot price of a type across the region's zones, from DescribeSpotPriceHistory. */
  private async spotPrice(region: string | undefined, instanceType: string): Promise<number | undefined> {
    try {
      const out = await this.pool.for(region).ec2.send(new DescribeSpotPriceHistoryCommand({
        InstanceTypes: [instanceType as never], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(), MaxResults: 100,
      }));
      const prices = (out.SpotPriceHistory ?? []).map((p) => Number(p.SpotPrice)).filter((p) => Number.isFinite(p) && p > 0);
      return prices.length ? Math.min(...prices) : undefined;
    } catch {
      return undefined;
    }
  }

  async launch(req: LaunchRequest): Promise<LaunchOutcome> {
    if (req.compute.provider !== 'aws') throw new Error(`aws provider asked to launch ${req.compute.provider} compute`);
    const compute = req.compute;
    const clients = this.pool.for(compute.region);
    const outcome = await launchAws({
      clients,
      runnerPath: runnerScript(this.env),
      timing: this.timing,
      // what the node really costs, for the runner's spend accrual: the live spot price, or the
      // list price on-demand (0 when neither is known: spend is then under-reported, never blocked)
      price: async (market: Market) => (market === 'spot' ? await this.spotPrice(compute.region, compute.instanceType) : undefined)
        ?? tablePrice({ ...compute, market: 'on-demand' }, undefined)?.usdPerHour ?? 0,
    }, req);
    if (outcome.kind === 'launched') for (const r of outcome.resources) this.regionOf.set(r.id, clients.region);
    return outcome;
  }

  async terminate(ids: readonly string[]): Promise<void> {
    const byRegion = new Map<string, string[]>();
    for (const id of ids) {
      const region = this.regionOf.get(id) ?? this.regionList()[0]!;
      byRegion.set(region, [...(byRegion.get(region) ?? []), id]);
    }
    await Promise.all([...byRegion].map(([region, list]) => stopAndTerminate({ clients: this.pool.for(region), timing: this.timing }, list)));
  }
}
