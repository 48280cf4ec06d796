// The aws provider's write side. A launch starts every missing node rank of one attempt: one
// RunInstances per rank with its own ClientToken and the managed tags in the same call (so no
// instance ever exists untagged), spot first and on-demand on a capacity error when the market
// allows it, then the SSM bootstrap that starts the runner. Terminate asks each runner to stop
// (SIGTERM through SSM, so the final checkpoint is saved), then terminates the instances.
import {
  CreatePlacementGroupCommand, CreateTagsCommand, DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand,
  type Instance, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, GetParameterCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { ExitError } from '../../core/errors.js';
import type { ObservedResource } from '../../core/observed.js';
import { withRetry } from '../../core/retry.js';
import type { RunnerTask } from '../../runner/task.js';
import type { AwsCompute } from '../../spec/schema.gen.js';
import type { LaunchOutcome, LaunchRequest } from '../provider.js';
import { bootstrapScript, stopScript } from './bootstrap.js';
import { prepareBundle } from './bundle.js';
import { userFacing, type AwsClients } from './clients.js';
import {
  amiSource, awsErrorCode, classifyAwsError, clientToken, hasGpus, marketsToTry, nodeTags, TAG, tagsOf, toResource, type Market, type NodeIdentity,
} from './model.js';

export interface AwsLaunchContext {
  clients: AwsClients;
  runnerPath: string;
  /** Price of one node per hour in a market, for cost accrual in the runner's heartbeats. */
  price(market: Market): Promise<number>;
  timing: AwsTiming;
}

export interface AwsTiming {
  /** Poll period while waiting for instance states and SSM invocations. */
  pollMs: number;
  /** How long an instance may take to be running with its SSM agent online. */
  bootTimeoutMs: number;
  /** How long terminate waits for runners to save their final checkpoint. */
  stopTimeoutMs: number;
}

export const DEFAULT_TIMING: AwsTiming = { pollMs: 2000, bootTimeoutMs: 10 * 60_000, stopTimeoutMs: 10 * 60_000 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const LIVE_STATES = ['pending', 'running'];
const GONE_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

/** Our own backoff for throttling, on top of (or instead of, for the no-retry client) the SDK's. */
function throttled<T>(fn: () => Promise<T>): Promise<T> {
  return withRetry(fn, { retries: 6, backoff: { baseMs: 300, maxMs: 8000, factor: 2, jitter: 0.5 }, isTransient: (e) => classifyAwsError(e) === 'throttled' });
}

type Compute = AwsCompute & { market: NonNullable<AwsCompute['market']>; volumeGiB?: number };

/** Live instances of this attempt, by rank (a re-run launch adopts them instead of starting more). */
async function liveNodes(c: AwsClients, req: LaunchRequest): Promise<Map<number, Instance>> {
  const out = new Map<number, Instance>();
  let NextToken: string | undefined;
  do {
    const page = await throttled(() => c.ec2.send(new DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${TAG.managed}`, Values: ['true'] },
        { Name: `tag:${TAG.project}`, Values: [req.project] },
        { Name: `tag:${TAG.trial}`, Values: [req.trial] },
        { Name: `tag:${TAG.attempt}`, Values: [String(req.attempt)] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ],
      MaxResults: 1000, NextToken,
    })));
    for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) {
      const res = toResource(i);
      if (res) out.set(res.nodeRank, i);
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

async function resolveImage(c: AwsClients, ami: string | undefined): Promise<string> {
  const src = amiSource(ami);
  if (src.kind === 'id') return src.id;
  try {
    const out = await throttled(() => c.ssm.send(new GetParameterCommand({ Name: src.name })));
    const value = out.Parameter?.Value;
    if (!value) throw new Error('empty parameter');
    return value;
  } catch (err) {
    const e = userFacing(err, `AMI alias ${src.name}`);
    if (e instanceof ExitError) throw e;
    throw new ExitError(`cannot resolve the AMI alias ${src.name} in ${c.region}: ${awsErrorCode(err)}`, 1, 'set compute.ami to an ami-… id or an SSM parameter that exists in this region');
  }
}

function runInput(compute: Compute, req: LaunchRequest, node: NodeIdentity, imageId: string, market: Market, placementGroup: string | undefined, generation: number): RunInstancesCommandInput {
  const tags = Object.entries(nodeTags(node)).map(([Key, Value]) => ({ Key, Value }));
  return {
    ImageId: imageId,
    InstanceType: compute.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    ClientToken: clientToken(node, market, generation),
    // the bootstrap powers the node off when its runner ends: that must end the billing too
    InstanceInitiatedShutdownBehavior: 'terminate',
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }],
    ...(market === 'spot' ? {
      InstanceMarketOptions: {
        MarketType: 'spot',
        SpotOptions: {
          SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate',
          ...(compute.maxPricePerHour !== undefined ? { MaxPrice: String(compute.maxPricePerHour) } : {}),
        },
      },
    } : {}),
    ...(compute.subnetId ? { SubnetId: compute.subnetId } : {}),
    ...(compute.securityGroupIds?.length ? { SecurityGroupIds: [...compute.securityGroupIds] } : {}),
    ...(compute.iamInstanceProfile ? { IamInstanceProfile: { Name: compute.iamInstanceProfile } } : {}),
    ...(compute.keyName ? { KeyName: compute.keyName } : {}),
    ...(placementGroup ? { Placement: { GroupName: placementGroup } } : {}),
    // the Deep Learning AMIs (Ubuntu) have their root volume at /dev/sda1
    ...(compute.volumeGiB ? { BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: compute.volumeGiB, VolumeType: 'gp3', DeleteOnTermination: true } }] } : {}),
  };
}

type NodeLaunch = { kind: 'launched'; instance: Instance; market: Market } | { kind: 'no-capacity'; message: string };

/**
 * One rank's instance: each market in turn; a capacity error moves to the next at once (the
 * no-retry client), throttling is retried with backoff. A token whose instance is already gone is
 * spent: the next generation's token launches afresh, deterministically, so re-runs agree.
 */
async function launchNode(ctx: AwsLaunchContext, compute: Compute, req: LaunchRequest, node: NodeIdentity, imageId: string, placementGroup: string | undefined): Promise<NodeLaunch> {
  const tried: string[] = [];
  for (const market of marketsToTry(compute.market, req.interruptions ?? 0, req.fallbackToOnDemandAfter)) {
    for (let generation = 0; generation < 5; generation++) {
      let instance: Instance | undefined;
      try {
        const out = await throttled(() => ctx.clients.ec2NoRetry.send(new RunInstancesCommand(runInput(compute, req, node, imageId, market, placementGroup, generation))));
        instance = out.Instances?.[0];
      } catch (err) {
        if (classifyAwsError(err) === 'capacity') {
          tried.push(`${market}: ${awsErrorCode(err)}`);
          break;
        }
        const e = userFacing(err, `RunInstances ${compute.instanceType} in ${ctx.clients.region}`);
        if (e instanceof ExitError) throw e;
        throw new ExitError(`RunInstances ${compute.instanceType} (${market}) in ${ctx.clients.region} failed: ${awsErrorCode(err)}: ${(err as Error).message}`, 1, 'check compute.* in the spec (AMI, subnet, security groups, instance profile)');
      }
      if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
      if (instance.State?.Name && GONE_STATES.has(instance.State.Name)) continue;
      return { kind: 'launched', instance, market };
    }
  }
  return { kind: 'no-capacity', message: `${compute.instanceType} in ${ctx.clients.region}: ${tried.join(', ') || 'no capacity'}` };
}

async function describe(c: AwsClients, ids: readonly string[]): Promise<Instance[]> {
  if (ids.length === 0) return [];
  const out = await throttled(() => c.ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] })));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

async function waitRunning(ctx: AwsLaunchContext, ids: readonly string[]): Promise<Map<string, Instance>> {
  const deadline = Date.now() + ctx.timing.bootTimeoutMs;
  for (;;) {
    const list = await describe(ctx.clients, ids);
    const gone = list.find((i) => GONE_STATES.has(i.State?.Name ?? ''));
    if (gone) throw new ExitError(`instance ${gone.InstanceId} ended (${gone.State?.Name}) while starting`, 1, 'run apply again: the trial is launched anew');
    if (list.length === ids.length && list.every((i) => i.State?.Name === 'running')) return new Map(list.map((i) => [i.InstanceId!, i]));
    if (Date.now() > deadline) throw new ExitError(`instances ${ids.join(', ')} were not running after ${Math.round(ctx.timing.bootTimeoutMs / 1000)} s`, 1, 'check the AWS console; run apply again to retry');
    await sleep(ctx.timing.pollMs);
  }
}

type InvocationEnd = { status: string; stdout: string; stderr: string };

/**
 * Sends one shell script through SSM and waits for its end. InvalidInstanceId means the agent is
 * not online yet (a new instance): sent again until `deadline`.
 */
export async function runShell(ctx: Pick<AwsLaunchContext, 'clients' | 'timing'>, instanceId: string, script: string, comment: string, timeoutSeconds: number, deadline: number): Promise<InvocationEnd> {
  let commandId: string | undefined;
  while (!commandId) {
    try {
      const out = await throttled(() => ctx.clients.ssm.send(new SendCommandCommand({
        InstanceIds: [instanceId],
        DocumentName: 'AWS-RunShellScript',
        Comment: comment.slice(0, 100),
        Parameters: { commands: [script], executionTimeout: [String(timeoutSeconds)] },
        TimeoutSeconds: 600,
      })));
      commandId = out.Command?.CommandId;
      if (!commandId) throw new Error('SendCommand returned no command id');
    } catch (err) {
      if (awsErrorCode(err) !== 'InvalidInstanceId' || Date.now() > deadline) {
        const e = userFacing(err, `SSM SendCommand to ${instanceId}`);
        if (e instanceof ExitError) throw e;
        throw new ExitError(`SSM could not reach ${instanceId}: ${awsErrorCode(err)}`, 1, 'the instance needs the SSM agent and an instance profile with AmazonSSMManagedInstanceCore');
      }
      await sleep(ctx.timing.pollMs);
    }
  }
  for (;;) {
    await sleep(Math.min(ctx.timing.pollMs, 1000));
    try {
      const inv = await throttled(() => ctx.clients.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })));
      const status = inv.Status ?? 'Pending';
      if (!['Pending', 'InProgress', 'Delayed'].includes(status)) {
        return { status, stdout: inv.StandardOutputContent ?? '', stderr: inv.StandardErrorContent ?? '' };
      }
    } catch (err) {
      // the invocation is not visible for a moment after SendCommand
      if (awsErrorCode(err) !== 'InvocationDoesNotExist') throw userFacing(err, `SSM GetCommandInvocation on ${instanceId}`);
    }
    if (Date.now() > deadline + timeoutSeconds * 1000) return { status: 'TimedOut', stdout: '', stderr: 'trainctl stopped waiting for the command' };
  }
}

/** Starts the runner on one node through SSM; a delivery failure is tried again a few times. */
async function bootstrapNode(ctx: AwsLaunchContext, instanceId: string, task: Omit<RunnerTask, 'workDir'>, bundle: { runnerUrl: string; codeUrl: string }, spot: boolean): Promise<void> {
  const script = bootstrapScript({ task, runnerUrl: bundle.runnerUrl, codeUrl: bundle.codeUrl, spot });
  const comment = `trainctl ${task.project}/${task.trial} a${task.attempt} r${task.nodeRank}`;
  let last: InvocationEnd | undefined;
  for (let tries = 0; tries < 3; tries++) {
    last = await runShell(ctx, instanceId, script, comment, 900, Date.now() + ctx.timing.bootTimeoutMs);
    if (last.status === 'Success') {
      await throttled(() => ctx.clients.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: TAG.runner, Value: 'started' }] })));
      return;
    }
    // Failed with output is the script's own failure: sending it again would fail the same way
    if (last.status === 'Failed' && (last.stderr || last.stdout)) break;
  }
  const detail = (last?.stderr || last?.stdout || '').trim().split('\n').at(-1) ?? '';
  throw new ExitError(`the bootstrap on ${instanceId} ended ${last?.status}${detail ? `: ${detail}` : ''}`, 1, 'see the SSM command history of the instance; run apply again to retry');
}

export async function ensurePlacementGroup(c: AwsClients, name: string): Promise<void> {
  try {
    await throttled(() => c.ec2.send(new CreatePlacementGroupCommand({ GroupName: name, Strategy: 'cluster' })));
  } catch (err) {
    if (awsErrorCode(err) !== 'InvalidPlacementGroup.Duplicate') throw userFacing(err, `CreatePlacementGroup ${name}`);
  }
}

export async function launchAws(ctx: AwsLaunchContext, req: LaunchRequest): Promise<LaunchOutcome> {
  if (req.compute.provider !== 'aws') throw new Error(`aws provider asked to launch ${req.compute.provider} compute`);
  const compute = req.compute as Compute;
  const c = ctx.clients;
  const ranks = Array.from({ length: req.nodes }, (_, r) => r);
  let live: Map<number, Instance>;
  try {
    live = await liveNodes(c, req);
  } catch (err) {
    throw userFacing(err, `DescribeInstances in ${c.region}`);
  }
  const missing = ranks.filter((r) => !live.has(r));
  // adopted nodes whose bootstrap never ran (an apply killed half-way) are bootstrapped now
  const unbooted = ranks.filter((r) => live.has(r) && !tagsOf(live.get(r)!)[TAG.runner]);
  const resources = (m: Map<number, Instance>) => [...m.values()].map((i) => toResource(i)).filter((r): r is ObservedResource => r !== undefined);
  if (missing.length === 0 && unbooted.length === 0) return { kind: 'launched', resources: resources(live) };

  const imageId = await resolveImage(c, compute.ami);
  const bundle = await prepareBundle(req.task.storeUri, req.project, req.codeDir, req.task.checkpoint.dir, ctx.runnerPath);
  const placementGroup = compute.placementGroup ?? (req.nodes > 1 ? `trainctl-${req.project}-${req.trial}`.slice(0, 255) : undefined);
  if (placementGroup && !compute.placementGroup) await ensurePlacementGroup(c, placementGroup);

  const identity = (rank: number): NodeIdentity => ({ project: req.project, job: req.job, trial: req.trial, specHash: req.specHash, attempt: req.attempt, rank });
  const launched = new Map<number, { instance: Instance; market: Market }>();
  for (const rank of unbooted) {
    const i = live.get(rank)!;
    launched.set(rank, { instance: i, market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand' });
    live.delete(rank);
  }
  const results = await Promise.all(missing.map(async (rank) => ({ rank, r: await launchNode(ctx, compute, req, identity(rank), imageId, placementGroup) })));
  const short = results.filter((x) => x.r.kind === 'no-capacity');
  for (const { rank, r } of results) if (r.kind === 'launched') launched.set(rank, { instance: r.instance, market: r.market });
  if (short.length > 0) {
    // a multi-node group starts whole or not at all: half a group only burns money in rendezvous
    await terminateInstances(c, [...launched.values()].map((l) => l.instance.InstanceId!));
    return { kind: 'no-capacity', message: (short[0]!.r as { message: string }).message };
  }

  try {
    const running = await waitRunning(ctx, [...launched.values()].map((l) => l.instance.InstanceId!));
    const all = new Map<number, Instance>(live);
    for (const [rank, l] of launched) all.set(rank, running.get(l.instance.InstanceId!) ?? l.instance);
    const distributed = req.task.nodes > 1 || req.task.nprocPerNode > 1;
    const masterAddr = req.nodes > 1 ? all.get(0)?.PrivateIpAddress ?? '127.0.0.1' : '127.0.0.1';
    const backend = req.distributed.backend === 'auto' ? (hasGpus(compute.instanceType) ? 'nccl' : 'gloo') : req.distributed.backend;
    await Promise.all([...launched].map(async ([rank, l]) => {
      const task: Omit<RunnerTask, 'workDir'> = {
        ...req.task,
        nodeRank: rank,
        pricePerHour: await ctx.price(l.market),
        ...(distributed ? { distributed: { backend, masterAddr, masterPort: req.distributed.masterPort ?? 29500 } } : {}),
      };
      await bootstrapNode(ctx, l.instance.InstanceId!, task, bundle, l.market === 'spot');
    }));
    return { kind: 'launched', resources: resources(all) };
  } catch (err) {
    // nothing half-started is left behind: the instances this call started go, the trial is planned again
    await terminateInstances(c, [...launched.values()].map((l) => l.instance.InstanceId!)).catch(() => undefined);
    throw err;
  }
}

export async function terminateInstances(c: AwsClients, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    await throttled(() => c.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...ids] })));
  } catch (err) {
    if (classifyAwsError(err) !== 'not-found') throw userFacing(err, `TerminateInstances in ${c.region}`);
    // one unknown id fails the whole call: terminate the others one by one
    if (ids.length > 1) for (const id of ids) await terminateInstances(c, [id]);
  }
}

/**
 * Graceful stop: each runner gets SIGTERM through SSM and is waited for (it saves and uploads its
 * final checkpoint), then the instances are terminated and waited for until they are going.
 */
export async function stopAndTerminate(ctx: Pick<AwsLaunchContext, 'clients' | 'timing'>, ids: readonly string[]): Promise<void> {
  const c = ctx.clients;
  let instances: Instance[] = [];
  try {
    instances = await describe(c, ids);
  } catch (err) {
    if (classifyAwsError(err) !== 'not-found') throw userFacing(err, `DescribeInstances in ${c.region}`);
    instances = (await Promise.all(ids.map((id) => describe(c, [id]).catch(() => [])))).flat();
  }
  const running = instances.filter((i) => i.State?.Name === 'running').map((i) => i.InstanceId!);
  const waitSeconds = Math.ceil(ctx.timing.stopTimeoutMs / 1000);
  await Promise.all(running.map((id) => runShell(ctx, id, stopScript(waitSeconds), 'trainctl stop', waitSeconds + 60, Date.now() + 5000).catch(() => undefined)));
  const known = instances.filter((i) => i.State?.Name !== 'shutting-down' && i.State?.Name !== 'terminated').map((i) => i.InstanceId!);
  await terminateInstances(c, known);
  const deadline = Date.now() + 120_000;
  while (known.length && Date.now() < deadline) {
    const now = await describe(c, known).catch(() => []);
    if (now.every((i) => i.State?.Name === 'shutting-down' || i.State?.Name === 'terminated')) return;
    await sleep(ctx.timing.pollMs);
  }
}
