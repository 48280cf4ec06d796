// The emulated RunPod account: pods and their containers (each pod's start command runs as a local
// process in the pod's own dir, found again through TRAINCTL_EMULATOR_INSTANCE=<pod id> like the
// EC2 emulator's instances), the GPU type catalog with prices, injected faults and the call log.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { INSTANCE_ENV, scanInstanceProcesses, signalInstances } from './processes.js';
import { WorldTimers } from './timers.js';

export interface GpuTypeSpec {
  id: string;
  displayName: string;
  memoryInGb: number;
  securePrice: number;
  communityPrice: number;
  /** Per GPU: the lowest bid an interruptible pod of this type is rented at now. */
  minimumBidPrice: number;
  maxGpuCount: number;
}

/** A few real GPU types with prices near RunPod's list (USD per GPU-hour). */
export const DEFAULT_GPU_TYPES: GpuTypeSpec[] = [
  { id: 'NVIDIA GeForce RTX 4090', displayName: 'RTX 4090', memoryInGb: 24, securePrice: 0.69, communityPrice: 0.34, minimumBidPrice: 0.2, maxGpuCount: 8 },
  { id: 'NVIDIA GeForce RTX 3090', displayName: 'RTX 3090', memoryInGb: 24, securePrice: 0.43, communityPrice: 0.22, minimumBidPrice: 0.11, maxGpuCount: 8 },
  { id: 'NVIDIA RTX A6000', displayName: 'RTX A6000', memoryInGb: 48, securePrice: 0.76, communityPrice: 0.49, minimumBidPrice: 0.25, maxGpuCount: 8 },
  { id: 'NVIDIA A40', displayName: 'A40', memoryInGb: 48, securePrice: 0.44, communityPrice: 0.39, minimumBidPrice: 0.2, maxGpuCount: 8 },
  { id: 'NVIDIA L40S', displayName: 'L40S', memoryInGb: 48, securePrice: 0.86, communityPrice: 0.79, minimumBidPrice: 0.4, maxGpuCount: 8 },
  { id: 'NVIDIA A100 80GB PCIe', displayName: 'A100 PCIe', memoryInGb: 80, securePrice: 1.64, communityPrice: 1.19, minimumBidPrice: 0.6, maxGpuCount: 8 },
  { id: 'NVIDIA H100 80GB HBM3', displayName: 'H100 SXM', memoryInGb: 80, securePrice: 2.99, communityPrice: 2.69, minimumBidPrice: 1.5, maxGpuCount: 8 },
];

export type PodStatus = 'RUNNING' | 'EXITED' | 'TERMINATED';
export type PodMarket = 'interruptible' | 'on-demand';

/** A pod as the emulator keeps it (the tests read snapshots of it through `pods()`). */
export interface EmulatedPod {
  id: string;
  name: string;
  desiredStatus: PodStatus;
  imageName: string;
  gpuTypeId: string;
  gpuCount: number;
  cloudType: 'SECURE' | 'COMMUNITY';
  market: PodMarket;
  bidPerGpu?: number;
  costPerHr: number;
  env: Record<string, string>;
  /** The start command as given: GraphQL dockerArgs, or REST dockerStartCmd joined with spaces. */
  dockerArgs: string;
  volumeInGb: number;
  containerDiskInGb: number;
  volumeMountPath: string;
  createdAt: string;
  lastStartedAt: string;
  lastStatusChange: string;
  /** The pod's dir: HOME and cwd of its start command, and its volume (TRAINCTL_POD_ROOT). */
  dir: string;
  /** Which API created it. */
  createdWith: 'podFindAndDeployOnDemand' | 'podRentInterruptable' | 'rest';
  /** How it left RUNNING, if it did: a stop, a delete, an eviction, or its start command ending. */
  endedBy?: 'stop' | 'delete' | 'evict' | 'exit';
  /** The start command's exit code or signal, once it has ended. */
  exit?: { code: number | null; signal: string | null };
}

export interface PodRecord extends EmulatedPod {
  /** The pod-scoped API key RunPod puts in the pod env as RUNPOD_API_KEY. */
  podKey: string;
  /** pid of the start command (the container's main process), while it runs. */
  mainPid?: number;
  /** Whether the container is up: started and its main process not yet ended. */
  up: boolean;
  startedAt?: number;
}

export interface NoCapacityRule { gpuType?: string; market?: PodMarket; times?: number }
export interface ApiErrorRule { api?: 'graphql' | 'rest'; status?: number; times: number }
export interface RateLimitRule { api?: 'graphql' | 'rest'; times: number }

export interface RunpodCall {
  api: 'graphql' | 'rest';
  /** GraphQL: the root field (`podFindAndDeployOnDemand`, `myself`, …); REST: `GET /pods`, `DELETE /pods/{id}`, … */
  operation: string;
  /** GraphQL: the root field's arguments; REST: the JSON body (and the path's pod id). */
  params: Record<string, unknown>;
  status: number;
  /** The error message answered, if any. */
  error?: string;
  /** Whether the pod-scoped key of a pod (not the account key) made the call. */
  podKey?: boolean;
  at: number;
}

export interface RunpodWorldOptions {
  dir: string;
  apiKey: string;
  gpuTypes: GpuTypeSpec[];
  /** Extra env of every pod's start command (the tests pass S3 endpoint + credentials here). */
  podEnv: Record<string, string>;
  /** From create until the start command runs (image pull). */
  startDelayMs: number;
  /** podStop / POST stop: SIGTERM to the main process, SIGKILL to all this long after. */
  stopGraceMs: number;
}

const CAPACITY_MESSAGE = 'There are no longer any instances available with the requested specifications. Please refresh and try again.';

/** A shell-like split of a start command into argv (quotes and backslashes), as Docker's CMD gets it. */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated quote in the start command');
      cur += cmd.slice(i + 1, end);
      i = end;
      has = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < cmd.length && cmd[j] !== '"'; j++) {
        if (cmd[j] === '\\' && j + 1 < cmd.length && '"\\$`'.includes(cmd[j + 1]!)) j++;
        cur += cmd[j];
      }
      if (j >= cmd.length) throw new Error('unterminated quote in the start command');
      i = j;
      has = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

export class RunpodWorld {
  readonly pods: PodRecord[] = [];
  readonly byId = new Map<string, PodRecord>();
  readonly calls: RunpodCall[] = [];
  private capacityRules: (NoCapacityRule & { left: number })[] = [];
  private errorRules: (ApiErrorRule & { left: number })[] = [];
  private rateRules: (RateLimitRule & { left: number })[] = [];
  private readonly timers = new WorldTimers();

  constructor(readonly opts: RunpodWorldOptions) {}

  get isStopped(): boolean {
    return this.timers.stopped;
  }

  schedule(ms: number, fn: () => void): void {
    this.timers.schedule(ms, fn);
  }

  gpuType(id: string): GpuTypeSpec | undefined {
    return this.opts.gpuTypes.find((g) => g.id === id);
  }

  /** The pod whose scoped key this is, or undefined (the account key, or no key of ours). */
  podOfKey(key: string): PodRecord | undefined {
    return this.pods.find((p) => p.podKey === key && p.desiredStatus !== 'TERMINATED');
  }

  /** Listed pods: deleted ones are history (`pods()` still shows them, the API does not). */
  listed(): PodRecord[] {
    return this.pods.filter((p) => p.desiredStatus !== 'TERMINATED');
  }

  /**
   * Creates a pod and schedules its container; throws the answer RunPod gives for a request it
   * cannot place (no capacity, an unknown GPU type, a bid under the minimum) as an Error.
   */
  create(input: {
    name: string; imageName: string; gpuTypeId: string; gpuCount: number; cloudType: string; market: PodMarket; bidPerGpu?: number;
    env: Record<string, string>; dockerArgs: string; volumeInGb: number; containerDiskInGb: number; volumeMountPath: string;
    createdWith: EmulatedPod['createdWith'];
  }): PodRecord {
    const type = this.gpuType(input.gpuTypeId);
    if (!type) throw new Error(`Invalid GPU type: "${input.gpuTypeId}" does not exist`);
    if (!Number.isInteger(input.gpuCount) || input.gpuCount < 1 || input.gpuCount > type.maxGpuCount) {
      throw new Error(`gpuCount must be between 1 and ${type.maxGpuCount} for ${type.id}`);
    }
    if (this.takeCapacity(type.id, input.market)) throw new Error(CAPACITY_MESSAGE);
    if (input.market === 'interruptible') {
      if (input.bidPerGpu === undefined) throw new Error('bidPerGpu is required for an interruptible pod');
      if (input.bidPerGpu < type.minimumBidPrice) throw new Error(`Your bid price ($${input.bidPerGpu}/GPU) is too low: the minimum bid for ${type.id} is $${type.minimumBidPrice}/GPU.`);
    }
    const cloudType = input.cloudType === 'SECURE' ? 'SECURE' : 'COMMUNITY';
    const perGpu = input.market === 'interruptible' ? input.bidPerGpu! : cloudType === 'SECURE' ? type.securePrice : type.communityPrice;
    const id = randomBytes(7).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, 'x').slice(0, 14);
    const now = new Date();
    const pod: PodRecord = {
      id, name: input.name, desiredStatus: 'RUNNING', imageName: input.imageName, gpuTypeId: type.id, gpuCount: input.gpuCount,
      cloudType, market: input.market, ...(input.bidPerGpu !== undefined && input.market === 'interruptible' ? { bidPerGpu: input.bidPerGpu } : {}),
      costPerHr: Math.round(perGpu * input.gpuCount * 1000) / 1000, env: { ...input.env }, dockerArgs: input.dockerArgs,
      volumeInGb: input.volumeInGb, containerDiskInGb: input.containerDiskInGb, volumeMountPath: input.volumeMountPath,
      createdAt: now.toISOString(), lastStartedAt: now.toISOString(), lastStatusChange: `Rented by User: ${now.toUTCString()}`,
      dir: join(this.opts.dir, id), createdWith: input.createdWith,
      podKey: `rpa_POD${randomBytes(12).toString('hex').toUpperCase()}`, up: false,
    };
    mkdirSync(pod.dir, { recursive: true });
    this.pods.push(pod);
    this.byId.set(id, pod);
    this.schedule(this.opts.startDelayMs, () => this.startContainer(pod));
    return pod;
  }

  private startContainer(pod: PodRecord): void {
    if (pod.desiredStatus !== 'RUNNING') return;
    // an image without a start command of its own idles, as runpod/pytorch's does
    const argv = pod.dockerArgs.trim() ? splitCommand(pod.dockerArgs) : ['sleep', '86400'];
    const log = openSync(join(pod.dir, 'container.log'), 'a');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: pod.dir,
      ...this.opts.podEnv,
      ...pod.env,
      RUNPOD_POD_ID: pod.id,
      RUNPOD_API_KEY: pod.podKey,
      RUNPOD_GPU_COUNT: String(pod.gpuCount),
      // the pod volume (volumeMountPath, /workspace) is the pod's dir here
      TRAINCTL_POD_ROOT: pod.dir,
      [INSTANCE_ENV]: pod.id,
    };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: pod.dir, env, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    pod.mainPid = child.pid;
    pod.up = true;
    pod.startedAt = Date.now();
    child.on('error', () => this.containerEnded(pod, 127, null));
    child.on('exit', (code, signal) => this.containerEnded(pod, code, signal));
  }

  /**
   * The main process ended. RunPod would restart the container; the emulator does not, so a
   * start command that ends on its own leaves its pod EXITED (and a test sees that it did).
   */
  private containerEnded(pod: PodRecord, code: number | null, signal: string | null): void {
    pod.up = false;
    pod.exit = { code, signal };
    delete pod.mainPid;
    if (this.timers.stopped) return;
    // whatever the main process left behind goes with the container
    signalInstances(new Set([pod.id]), [], 'SIGKILL');
    if (pod.desiredStatus === 'RUNNING') {
      pod.desiredStatus = 'EXITED';
      pod.endedBy = 'exit';
      pod.lastStatusChange = `Exited with code ${code ?? signal}: ${new Date().toUTCString()}`;
    }
  }

  /** Docker's stop: SIGTERM to the main process only, SIGKILL to everything after `graceMs`. */
  private stopContainer(pod: PodRecord, graceMs: number): void {
    if (!pod.up) return;
    if (graceMs <= 0) {
      signalInstances(new Set([pod.id]), pod.mainPid ? [pod.mainPid] : [], 'SIGKILL');
      return;
    }
    if (pod.mainPid) {
      try {
        process.kill(pod.mainPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    this.schedule(graceMs, () => {
      if (pod.up || scanInstanceProcesses(new Set([pod.id])).size) signalInstances(new Set([pod.id]), pod.mainPid ? [pod.mainPid] : [], 'SIGKILL');
    });
  }

  stop(pod: PodRecord): void {
    if (pod.desiredStatus !== 'RUNNING') return;
    pod.desiredStatus = 'EXITED';
    pod.endedBy = 'stop';
    pod.lastStatusChange = `Exited by user: ${new Date().toUTCString()}`;
    this.stopContainer(pod, this.opts.stopGraceMs);
  }

  /** podTerminate / DELETE: the pod and its volume go at once, and its processes with them. */
  remove(pod: PodRecord): void {
    if (pod.desiredStatus === 'TERMINATED') return;
    pod.desiredStatus = 'TERMINATED';
    pod.endedBy ??= 'delete';
    pod.lastStatusChange = `Terminated by user: ${new Date().toUTCString()}`;
    signalInstances(new Set([pod.id]), pod.mainPid ? [pod.mainPid] : [], 'SIGKILL');
  }

  /**
   * An interruptible pod taken away: SIGTERM to the main process, SIGKILL after `graceMs` (RunPod
   * gives about 5 s; 0 kills at once), and the pod stays listed as EXITED with its volume.
   */
  evict(podId: string, graceMs = 5000): void {
    const pod = this.byId.get(podId);
    if (!pod) throw new Error(`emulator: no pod ${podId}`);
    if (pod.desiredStatus !== 'RUNNING') return;
    pod.desiredStatus = 'EXITED';
    pod.endedBy = 'evict';
    pod.lastStatusChange = `Exited by RunPod: the interruptible pod was outbid: ${new Date().toUTCString()}`;
    this.stopContainer(pod, graceMs);
  }

  // ---- faults

  addNoCapacity(rule: NoCapacityRule): void {
    this.capacityRules.push({ ...rule, left: rule.times ?? Infinity });
  }

  addApiError(rule: ApiErrorRule): void {
    this.errorRules.push({ ...rule, left: rule.times });
  }

  addRateLimit(rule: RateLimitRule): void {
    this.rateRules.push({ ...rule, left: rule.times });
  }

  clearFaults(): void {
    this.capacityRules = [];
    this.errorRules = [];
    this.rateRules = [];
  }

  private takeCapacity(gpuType: string, market: PodMarket): boolean {
    const rule = this.capacityRules.find((r) => r.left > 0 && (r.gpuType === undefined || r.gpuType === gpuType) && (r.market === undefined || r.market === market));
    if (!rule) return false;
    rule.left--;
    return true;
  }

  /** The HTTP status a request meets before it is served (429 or 5xx), consuming one use of the rule. */
  takeHttpFault(api: 'graphql' | 'rest'): number | undefined {
    const rate = this.rateRules.find((r) => r.left > 0 && (r.api === undefined || r.api === api));
    if (rate) {
      rate.left--;
      return 429;
    }
    const err = this.errorRules.find((r) => r.left > 0 && (r.api === undefined || r.api === api));
    if (err) {
      err.left--;
      return err.status ?? 500;
    }
    return undefined;
  }

  // ---- teardown

  async stopAll(): Promise<void> {
    this.timers.stop();
    const ids = new Set(this.pods.map((p) => p.id));
    const groups = this.pods.flatMap((p) => (p.mainPid ? [p.mainPid] : []));
    for (let i = 0; i < 60 && signalInstances(ids, groups, 'SIGKILL') > 0; i++) await new Promise((r) => setTimeout(r, 50));
    if (scanInstanceProcesses(ids).size > 0) throw new Error('emulator: pod processes survived SIGKILL');
  }
}
