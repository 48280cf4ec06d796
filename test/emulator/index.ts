// A wire-level AWS emulator for tests and demos (DESIGN §6): EC2 Query API, SSM JSON 1.1 and a per-instance
// IMDSv2 on 127.0.0.1, which the real SDK clients and the aws CLI talk to; instances run their SSM
// commands as local processes in their own directories; faults are injected through `faults`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ec2Handler } from './ec2.js';
import { close, listen } from './http.js';
import { ssmHandler } from './ssm.js';
import type { Emulator, EmulatedInstance, EmulatorOptions } from './types.js';
import { World, type InstanceRecord } from './world.js';

export type * from './types.js';

export const EMULATOR_CREDENTIALS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

/** Spot prices (USD/h) of the types the tests use; any other type costs 0.1 unless `spotPrices` says otherwise. */
export const DEFAULT_SPOT_PRICES: Record<string, number> = {
  't3.micro': 0.0031,
  'c5.large': 0.0354,
  'g5.xlarge': 0.4024,
  'g5.12xlarge': 2.1842,
  'p4d.24xlarge': 9.8318,
};

export const DEFAULT_AMI_ID = 'ami-0123456789abcdef0';
export const DEFAULT_PARAMETERS: Record<string, string> = {
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id': DEFAULT_AMI_ID,
  '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id': 'ami-0fedcba9876543210',
};

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const madeDir = opts.dir === undefined ? mkdtempSync(join(tmpdir(), 'trainctl-emulator-')) : undefined;
  const region = opts.region ?? 'us-east-1';
  const world = new World({
    dir: resolve(opts.dir ?? madeDir!),
    region,
    pendingMs: opts.pendingMs ?? 300,
    agentOnlineMs: opts.agentOnlineMs ?? 200,
    shuttingDownMs: opts.shuttingDownMs ?? 300,
    privateIp: opts.privateIp ?? '127.0.0.1',
    instanceEnv: opts.instanceEnv ?? {},
    spotPrices: { ...DEFAULT_SPOT_PRICES, ...opts.spotPrices },
    parameters: { ...DEFAULT_PARAMETERS, ...opts.parameters },
  });
  const ec2 = await listen(ec2Handler(world));
  const ssm = await listen(ssmHandler(world));
  let stopping: Promise<void> | undefined;

  return {
    ec2Endpoint: ec2.endpoint,
    ssmEndpoint: ssm.endpoint,
    region,
    env: {
      AWS_ENDPOINT_URL_EC2: ec2.endpoint,
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region, // the aws CLI v1 reads only this one
    },
    instanceEnv: world.opts.instanceEnv,
    instances: () => world.instances.map(snapshot),
    calls: world.calls,
    faults: {
      capacity: (rule) => world.addCapacityRule(rule),
      throttle: (rule) => world.addThrottleRule(rule),
      interrupt: (id, o) => world.interrupt(id, o?.noticeMs),
      ssmFailure: (rule) => world.addSsmFailureRule(rule),
      slowPending: (ms) => world.slowPending(ms),
      clear: () => world.clearFaults(),
    },
    seed: (n, tags, o) => world.seed(n, tags, o),
    stop: () => {
      stopping ??= (async () => {
        try {
          await world.stop();
        } finally {
          await Promise.all([close(ec2.server), close(ssm.server)]);
          if (madeDir) rmSync(madeDir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}

/** The public view of an instance, detached from the live record. */
function snapshot(i: InstanceRecord): EmulatedInstance {
  return {
    id: i.id, state: i.state, instanceType: i.instanceType, market: i.market, az: i.az, imageId: i.imageId,
    tags: { ...i.tags }, volumeTags: { ...i.volumeTags }, launchTime: i.launchTime, privateIp: i.privateIp,
    dir: i.dir, imdsEndpoint: i.imdsEndpoint, securityGroupIds: [...i.securityGroupIds],
    ...(i.clientToken !== undefined ? { clientToken: i.clientToken } : {}),
    ...(i.placementGroup !== undefined ? { placementGroup: i.placementGroup } : {}),
    ...(i.userData !== undefined ? { userData: i.userData } : {}),
    ...(i.subnetId !== undefined ? { subnetId: i.subnetId } : {}),
    ...(i.keyName !== undefined ? { keyName: i.keyName } : {}),
    ...(i.iamInstanceProfile !== undefined ? { iamInstanceProfile: i.iamInstanceProfile } : {}),
    ...(i.spotMaxPrice !== undefined ? { spotMaxPrice: i.spotMaxPrice } : {}),
    ...(i.stateReason !== undefined ? { stateReason: i.stateReason } : {}),
  };
}
