// The emulated account's state, shared by the EC2, SSM and IMDS front ends: instances and their
// lifecycle timers, placement groups, client tokens, injected faults and the call log.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { close } from './http.js';
import { startImds } from './imds.js';
import { scanInstanceProcesses, signalInstances } from './processes.js';
import type { ApiCall, CapacityRule, EmulatedInstance, InstanceState, Market, SeedOptions, SsmFailureRule, ThrottleRule } from './types.js';
import { WorldTimers } from './timers.js';

export const ACCOUNT_ID = '123456789012';

/** An error answered on the wire: EC2 XML `<Code>` or SSM JSON `__type`. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

export interface InstanceRecord extends EmulatedInstance {
  seq: number;
  reservationId: string;
  launchIndex: number;
  /** MetadataOptions.InstanceMetadataTags=enabled: IMDS serves tags/instance/. */
  metadataTags: boolean;
  stateTransitionReason: string;
  stateReasonMessage?: string;
  /** When SSM starts accepting commands for it (Infinity until running). */
  agentOnlineAt: number;
  interruption?: { action: 'terminate'; time: string };
  imds?: Server;
  imdsStarting?: Promise<void>;
  /** Process groups spawned for its SSM commands. */
  groups: Set<number>;
  /** Whether any process was ever started for it (only those are looked for in /proc). */
  spawned: boolean;
}

/** What RunInstances asked for: an instance's launch fields, and how many. */
export type LaunchSpec = Pick<EmulatedInstance, 'imageId' | 'instanceType' | 'market' | 'az' | 'tags' | 'volumeTags' | 'clientToken' | 'placementGroup'
  | 'userData' | 'subnetId' | 'securityGroupIds' | 'keyName' | 'iamInstanceProfile' | 'spotMaxPrice'> & { count: number; metadataTags: boolean };

export interface PlacementGroupRecord { name: string; id: string; strategy: string; partitionCount?: number; tags: Record<string, string> }

export interface WorldOptions {
  dir: string;
  region: string;
  pendingMs: number;
  agentOnlineMs: number;
  shuttingDownMs: number;
  privateIp: string;
  instanceEnv: Record<string, string>;
  spotPrices: Record<string, number>;
  parameters: Record<string, string>;
}

export const STATE_CODES: Record<InstanceState, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };

export function hexId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export class World {
  readonly instances: InstanceRecord[] = [];
  readonly byId = new Map<string, InstanceRecord>();
  readonly placementGroups = new Map<string, PlacementGroupRecord>();
  /** ClientToken → the request it was first used with and what that request launched. */
  readonly clientTokens = new Map<string, { request: string; reservationId: string; ids: string[] }>();
  readonly calls: ApiCall[] = [];
  readonly azs: string[];
  private capacityRules: (CapacityRule & { code: string; left: number })[] = [];
  private throttleRules: (ThrottleRule & { left: number })[] = [];
  private ssmFailureRules: (SsmFailureRule & { left: number })[] = [];
  private pendingOverride: number | undefined;
  private readonly timers = new WorldTimers();
  private seq = 0;

  get isStopped(): boolean {
    return this.timers.stopped;
  }

  constructor(readonly opts: WorldOptions) {
    this.azs = ['a', 'b', 'c'].map((s) => `${opts.region}${s}`);
  }

  record(service: ApiCall['service'], action: string, params: Record<string, unknown>, error?: string): void {
    this.calls.push({ service, action, params, ...(error ? { error } : {}), at: Date.now() });
  }

  schedule(ms: number, fn: () => void): void {
    this.timers.schedule(ms, fn);
  }

  /** Creates the instances (synchronously, so a concurrent request with the same ClientToken sees them), then starts their IMDS. */
  launch(spec: LaunchSpec): { reservationId: string; instances: InstanceRecord[]; ready: Promise<void> } {
    const reservationId = hexId('r');
    const pendingMs = this.pendingOverride ?? this.opts.pendingMs;
    const launched: InstanceRecord[] = [];
    for (let i = 0; i < spec.count; i++) {
      const inst = this.newRecord(reservationId, i, spec, 'pending');
      mkdirSync(inst.dir, { recursive: true });
      launched.push(inst);
      this.schedule(pendingMs, () => {
        if (inst.state !== 'pending') return;
        inst.state = 'running';
        inst.agentOnlineAt = Date.now() + this.opts.agentOnlineMs;
      });
    }
    const ready = Promise.all(launched.map((inst) => this.ensureImds(inst))).then(() => undefined);
    return { reservationId, instances: launched, ready };
  }

  seed(n: number, tags: (i: number) => Record<string, string>, opts: SeedOptions = {}): void {
    const state = opts.state ?? 'running';
    for (let i = 0; i < n; i++) {
      const inst = this.newRecord(hexId('r'), 0, {
        imageId: 'ami-0123456789abcdef0', instanceType: opts.instanceType ?? 'g5.xlarge', market: opts.market ?? 'on-demand',
        az: opts.az ?? this.azs[0]!, count: 1, tags: tags(i), volumeTags: {}, securityGroupIds: [], metadataTags: false,
      }, state);
      if (state === 'running') inst.agentOnlineAt = 0;
    }
  }

  private newRecord(reservationId: string, launchIndex: number, spec: LaunchSpec, state: InstanceState): InstanceRecord {
    const id = hexId('i');
    const inst: InstanceRecord = {
      id, state, instanceType: spec.instanceType, market: spec.market, az: spec.az, imageId: spec.imageId,
      tags: { ...spec.tags }, volumeTags: { ...spec.volumeTags }, launchTime: new Date().toISOString(), privateIp: this.opts.privateIp,
      dir: join(this.opts.dir, id), imdsEndpoint: '', securityGroupIds: spec.securityGroupIds,
      ...(spec.clientToken !== undefined ? { clientToken: spec.clientToken } : {}),
      ...(spec.placementGroup !== undefined ? { placementGroup: spec.placementGroup } : {}),
      ...(spec.userData !== undefined ? { userData: spec.userData } : {}),
      ...(spec.subnetId !== undefined ? { subnetId: spec.subnetId } : {}),
      ...(spec.keyName !== undefined ? { keyName: spec.keyName } : {}),
      ...(spec.iamInstanceProfile !== undefined ? { iamInstanceProfile: spec.iamInstanceProfile } : {}),
      ...(spec.spotMaxPrice !== undefined ? { spotMaxPrice: spec.spotMaxPrice } : {}),
      seq: this.seq++, reservationId, launchIndex, metadataTags: spec.metadataTags, stateTransitionReason: '',
      agentOnlineAt: Infinity, groups: new Set(), spawned: false,
    };
    this.instances.push(inst);
    this.byId.set(id, inst);
    return inst;
  }

  /** Starts the instance's IMDS server once (seeded instances get theirs lazily). */
  ensureImds(inst: InstanceRecord): Promise<void> {
    inst.imdsStarting ??= startImds(this, inst).then(({ server, endpoint }) => {
      inst.imds = server;
      inst.imdsEndpoint = endpoint;
      // terminated (or the emulator stopped) while it was starting
      if (inst.state === 'terminated' || this.timers.stopped) void close(server);
    });
    return inst.imdsStarting;
  }

  /** → shutting-down (SIGTERM to its processes), then after shuttingDownMs → terminated (SIGKILL, IMDS closed). */
  beginShutdown(inst: InstanceRecord, reason: 'Client.UserInitiatedShutdown' | 'Server.SpotInstanceTermination'): void {
    if (inst.state === 'shutting-down' || inst.state === 'terminated') return;
    inst.state = 'shutting-down';
    inst.agentOnlineAt = Infinity;
    inst.stateReason = reason;
    inst.stateReasonMessage = reason === 'Client.UserInitiatedShutdown'
      ? 'Client.UserInitiatedShutdown: User initiated shutdown'
      : 'Server.SpotInstanceTermination: Spot instance termination';
    inst.stateTransitionReason = reason === 'Client.UserInitiatedShutdown'
      ? `User initiated (${new Date().toISOString().replace('T', ' ').slice(0, 19)} GMT)`
      : 'Service initiated';
    if (inst.spawned) signalInstances(new Set([inst.id]), inst.groups, 'SIGTERM');
    this.schedule(this.opts.shuttingDownMs, () => {
      inst.state = 'terminated';
      if (inst.spawned) signalInstances(new Set([inst.id]), inst.groups, 'SIGKILL');
      if (inst.imds) void close(inst.imds);
    });
  }

  interrupt(instanceId: string, noticeMs = 2000): void {
    const inst = this.byId.get(instanceId);
    if (!inst) throw new Error(`emulator: no instance ${instanceId}`);
    if (inst.state === 'shutting-down' || inst.state === 'terminated' || inst.interruption) return;
    inst.interruption = { action: 'terminate', time: new Date(Date.now() + noticeMs).toISOString().replace(/\.\d{3}Z$/, 'Z') };
    this.schedule(noticeMs, () => this.beginShutdown(inst, 'Server.SpotInstanceTermination'));
  }

  // ---- faults

  addCapacityRule(rule: CapacityRule): void {
    this.capacityRules.push({ ...rule, code: rule.code ?? 'InsufficientInstanceCapacity', left: rule.times ?? Infinity });
  }

  addThrottleRule(rule: ThrottleRule): void {
    this.throttleRules.push({ ...rule, left: rule.times });
  }

  addSsmFailureRule(rule: SsmFailureRule): void {
    this.ssmFailureRules.push({ ...rule, left: rule.times });
  }

  slowPending(ms: number): void {
    this.pendingOverride = ms;
  }

  clearFaults(): void {
    this.capacityRules = [];
    this.throttleRules = [];
    this.ssmFailureRules = [];
    this.pendingOverride = undefined;
  }

  /** The capacity error a RunInstances request meets, consuming one use of the rule. */
  takeCapacityFault(market: Market, instanceType: string, az: string): string | undefined {
    const rule = this.capacityRules.find((r) => r.left > 0 && (r.market === undefined || r.market === market)
      && (r.instanceType === undefined || r.instanceType === instanceType) && (r.az === undefined || r.az === az));
    if (!rule) return undefined;
    rule.left--;
    return rule.code;
  }

  takeThrottle(service: 'ec2' | 'ssm', action: string): boolean {
    const rule = this.throttleRules.find((r) => r.left > 0 && (r.service === undefined || r.service === service) && (r.action === undefined || r.action === action));
    if (!rule) return false;
    rule.left--;
    return true;
  }

  /** Which instances of a SendCommand get a failed delivery, and with what status. */
  takeSsmFailure(instanceIds: string[]): { status: 'Failed' | 'Undeliverable'; instanceId?: string } | undefined {
    const rule = this.ssmFailureRules.find((r) => r.left > 0 && (r.instanceId === undefined || instanceIds.includes(r.instanceId)));
    if (!rule) return undefined;
    rule.left--;
    return { status: rule.status ?? 'Failed', ...(rule.instanceId ? { instanceId: rule.instanceId } : {}) };
  }

  spotPrice(instanceType: string): number {
    return this.opts.spotPrices[instanceType] ?? 0.1;
  }

  // ---- teardown

  async stop(): Promise<void> {
    this.timers.stop();
    const spawned = this.instances.filter((i) => i.spawned);
    const ids = new Set(spawned.map((i) => i.id));
    const groups = spawned.flatMap((i) => [...i.groups]);
    // SIGKILL until nothing is left: a process may fork between a scan and its signal.
    for (let i = 0; i < 60 && signalInstances(ids, groups, 'SIGKILL') > 0; i++) await new Promise((r) => setTimeout(r, 50));
    if (scanInstanceProcesses(ids).size > 0) throw new Error('emulator: instance processes survived SIGKILL');
    await Promise.all(this.instances.map(async (inst) => {
      await inst.imdsStarting?.catch(() => undefined);
      if (inst.imds) await close(inst.imds);
    }));
  }
}
