// The runpod provider (DESIGN §6): one pod per trial attempt, on demand or interruptible, the
// runner started by the pod's start command, known by its name and env labels. Observation is one
// REST pod listing per process, shared by every project observed in it.
import { tablePrice } from '../../core/prices.js';
import type { GoneResource, ObservedResource } from '../../core/observed.js';
import type { ResolvedCompute } from '../../spec/types.js';
import type { LaunchOutcome, LaunchRequest, PriceQuote, ProviderGoneObserver, ProviderLauncher, ProviderObserver } from '../provider.js';
import { runnerScript } from '../local/launch.js';
import { RunpodApi, userFacing } from './clients.js';
import { DEFAULT_TIMING, launchRunpod, listPods, stopAndDelete, type RunpodTiming } from './launch.js';
import { gpuTypesOf, toGone, toResource, worstCasePrice, type GpuTypePrice, type Offer, type PodDescription } from './model.js';

/** Timing overrides for tests and the emulator: TRAINCTL_RUNPOD_POLL_MS, TRAINCTL_RUNPOD_STOP_TIMEOUT_MS. */
function timingFrom(env: NodeJS.ProcessEnv): RunpodTiming {
  const num = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) ? Number(v) : d);
  return {
    pollMs: num(env.TRAINCTL_RUNPOD_POLL_MS, DEFAULT_TIMING.pollMs),
    stopTimeoutMs: num(env.TRAINCTL_RUNPOD_STOP_TIMEOUT_MS, DEFAULT_TIMING.stopTimeoutMs),
  };
}

const GPU_TYPES = `query trainctlGpuTypes($gpuCount: Int!) {
  gpuTypes { id displayName memoryInGb securePrice communityPrice lowestPrice(input: { gpuCount: $gpuCount }) { minimumBidPrice uninterruptablePrice stockStatus } }
}`;

interface GpuTypeAnswer {
  gpuTypes?: { id?: string; securePrice?: number | null; communityPrice?: number | null; lowestPrice?: { minimumBidPrice?: number | null; uninterruptablePrice?: number | null; stockStatus?: string | null } | null }[];
}

const num = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);

/** The live price figures of every GPU type for pods of `gpuCount` GPUs (USD per GPU-hour). */
export async function fetchGpuPrices(api: RunpodApi, gpuCount: number): Promise<Map<string, GpuTypePrice>> {
  const data = await api.graphql<GpuTypeAnswer>(GPU_TYPES, { gpuCount }, 'reading RunPod GPU types');
  const out = new Map<string, GpuTypePrice>();
  for (const g of data.gpuTypes ?? []) {
    if (!g.id) continue;
    const lp = g.lowestPrice ?? undefined;
    const entry: GpuTypePrice = { id: g.id };
    const set = <K extends keyof GpuTypePrice>(k: K, v: GpuTypePrice[K] | undefined) => { if (v !== undefined) entry[k] = v; };
    set('securePrice', num(g.securePrice));
    set('communityPrice', num(g.communityPrice));
    set('minimumBidPrice', num(lp?.minimumBidPrice));
    set('uninterruptablePrice', num(lp?.uninterruptablePrice));
    set('stockStatus', lp?.stockStatus ?? undefined);
    out.set(g.id, entry);
  }
  return out;
}

export class RunpodProvider implements ProviderObserver, ProviderLauncher, ProviderGoneObserver {
  readonly name = 'runpod' as const;
  private readonly api: RunpodApi;
  private scan: Promise<PodDescription[]> | undefined;
  private readonly prices = new Map<number, Promise<Map<string, GpuTypePrice>>>();
  private readonly timing: RunpodTiming;

  /** `fallbackToOnDemandAfter`: the jobs' retry.fallbackToOnDemandAfter, for the worst-case price (the plan's price() has no LaunchRequest). */
  constructor(private readonly env: NodeJS.ProcessEnv = process.env, private readonly fallbackAfter: (compute: ResolvedCompute) => number | undefined = () => undefined) {
    this.api = new RunpodApi(env);
    this.timing = timingFrom(env);
    // pods write to an S3 store: the SDK's "node ≥ 22 from 2027" notice says nothing about the job
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  private pods(): Promise<PodDescription[]> {
    if (!this.scan) {
      this.scan = listPods(this.api);
      this.scan.catch(() => { this.scan = undefined; });
    }
    return this.scan;
  }

  async observe(project: string): Promise<ObservedResource[]> {
    return (await this.pods()).map(toResource).filter((r): r is ObservedResource => r !== undefined && r.project === project);
  }

  /** Managed pods of the project that are listed but stopped: evicted, or stopped outside trainctl (drift). */
  async observeGone(project: string): Promise<GoneResource[]> {
    return (await this.pods()).map(toGone).filter((r): r is GoneResource => r !== undefined && r.project === project);
  }

  private gpuPrices(gpuCount: number): Promise<Map<string, GpuTypePrice>> {
    let p = this.prices.get(gpuCount);
    if (!p) {
      p = fetchGpuPrices(this.api, gpuCount);
      this.prices.set(gpuCount, p);
      p.catch(() => this.prices.delete(gpuCount));
    }
    return p;
  }

  /** The live worst case (GraphQL gpuTypes) of the offers the launch may end on; undefined when unknown, so the table's is used. */
  async price(compute: ResolvedCompute): Promise<PriceQuote | undefined> {
    if (compute.provider !== 'runpod' || !this.api.configured) return undefined;
    try {
      const usd = worstCasePrice(compute, await this.gpuPrices(compute.gpuCount), this.fallbackAfter(compute));
      return usd === undefined ? undefined : { usdPerHour: usd, source: 'live', asOf: new Date().toISOString() };
    } catch {
      return undefined;
    }
  }

  async launch(req: LaunchRequest): Promise<LaunchOutcome> {
    if (req.compute.provider !== 'runpod') throw new Error(`runpod provider asked to launch ${req.compute.provider} compute`);
    const compute = req.compute;
    try {
      return await launchRunpod({
        api: this.api,
        runnerPath: runnerScript(this.env),
        timing: this.timing,
        gpuPrices: (n) => this.gpuPrices(n),
        tablePrice: (offer: Offer) => {
          const one = { ...compute, gpuType: offer.gpuType, gpuTypes: undefined, gpuCount: 1, interruptible: offer.market === 'interruptible' };
          return tablePrice(one as ResolvedCompute, undefined)?.usdPerHour;
        },
      }, req);
    } catch (err) {
      throw userFacing(err, `launching ${req.trial} on RunPod (${gpuTypesOf(compute).join(', ')})`);
    }
  }

  async terminate(ids: readonly string[]): Promise<void> {
    await stopAndDelete({ api: this.api, timing: this.timing }, ids);
  }
}
