// The emulator as Debian's aws CLI (botocore) sees it: the same wire answers must parse there too,
// since the issue's demo and users' own scripts use it. Skipped only where /usr/bin/aws is absent.
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, ec2Client, ssmClient, until } from './helpers.js';
import { DEFAULT_AMI_ID, startEmulator, type Emulator } from './index.js';

const AWS = '/usr/bin/aws';
let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ pendingMs: 50, agentOnlineMs: 50 });
});
afterAll(async () => { await emu?.stop(); });

/** Runs the CLI without blocking the event loop (the emulator answers it from this process). */
async function aws(endpoint: string, args: string[]): Promise<unknown> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent',
    AWS_ACCESS_KEY_ID: emu.env.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: emu.env.AWS_SECRET_ACCESS_KEY!,
    AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_PAGER: '',
  };
  const { stdout } = await promisify(execFile)(AWS, ['--endpoint-url', endpoint, '--region', emu.region, '--output', 'json', ...args], { env });
  return JSON.parse(stdout);
}

async function runningInstance(tags: Record<string, string>): Promise<string> {
  const run = await ec2Client(emu).send(new RunInstancesCommand({
    ImageId: DEFAULT_AMI_ID, InstanceType: 'g5.xlarge', MinCount: 1, MaxCount: 1, InstanceMarketOptions: { MarketType: 'spot' },
    TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
  }));
  const id = run.Instances![0]!.InstanceId!;
  await until(() => emu.instances().find((i) => i.id === id)?.state === 'running', 'running');
  return id;
}

describe.skipIf(!existsSync(AWS))('Debian aws CLI', () => {
  it('ec2 describe-instances parses to the instance as launched', async () => {
    const id = await runningInstance({ 'trainctl:managed': 'true', 'trainctl:trial': 'cli-trial' });
    const out = await aws(emu.ec2Endpoint, ['ec2', 'describe-instances', '--filters', 'Name=tag:trainctl:trial,Values=cli-trial']) as {
      Reservations: { Instances: Record<string, unknown>[] }[];
    };
    expect(out.Reservations).toHaveLength(1);
    const inst = out.Reservations[0]!.Instances[0]!;
    expect(inst).toMatchObject({
      InstanceId: id, ImageId: DEFAULT_AMI_ID, InstanceType: 'g5.xlarge', State: { Code: 16, Name: 'running' }, InstanceLifecycle: 'spot',
      Placement: { AvailabilityZone: 'us-east-1a' }, PrivateIpAddress: '127.0.0.1',
    });
    expect(inst.Tags).toEqual(expect.arrayContaining([{ Key: 'trainctl:trial', Value: 'cli-trial' }, { Key: 'trainctl:managed', Value: 'true' }]));
    expect(Date.parse(inst.LaunchTime as string)).toBe(Date.parse(emu.instances().find((i) => i.id === id)!.launchTime));
  });

  it('ssm get-command-invocation parses to the finished invocation', async () => {
    const id = await runningInstance({ 'trainctl:managed': 'true' });
    await new Promise((r) => setTimeout(r, 100)); // agentOnlineMs
    const sent = await ssmClient(emu).send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [id], Parameters: { commands: ['echo "hello from $TRAINCTL_EMULATOR_INSTANCE"'] } }));
    const commandId = sent.Command!.CommandId!;
    const out = await until(async () => {
      const inv = await aws(emu.ssmEndpoint, ['ssm', 'get-command-invocation', '--command-id', commandId, '--instance-id', id]) as Record<string, unknown>;
      return inv.Status === 'Success' ? inv : undefined;
    }, 'Success through the CLI', 20_000);
    expect(out).toMatchObject({ CommandId: commandId, InstanceId: id, Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: `hello from ${id}\n` });
  });
});

describe('stop()', () => {
  it('kills the processes of every instance, closes the servers and removes the temp dir', async () => {
    const own = await startEmulator({ pendingMs: 10, agentOnlineMs: 10 });
    const run = await ec2Client(own).send(new RunInstancesCommand({ ImageId: DEFAULT_AMI_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    const id = run.Instances![0]!.InstanceId!;
    const inst = () => own.instances().find((i) => i.id === id)!;
    const ssm = ssmClient(own, 1);
    await until(() => ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [id], Parameters: { commands: ['setsid nohup sleep 30 >/dev/null 2>&1 & echo $! > bg.pid'] } })).catch(() => undefined), 'agent online');
    const pidFile = join(inst().dir, 'bg.pid');
    const pid = await until(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')), 'bg.pid');
    expect(alive(pid)).toBe(true);
    const { dir, imdsEndpoint } = inst();
    await own.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await expect(fetch(`${imdsEndpoint}/latest/api/token`, { method: 'PUT' })).rejects.toThrow();
    await expect(fetch(own.ec2Endpoint, { method: 'POST' })).rejects.toThrow();
  });
});
