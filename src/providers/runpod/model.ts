// The runpod provider's decisions, pure: the env labels a pod carries, its name, which offers
// (GPU type × market) a launch tries in order, how an API error is classified, how a pod becomes
// an ObservedResource, and the hourly price of a pod from the API's GPU type figures. No I/O.
import type { GoneResource, ObservedResource } from '../../core/observed.js';
import type { ResolvedCompute } from '../../spec/types.js';
import { marketsToTry } from '../aws/model.js';
import type { NodeIdentity } from '../provider.js';

/**
 * RunPod has no tags: the labels of DESIGN §4 travel as pod env vars, set in the create call
 * itself, so no pod ever exists unlabelled. The runner sets TRAINCTL_JOB/TRIAL/ATTEMPT for the
 * training code to the same values, so the two never disagree.
 */
export type { NodeIdentity };

export const LABEL = {
  managed: 'TRAINCTL_MANAGED',
  project: 'TRAINCTL_PROJECT',
  job: 'TRAINCTL_JOB',
  trial: 'TRAINCTL_TRIAL',
  specHash: 'TRAINCTL_SPEC_HASH',
  nodeRank: 'TRAINCTL_NODE_RANK',
  attempt: 'TRAINCTL_ATTEMPT',
  createdBy: 'TRAINCTL_CREATED_BY',
  /** When trainctl asked for the pod: the planner's elapsed time (RunPod's own times restart on every resume). */
  createdAt: 'TRAINCTL_CREATED_AT',
} as const;


/** RunPod caps names at 191 characters. The name is also the idempotency key: RunPod has no client token. */
export function podName(n: Pick<NodeIdentity, 'job' | 'trial' | 'attempt' | 'rank'>): string {
  return `trainctl-${n.job}-${n.trial}-a${n.attempt}-r${n.rank}`.slice(0, 191);
}

export function podLabels(n: NodeIdentity, createdAt: Date): Record<string, string> {
  return {
    [LABEL.managed]: 'true',
    [LABEL.project]: n.project,
    [LABEL.job]: n.job,
    [LABEL.trial]: n.trial,
    [LABEL.specHash]: n.specHash,
    [LABEL.nodeRank]: String(n.rank),
    [LABEL.attempt]: String(n.attempt),
    [LABEL.createdBy]: 'trainctl',
    [LABEL.createdAt]: createdAt.toISOString(),
  };
}

export type PodMarket = 'interruptible' | 'on-demand';

export interface Offer {
  gpuType: string;
  market: PodMarket;
}

type RunpodCompute = Extract<ResolvedCompute, { provider: 'runpod' }>;

export function gpuTypesOf(compute: Pick<RunpodCompute, 'gpuType' | 'gpuTypes'>): string[] {
  return [...(compute.gpuTypes ?? (compute.gpuType ? [compute.gpuType] : []))];
}

/**
 * The offers a launch tries, in order: every GPU type of `gpuTypes` (the preference list) in the
 * first market, then every one in the next. An interruptible trial without a bid behaves like aws
 * spot-with-fallback: on-demand when no type has an interruptible machine, and straight to
 * on-demand once it has been interrupted retry.fallbackToOnDemandAfter times. A bid (bidPerGpu)
 * is a price ceiling: such a trial stays interruptible and waits for capacity instead.
 */
export function offersToTry(compute: Pick<RunpodCompute, 'gpuType' | 'gpuTypes' | 'interruptible' | 'bidPerGpu'>, interruptions: number, fallbackAfter: number | undefined): Offer[] {
  const market = !compute.interruptible ? 'on-demand' : compute.bidPerGpu !== undefined ? 'spot' : 'spot-with-fallback';
  const markets = marketsToTry(market, interruptions, fallbackAfter).map((m): PodMarket => (m === 'spot' ? 'interruptible' : 'on-demand'));
  return markets.flatMap((m) => gpuTypesOf(compute).map((gpuType) => ({ gpuType, market: m })));
}

export type RunpodErrorKind = 'capacity' | 'throttled' | 'server' | 'auth' | 'not-found' | 'invalid' | 'unreachable';

/**
 * RunPod says "no capacity" in words, not codes (GraphQL errors are HTTP 200 with a message):
 * "There are no longer any instances available with the requested specifications", "not enough
 * free GPUs", "does not have the resources to deploy", and a bid under the market for spot.
 */
export function isCapacityMessage(message: string): boolean {
  return /no longer any instances available|no instances? (are )?available|not enough free GPUs|does not have the resources|no available|bid.*(too low|below)|out of stock|insufficient capacity/i.test(message);
}

/** The kind of an answer: HTTP status first, then (for GraphQL's 200-with-errors) the message. */
export function classifyAnswer(status: number, message: string): RunpodErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'throttled';
  if (status === 404) return 'not-found';
  if (status >= 500) return 'server';
  if (isCapacityMessage(message)) return 'capacity';
  if (/unauthori[sz]ed|api key/i.test(message)) return 'auth';
  if (/rate limit|too many requests/i.test(message)) return 'throttled';
  if (/something went wrong|internal server error|try again later/i.test(message)) return 'server';
  if (/not found|does not exist/i.test(message)) return 'not-found';
  return 'invalid';
}

/** A pod as the provider reads it, parsed once from the REST API's JSON. */
export interface PodDescription {
  id: string;
  name: string;
  /** RUNNING, EXITED (stopped; an evicted interruptible pod stays listed like this) or TERMINATED. */
  desiredStatus: string;
  env: Record<string, string>;
  interruptible: boolean;
  gpuTypeId?: string;
  gpuCount: number;
  costPerHr?: number;
  lastStartedAt?: string;
  /** RunPod's words for the last lifecycle event, e.g. `Rented by User: …`, `Exited by user`. */
  lastStatusChange?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** The REST `Pod` object (env as an object; GraphQL's `["K=V"]` list is accepted too), or undefined when it is not one. */
export function parsePod(raw: unknown): PodDescription | undefined {
  if (!isObj(raw) || typeof raw.id !== 'string') return undefined;
  const env: Record<string, string> = {};
  if (Array.isArray(raw.env)) {
    for (const e of raw.env) if (typeof e === 'string' && e.includes('=')) env[e.slice(0, e.indexOf('='))] = e.slice(e.indexOf('=') + 1);
  } else if (isObj(raw.env)) {
    for (const [k, v] of Object.entries(raw.env)) if (typeof v === 'string') env[k] = v;
  }
  const gpu = isObj(raw.gpu) ? raw.gpu : undefined;
  const machine = isObj(raw.machine) ? raw.machine : undefined;
  const gpuTypeId = typeof gpu?.id === 'string' ? gpu.id : typeof machine?.gpuTypeId === 'string' ? machine.gpuTypeId : undefined;
  const count = typeof gpu?.count === 'number' ? gpu.count : typeof raw.gpuCount === 'number' ? raw.gpuCount : 0;
  return {
    id: raw.id,
    name: typeof raw.name === 'string' ? raw.name : '',
    desiredStatus: typeof raw.desiredStatus === 'string' ? raw.desiredStatus : 'UNKNOWN',
    env,
    interruptible: raw.interruptible === true || raw.podType === 'INTERRUPTABLE',
    ...(gpuTypeId ? { gpuTypeId } : {}),
    gpuCount: count,
    ...(typeof raw.costPerHr === 'number' ? { costPerHr: raw.costPerHr } : {}),
    ...(typeof raw.lastStartedAt === 'string' ? { lastStartedAt: raw.lastStartedAt } : {}),
    ...(typeof raw.lastStatusChange === 'string' && raw.lastStatusChange ? { lastStatusChange: raw.lastStatusChange } : {}),
  };
}

export const isManaged = (p: PodDescription): boolean => p.env[LABEL.managed] === 'true';

/**
 * Only RUNNING is live. An evicted interruptible pod is not deleted but stopped: it stays listed
 * as EXITED with its volume (and the runner inside was killed, perhaps before it could write
 * anything). Counting it as live would leave its trial waiting forever; not counting it lets the
 * planner see a running attempt with nothing live, which it resumes from LATEST (node-lost).
 */
export function podState(p: PodDescription): ObservedResource['state'] | undefined {
  return p.desiredStatus === 'RUNNING' ? 'running' : undefined;
}

/** A pod as the planner sees it, or undefined when it is not a live managed node. */
export function toResource(p: PodDescription): ObservedResource | undefined {
  if (!isManaged(p)) return undefined;
  const state = podState(p);
  if (!state) return undefined;
  const id = identityOf(p);
  if (!id) return undefined;
  return {
    provider: 'runpod',
    id: p.id,
    project: id.project,
    job: id.job,
    trial: id.trial,
    specHash: id.specHash,
    nodeRank: id.rank,
    attempt: id.attempt,
    state,
    launchedAt: launchedAt(p),
  };
}

/**
 * A managed pod that is listed but no longer running (drift): an evicted interruptible pod, or one
 * stopped outside trainctl. Undefined for a live pod or one that is not a managed node.
 */
export function toGone(p: PodDescription): GoneResource | undefined {
  if (!isManaged(p) || podState(p)) return undefined;
  const id = identityOf(p);
  if (!id) return undefined;
  return {
    provider: 'runpod', id: p.id, project: id.project, job: id.job, trial: id.trial, specHash: id.specHash, nodeRank: id.rank, attempt: id.attempt,
    detail: `pod ${p.desiredStatus}${p.lastStatusChange ? `: ${p.lastStatusChange}` : ''}`,
  };
}

/** The trial labels of a managed pod, or undefined when one is missing or malformed. */
export function identityOf(p: PodDescription): NodeIdentity | undefined {
  const e = p.env;
  const int = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const rank = int(e[LABEL.nodeRank]);
  const attempt = int(e[LABEL.attempt]);
  const project = e[LABEL.project];
  const trial = e[LABEL.trial];
  if (!project || !trial || rank === undefined || attempt === undefined) return undefined;
  return { project, job: e[LABEL.job] ?? '', trial, specHash: e[LABEL.specHash] ?? '', attempt, rank };
}

export function launchedAt(p: PodDescription): string {
  const t = Date.parse(p.env[LABEL.createdAt] ?? p.lastStartedAt ?? '');
  return new Date(Number.isFinite(t) ? t : 0).toISOString();
}

/** The figures of one GPU type from the GraphQL `gpuTypes` query (USD per GPU-hour). */
export interface GpuTypePrice {
  id: string;
  securePrice?: number;
  communityPrice?: number;
  /** lowestPrice(input: { gpuCount }).minimumBidPrice: the going rate of an interruptible GPU. */
  minimumBidPrice?: number;
  /** lowestPrice(input: { gpuCount }).uninterruptablePrice: the cheapest on-demand GPU now. */
  uninterruptablePrice?: number;
  stockStatus?: string;
}

/** USD per GPU-hour of one offer, from the live figures; undefined when they do not say. */
export function offerPricePerGpu(g: GpuTypePrice | undefined, market: PodMarket, compute: Pick<RunpodCompute, 'cloudType' | 'bidPerGpu'>): number | undefined {
  if (market === 'interruptible') return compute.bidPerGpu ?? g?.minimumBidPrice;
  if (!g) return undefined;
  if (compute.cloudType === 'SECURE') return g.securePrice;
  if (compute.cloudType === 'COMMUNITY') return g.communityPrice ?? g.securePrice;
  const both = [g.securePrice, g.communityPrice].filter((v): v is number => v !== undefined && v > 0);
  return both.length ? Math.max(...both) : g.uninterruptablePrice;
}

/**
 * A pod's worst-case hourly price for the plan's estimate: the dearest offer the launch may end
 * on (every GPU type; on-demand when the fallback allows it), × gpuCount. Undefined when any
 * offer's price is unknown, so the estimate falls back to the table rather than under-reporting.
 */
export function worstCasePrice(compute: RunpodCompute, prices: ReadonlyMap<string, GpuTypePrice>, fallbackAfter: number | undefined): number | undefined {
  const offers = offersToTry(compute, 0, fallbackAfter);
  const perGpu = offers.map((o) => offerPricePerGpu(prices.get(o.gpuType), o.market, compute));
  if (perGpu.length === 0 || perGpu.some((p) => p === undefined)) return undefined;
  return round4(Math.max(...(perGpu as number[])) * compute.gpuCount);
}

export const round4 = (n: number): number => Math.round(n * 10_000) / 10_000;
