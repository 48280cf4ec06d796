// The runpod provider's write side. A launch creates the attempt's pod through GraphQL
// (podRentInterruptable with a bid, or podFindAndDeployOnDemand), labelled in the create call
// itself, with the bootstrap in its env and the start command that runs it: no second step starts
// the runner. Offers are tried in order (GPU types, then on-demand when allowed); "no instances
// available" moves to the next at once. RunPod has no client token, so the pod name is the
// idempotency key: a launch first adopts a live pod of the same name, and a create that fails
// without an answer looks again before trying again. Terminate stops each pod (SIGTERM to its
// start command, which the runner answers with a final checkpoint), waits, then deletes it.
import { ExitError } from '../../core/errors.js';
import type { ObservedResource } from '../../core/observed.js';
import { backoffDelay } from '../../core/retry.js';
import type { RunnerTask } from '../../runner/task.js';
import { createS3Client, s3Endpoint } from '../../transfer/index.js';
import type { LaunchOutcome, LaunchRequest } from '../provider.js';
import { prepareBundle } from '../aws/bundle.js';
import { BOOTSTRAP_ENV, podBootstrapScript, REST_URL_ENV, START_COMMAND } from './bootstrap.js';
import { isTransient, kindOf, RunpodError, userFacing, type RunpodApi } from './clients.js';
import {
  identityOf, isManaged, offerPricePerGpu, offersToTry, parsePod, podLabels, podName, round4, toResource,
  type GpuTypePrice, type NodeIdentity, type Offer, type PodDescription,
} from './model.js';

export interface RunpodTiming {
  /** Poll period while waiting for pods to stop. */
  pollMs: number;
  /** How long terminate waits for runners to save their final checkpoint before deleting the pods. */
  stopTimeoutMs: number;
}

export const DEFAULT_TIMING: RunpodTiming = { pollMs: 2000, stopTimeoutMs: 10 * 60_000 };

export interface RunpodLaunchContext {
  api: RunpodApi;
  runnerPath: string;
  timing: RunpodTiming;
  /** The live GPU type figures (empty when the API does not say). */
  gpuPrices(gpuCount: number): Promise<Map<string, GpuTypePrice>>;
  /** The list price per GPU-hour of an offer, when the live figures say nothing. */
  tablePrice(offer: Offer): number | undefined;
}

type Compute = Extract<LaunchRequest['compute'], { provider: 'runpod' }>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every pod of the account (GET /pods), parsed; pods the parser cannot read are left out. */
export async function listPods(api: RunpodApi): Promise<PodDescription[]> {
  let raw: unknown;
  try {
    raw = await api.rest<unknown>('GET', '/pods', 'listing RunPod pods');
  } catch (err) {
    throw userFacing(err, 'listing RunPod pods');
  }
  const list = Array.isArray(raw) ? raw : Array.isArray((raw as { pods?: unknown })?.pods) ? (raw as { pods: unknown[] }).pods : [];
  return list.map(parsePod).filter((p): p is PodDescription => p !== undefined);
}

const POD_FIELDS = 'id name desiredStatus costPerHr env gpuCount podType lastStatusChange';

const DEPLOY = `mutation trainctlDeploy($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { ${POD_FIELDS} } }`;
const RENT = `mutation trainctlRent($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { ${POD_FIELDS} } }`;

/**
 * What a pod's runner needs to reach the output store: the credentials the CLI itself resolved
 * (env, profile, SSO: the SDK's default chain), its region and a custom S3 endpoint. A pod has no
 * instance profile; these travel in the pod env, which the RunPod account can read.
 */
async function storeEnv(): Promise<Record<string, string>> {
  const client = createS3Client();
  try {
    const creds = await client.config.credentials();
    const region = await client.config.region();
    const endpoint = s3Endpoint();
    return {
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
      ...(region ? { AWS_REGION: region } : {}),
      ...(endpoint ? { AWS_ENDPOINT_URL_S3: endpoint } : {}),
    };
  } catch (err) {
    throw new ExitError(`no S3 credentials to give the pod for the output store: ${(err as Error).message.split('\n')[0]}`, 1, 'export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the bucket of output.uri');
  } finally {
    client.destroy();
  }
}

interface CreateInput {
  compute: Compute;
  offer: Offer;
  name: string;
  env: Record<string, string>;
  bidPerGpu: number | undefined;
}

function createVariables(c: CreateInput): Record<string, unknown> {
  return {
    input: {
      name: c.name,
      imageName: c.compute.image,
      gpuTypeId: c.offer.gpuType,
      gpuCount: c.compute.gpuCount,
      cloudType: c.compute.cloudType,
      volumeInGb: c.compute.volumeGiB,
      containerDiskInGb: c.compute.containerDiskGiB,
      volumeMountPath: '/workspace',
      dockerArgs: START_COMMAND,
      startSsh: false,
      env: Object.entries(c.env).map(([key, value]) => ({ key, value })),
      ...(c.offer.market === 'interruptible' ? { bidPerGpu: c.bidPerGpu } : {}),
    },
  };
}

type CreateOutcome = { kind: 'created'; pod: PodDescription } | { kind: 'no-capacity'; message: string };

/**
 * One create. A capacity answer is an outcome; throttling and server errors are retried, but
 * only after looking for the pod by name: a create whose answer was lost may have made it.
 */
async function createPod(api: RunpodApi, c: CreateInput): Promise<CreateOutcome> {
  const mutation = c.offer.market === 'interruptible' ? 'podRentInterruptable' : 'podFindAndDeployOnDemand';
  const what = `${mutation} ${c.offer.gpuType}`;
  for (let tries = 0; ; tries++) {
    try {
      const data = await api.graphql<Record<string, unknown>>(c.offer.market === 'interruptible' ? RENT : DEPLOY, createVariables(c), what, 0);
      const pod = parsePod(data[mutation]);
      if (!pod) throw new RunpodError('server', `${what}: the answer has no pod`);
      return { kind: 'created', pod };
    } catch (err) {
      if (kindOf(err) === 'capacity') return { kind: 'no-capacity', message: (err as Error).message.split(': ').slice(1).join(': ') };
      if (!isTransient(err) || tries >= 5) {
        const e = userFacing(err, what);
        if (e instanceof ExitError) throw e;
        throw new ExitError(`${(err as Error).message}`, 1, 'check compute.* in the spec (gpuType, image, cloudType, bidPerGpu)');
      }
      await sleep(backoffDelay(tries + 1, { baseMs: 500, maxMs: 8000, factor: 2, jitter: 0.5 }));
      const made = (await listPods(api)).find((p) => p.name === c.name && p.desiredStatus === 'RUNNING' && isManaged(p));
      if (made) return { kind: 'created', pod: made };
    }
  }
}

/** Deletes pods, each on its own: one already gone (404) is what was wanted. */
export async function deletePods(api: RunpodApi, ids: readonly string[]): Promise<void> {
  await Promise.all(ids.map(async (id) => {
    try {
      await api.rest('DELETE', `/pods/${encodeURIComponent(id)}`, `deleting pod ${id}`);
    } catch (err) {
      if (kindOf(err) !== 'not-found') throw userFacing(err, `deleting pod ${id}`);
    }
  }));
}

export async function launchRunpod(ctx: RunpodLaunchContext, req: LaunchRequest): Promise<LaunchOutcome> {
  if (req.compute.provider !== 'runpod') throw new Error(`runpod provider asked to launch ${req.compute.provider} compute`);
  const compute = req.compute;
  if (req.nodes > 1) {
    throw new ExitError(`RunPod pods share no private network, so trial ${req.trial} cannot run on ${req.nodes} nodes`, 1, 'set distributed.nodes: 1 and use the pod\'s GPUs with gpuCount and nprocPerNode, or run multi-node on aws');
  }
  const pods = await listPods(ctx.api);
  const ofTrial = pods.filter((p) => {
    const id = isManaged(p) ? identityOf(p) : undefined;
    return id !== undefined && id.project === req.project && id.trial === req.trial;
  });
  const live = ofTrial.find((p) => identityOf(p)!.attempt === req.attempt && identityOf(p)!.rank === 0 && toResource(p));
  // Pods of this trial that are no longer running (an evicted interruptible pod stays EXITED and
  // keeps billing its volume) are deleted: their attempt is over, the new one starts afresh.
  const leftovers = ofTrial.filter((p) => p !== live && p.desiredStatus !== 'RUNNING' && p.desiredStatus !== 'TERMINATED');
  await deletePods(ctx.api, leftovers.map((p) => p.id));
  if (live) return { kind: 'launched', resources: [toResource(live)!] };

  const bundle = await prepareBundle(req.task.storeUri, req.project, req.codeDir, req.task.checkpoint.dir, ctx.runnerPath);
  const storeCreds = await storeEnv();
  const prices = await ctx.gpuPrices(compute.gpuCount).catch(() => new Map<string, GpuTypePrice>());
  const identity: NodeIdentity = { project: req.project, job: req.job, trial: req.trial, specHash: req.specHash, attempt: req.attempt, rank: 0 };
  const name = podName(identity);
  const distributed = req.task.nprocPerNode > 1;
  const backend = req.distributed.backend === 'auto' ? (compute.gpuCount > 0 ? 'nccl' : 'gloo') : req.distributed.backend;
  const tried: string[] = [];
  const said = new Set<string>();
  for (const offer of offersToTry(compute, req.interruptions ?? 0, req.fallbackToOnDemandAfter)) {
    const live = offerPricePerGpu(prices.get(offer.gpuType), offer.market, compute);
    const perGpu = live ?? ctx.tablePrice(offer);
    const task: Omit<RunnerTask, 'workDir'> = {
      ...req.task,
      nodeRank: 0,
      // what the pod costs, for the runner's spend accrual (0 when unknown: under-reported, never blocked)
      pricePerHour: perGpu === undefined ? 0 : round4(perGpu * compute.gpuCount),
      ...(distributed ? { distributed: { backend, masterAddr: '127.0.0.1', masterPort: req.distributed.masterPort ?? 29500 } } : {}),
    };
    const script = podBootstrapScript({ task, runnerUrl: bundle.runnerUrl, codeUrl: bundle.codeUrl });
    const env = {
      ...podLabels(identity, new Date()),
      ...storeCreds,
      [REST_URL_ENV]: ctx.api.config.restUrl,
      [BOOTSTRAP_ENV]: Buffer.from(script).toString('base64'),
    };
    // an interruptible pod needs a bid: the spec's, else the going minimum, else the list price
    const bid = compute.bidPerGpu ?? prices.get(offer.gpuType)?.minimumBidPrice ?? ctx.tablePrice(offer);
    if (offer.market === 'interruptible' && bid === undefined) {
      tried.push(`${offer.gpuType} (interruptible)`);
      said.add('no bid price known: set compute.bidPerGpu');
      continue;
    }
    const out = await createPod(ctx.api, { compute, offer, name, env, bidPerGpu: bid });
    if (out.kind === 'no-capacity') {
      tried.push(`${offer.gpuType} (${offer.market})`);
      said.add(out.message);
      continue;
    }
    const resource: ObservedResource = toResource(out.pod) ?? {
      provider: 'runpod', id: out.pod.id, project: req.project, job: req.job, trial: req.trial, specHash: req.specHash,
      nodeRank: 0, attempt: req.attempt, state: 'pending', launchedAt: new Date().toISOString(),
    };
    return { kind: 'launched', resources: [resource] };
  }
  // every offer tried, and what RunPod said (once: it says the same words for each)
  return { kind: 'no-capacity', message: `RunPod has no machine for ${tried.join(', ') || 'any offer'}: ${[...said].join('; ')}` };
}

/** Which of `ids` still have a container up (GraphQL `runtime` is null once the container has stopped). */
async function containersUp(api: RunpodApi, ids: ReadonlySet<string>): Promise<string[]> {
  const data = await api.graphql<{ myself?: { pods?: { id?: string; desiredStatus?: string; runtime?: unknown }[] } }>(
    'query trainctlPodsUp { myself { pods { id desiredStatus runtime { uptimeInSeconds } } } }', {}, 'listing RunPod pods');
  return (data.myself?.pods ?? []).filter((p) => p.id && ids.has(p.id) && (p.desiredStatus === 'RUNNING' || p.runtime)).map((p) => p.id!);
}

/**
 * Graceful stop: each pod is stopped (its start command gets SIGTERM and passes it to the runner,
 * which saves and uploads a final checkpoint and then deletes the pod), waited for until its
 * container is down or it is gone, then deleted whatever its state, so nothing keeps billing.
 */
export async function stopAndDelete(ctx: Pick<RunpodLaunchContext, 'api' | 'timing'>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await Promise.all(ids.map(async (id) => {
    try {
      await ctx.api.rest('POST', `/pods/${encodeURIComponent(id)}/stop`, `stopping pod ${id}`);
    } catch (err) {
      if (kindOf(err) !== 'not-found') throw userFacing(err, `stopping pod ${id}`);
    }
  }));
  const deadline = Date.now() + ctx.timing.stopTimeoutMs;
  const wanted = new Set(ids);
  for (;;) {
    let up: string[];
    try {
      up = await containersUp(ctx.api, wanted);
    } catch (err) {
      throw userFacing(err, 'listing RunPod pods');
    }
    if (up.length === 0 || Date.now() > deadline) break;
    await sleep(ctx.timing.pollMs);
  }
  await deletePods(ctx.api, ids);
}
