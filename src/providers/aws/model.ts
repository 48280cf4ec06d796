// The aws provider's decisions, pure: tags, idempotency tokens, which market to try, how an EC2
// error is classified, and how an instance description becomes an ObservedResource. No SDK here.
import { hashValue } from '../../core/hash.js';
import type { ObservedResource } from '../../core/observed.js';
import type { NodeIdentity } from '../provider.js';
import { isGpuInstanceType } from '../../core/insights.js';

export type { NodeIdentity };

export const TAG = {
  managed: 'trainctl:managed',
  project: 'trainctl:project',
  job: 'trainctl:job',
  trial: 'trainctl:trial',
  specHash: 'trainctl:spec-hash',
  nodeRank: 'trainctl:node-rank',
  attempt: 'trainctl:attempt',
  /** Set once the SSM bootstrap has started the runner: a node without it after the boot timeout never got one. */
  runner: 'trainctl:runner',
} as const;


/** The tags of DESIGN §4 (and the attempt), on the instance and its volumes from the first API call. */
export function nodeTags(n: NodeIdentity): Record<string, string> {
  return {
    [TAG.managed]: 'true',
    [TAG.project]: n.project,
    [TAG.job]: n.job,
    [TAG.trial]: n.trial,
    [TAG.specHash]: n.specHash,
    [TAG.nodeRank]: String(n.rank),
    [TAG.attempt]: String(n.attempt),
    // EC2 caps tag values at 256 characters
    Name: `trainctl-${n.job}-${n.trial}-a${n.attempt}-r${n.rank}`.slice(0, 256),
    CreatedBy: 'trainctl',
  };
}

/**
 * RunInstances' ClientToken for one node of one attempt: a retried or re-run apply sends the same
 * token and gets the same instance back instead of a second one. `generation` moves on only when
 * the instance a token names is already gone (a token stays bound to it after termination), and
 * `market` differs for the on-demand fallback (one token may not be reused with other parameters).
 */
export function clientToken(n: Pick<NodeIdentity, 'project' | 'trial' | 'attempt' | 'rank'>, market: Market, generation = 0): string {
  // ≤ 64 ASCII characters
  return `tc-${hashValue({ p: n.project, t: n.trial, a: n.attempt, r: n.rank, m: market, g: generation }, 40)}`;
}

export type Market = 'spot' | 'on-demand';

/**
 * The markets a launch tries, in order. `spot-with-fallback` tries spot first, unless the trial has
 * already been interrupted `fallbackAfter` times (retry.fallbackToOnDemandAfter), then on-demand.
 */
export function marketsToTry(market: 'spot' | 'on-demand' | 'spot-with-fallback', interruptions: number, fallbackAfter: number | undefined): Market[] {
  if (market === 'on-demand') return ['on-demand'];
  const spotExhausted = fallbackAfter !== undefined && fallbackAfter > 0 && interruptions >= fallbackAfter;
  if (market === 'spot') return ['spot'];
  return spotExhausted ? ['on-demand'] : ['spot', 'on-demand'];
}

/** EC2 error codes that mean "no capacity for this request now" (DESIGN §6): fall back or wait. */
export const CAPACITY_CODES: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'MaxSpotInstanceCountExceeded',
  'SpotMaxPriceTooLow',
  'UnfulfillableCapacity',
  'Unsupported',
  'InsufficientCapacity',
]);

export const THROTTLE_CODES: ReadonlySet<string> = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);

export type AwsErrorKind = 'capacity' | 'throttled' | 'not-found' | 'credentials' | 'unreachable' | 'other';

/** The kind of an SDK error, from its name/code and message. */
export function classifyAwsError(err: unknown): AwsErrorKind {
  const e = err as { name?: string; Code?: string; code?: string; message?: string };
  const code = e?.Code ?? e?.name ?? '';
  if (CAPACITY_CODES.has(code)) return 'capacity';
  if (THROTTLE_CODES.has(code)) return 'throttled';
  if (/NotFound|DoesNotExist|InvalidInstanceID/.test(code)) return 'not-found';
  if (code === 'CredentialsProviderError' || /AuthFailure|UnrecognizedClient|InvalidClientTokenId|SignatureDoesNotMatch|ExpiredToken/.test(code)) return 'credentials';
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET/.test(`${e?.code ?? ''} ${e?.message ?? ''}`)) return 'unreachable';
  return 'other';
}

export function awsErrorCode(err: unknown): string {
  const e = err as { Code?: string; name?: string };
  return e?.Code ?? e?.name ?? 'Error';
}

/** The parts of an EC2 instance description the provider reads (the SDK's shape, all optional). */
export interface InstanceDescription {
  InstanceId?: string;
  InstanceType?: string;
  State?: { Name?: string };
  LaunchTime?: Date | string;
  InstanceLifecycle?: string;
  PrivateIpAddress?: string;
  Placement?: { AvailabilityZone?: string };
  Tags?: { Key?: string; Value?: string }[];
}

export function tagsOf(i: InstanceDescription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

/**
 * An instance as the planner sees it, or undefined when it is not a live managed node (no managed
 * tag, missing identity tags, or already stopped/terminated). shutting-down counts as stopping.
 */
export function toResource(i: InstanceDescription): ObservedResource | undefined {
  const tags = tagsOf(i);
  if (tags[TAG.managed] !== 'true' || !i.InstanceId) return undefined;
  const state = i.State?.Name;
  const mapped = state === 'pending' ? 'pending' : state === 'running' ? 'running' : state === 'shutting-down' || state === 'stopping' ? 'stopping' : undefined;
  if (!mapped) return undefined;
  const rank = Number(tags[TAG.nodeRank]);
  const attempt = Number(tags[TAG.attempt] ?? '1');
  if (!tags[TAG.project] || !tags[TAG.trial] || !Number.isInteger(rank) || !Number.isInteger(attempt)) return undefined;
  const launched = i.LaunchTime instanceof Date ? i.LaunchTime.toISOString() : String(i.LaunchTime ?? new Date(0).toISOString());
  return {
    provider: 'aws',
    id: i.InstanceId,
    project: tags[TAG.project]!,
    job: tags[TAG.job] ?? '',
    trial: tags[TAG.trial]!,
    specHash: tags[TAG.specHash] ?? '',
    nodeRank: rank,
    attempt,
    state: mapped,
    launchedAt: launched,
  };
}

/**
 * A node launched but never bootstrapped (the CLI died between RunInstances and SSM) holds no
 * runner: after the boot timeout it is not live, so the next pass launches the attempt again,
 * which adopts the instance (same ClientToken) and bootstraps it.
 */
export function bootstrapLost(i: InstanceDescription, now: number, bootTimeoutMs: number): boolean {
  if (tagsOf(i)[TAG.runner]) return false;
  const launched = i.LaunchTime instanceof Date ? i.LaunchTime.getTime() : Date.parse(String(i.LaunchTime ?? ''));
  return Number.isFinite(launched) && now - launched > bootTimeoutMs;
}

/** Whether an instance type has GPUs (DDP backend `auto` → nccl), by family. */
export const hasGpus = isGpuInstanceType;

/** SSM's AMI alias for `ami: resolve:ssm:/path`, and the default (the Deep Learning Base AMI). */
export const DEFAULT_AMI_PARAMETER = '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';

export type AmiSource = { kind: 'id'; id: string } | { kind: 'parameter'; name: string };

export function amiSource(ami: string | undefined): AmiSource {
  if (!ami) return { kind: 'parameter', name: DEFAULT_AMI_PARAMETER };
  if (ami.startsWith('resolve:ssm:')) return { kind: 'parameter', name: ami.slice('resolve:ssm:'.length) };
  return { kind: 'id', id: ami };
}
