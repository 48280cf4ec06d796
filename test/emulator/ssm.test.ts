// The emulator's SSM Run Command and Parameter Store through the real SSMClient, the per-instance
// IMDSv2, and the processes of an instance: they run for real, outlive the invocation when put in
// the background, and die with the instance.
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, GetParameterCommand, ListCommandInvocationsCommand, SendCommandCommand, type GetCommandInvocationCommandOutput } from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, awsError, ec2Client, ssmClient, until } from './helpers.js';
import { DEFAULT_AMI_ID, startEmulator, type Emulator } from './index.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ pendingMs: 50, agentOnlineMs: 150, shuttingDownMs: 500, instanceEnv: { TRAINCTL_TEST_MARK: 'from-instance-env' } });
});
afterAll(async () => { await emu?.stop(); });

/** A running instance whose agent is online. */
async function launch(opts: { spot?: boolean } = {}): Promise<string> {
  const run = await ec2Client(emu).send(new RunInstancesCommand({
    ImageId: DEFAULT_AMI_ID, InstanceType: 'c5.large', MinCount: 1, MaxCount: 1,
    ...(opts.spot ? { InstanceMarketOptions: { MarketType: 'spot' } } : {}),
  }));
  const id = run.Instances![0]!.InstanceId!;
  await until(() => emu.instances().find((i) => i.id === id)?.state === 'running', 'running');
  await new Promise((r) => setTimeout(r, 200)); // agentOnlineMs
  return id;
}

async function runScript(id: string, commands: string[], executionTimeout = '60'): Promise<{ commandId: string; out: GetCommandInvocationCommandOutput }> {
  const ssm = ssmClient(emu);
  const sent = await ssm.send(new SendCommandCommand({
    DocumentName: 'AWS-RunShellScript', InstanceIds: [id], Comment: 'test', Parameters: { commands, executionTimeout: [executionTimeout] },
  }));
  expect(sent.Command?.Status).toBe('Pending');
  const commandId = sent.Command!.CommandId!;
  const out = await until(async () => {
    const inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: id }));
    return ['Pending', 'InProgress', 'Delayed'].includes(inv.Status!) ? undefined : inv;
  }, `command ${commandId}`);
  return { commandId, out };
}

describe('SSM Run Command', () => {
  it('runs the script as a real process in the instance dir, with its env, and reports its output', async () => {
    const id = await launch();
    const inst = emu.instances().find((i) => i.id === id)!;
    const { out } = await runScript(id, ['set -e', 'echo "$TRAINCTL_TEST_MARK $TRAINCTL_EMULATOR_INSTANCE" > marker.txt', 'pwd', 'echo "$HOME"', 'echo to-stderr >&2', 'echo "$AWS_EC2_METADATA_SERVICE_ENDPOINT"']);
    expect(out).toMatchObject({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardErrorContent: 'to-stderr\n', PluginName: 'aws:runShellScript' });
    expect(out.StandardOutputContent).toBe(`${inst.dir}\n${inst.dir}\n${inst.imdsEndpoint}\n`);
    expect(readFileSync(join(inst.dir, 'marker.txt'), 'utf8')).toBe(`from-instance-env ${id}\n`);
    expect(Date.parse(out.ExecutionEndDateTime!)).toBeGreaterThanOrEqual(Date.parse(out.ExecutionStartDateTime!));

    const failed = await runScript(id, ['echo partial', 'exit 3']);
    expect(failed.out).toMatchObject({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3, StandardOutputContent: 'partial\n' });
    const list = await ssmClient(emu).send(new ListCommandInvocationsCommand({ CommandId: failed.commandId, Details: true }));
    expect(list.CommandInvocations?.[0]).toMatchObject({ InstanceId: id, Status: 'Failed', CommandPlugins: [{ Name: 'aws:runShellScript', ResponseCode: 3, Output: 'partial\n' }] });
  });

  it('truncates stdout at 24,000 and stderr at 8,000 characters', async () => {
    const id = await launch();
    const { out } = await runScript(id, ["head -c 30000 /dev/zero | tr '\\0' a", "head -c 9000 /dev/zero | tr '\\0' b >&2"]);
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe('a'.repeat(24_000));
    expect(out.StandardErrorContent).toBe('b'.repeat(8_000));
  });

  it('answers InvalidInstanceId until the agent is online, and for unknown instances', async () => {
    // its own emulator with slow boot and agent, so that the refusals below do not depend on machine load
    const slow = await startEmulator({ pendingMs: 500, agentOnlineMs: 1000 });
    try {
      const run = await ec2Client(slow).send(new RunInstancesCommand({ ImageId: DEFAULT_AMI_ID, InstanceType: 'c5.large', MinCount: 1, MaxCount: 1 }));
      const id = run.Instances![0]!.InstanceId!;
      const ssm = ssmClient(slow, 1);
      const send = () => ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [id], Parameters: { commands: ['true'] } }));
      expect(await awsError(send())).toMatchObject({ name: 'InvalidInstanceId', status: 400 }); // pending
      await until(() => slow.instances().find((i) => i.id === id)?.state === 'running', 'running');
      expect((await awsError(send())).name).toBe('InvalidInstanceId'); // running, agent not yet registered
      const sent = await until(() => send().catch(() => undefined), 'agent online');
      expect(sent.Command?.InstanceIds).toEqual([id]);
      expect((await awsError(ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-0000000000000dead'], Parameters: { commands: ['true'] } })))).name).toBe('InvalidInstanceId');
      expect((await awsError(ssm.send(new GetCommandInvocationCommand({ CommandId: sent.Command!.CommandId!, InstanceId: 'i-0000000000000dead' })))).name).toBe('InvocationDoesNotExist');
    } finally {
      await slow.stop();
    }
  });

  it('kills a script past executionTimeout and reports TimedOut', async () => {
    const id = await launch();
    const started = Date.now();
    const { out } = await runScript(id, ['echo started', 'sleep 30'], '1');
    expect(out).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: 137, StandardOutputContent: 'started\n' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('ends Success when bash exits while a setsid nohup background process keeps running, which TerminateInstances kills', async () => {
    const id = await launch();
    const inst = emu.instances().find((i) => i.id === id)!;
    const { out } = await runScript(id, ['setsid nohup sleep 30 > bg.log 2>&1 &', 'echo $! > bg.pid', 'echo launched']);
    expect(out).toMatchObject({ Status: 'Success', StandardOutputContent: 'launched\n' });
    const pid = Number(readFileSync(join(inst.dir, 'bg.pid'), 'utf8'));
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')).toContain(`TRAINCTL_EMULATOR_INSTANCE=${id}`);

    await ec2Client(emu).send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await until(() => !alive(pid), 'background process killed');
    expect(emu.instances().find((i) => i.id === id)!.state).toBe('shutting-down'); // SIGTERM came with shutting-down
    await until(() => emu.instances().find((i) => i.id === id)!.state === 'terminated', 'terminated');
  });

  it('accepts a command and then fails its delivery for ssmFailure, and throttles with ThrottlingException', async () => {
    const id = await launch();
    emu.faults.ssmFailure({ instanceId: id, times: 1, status: 'Undeliverable' });
    const { out } = await runScript(id, ['touch should-not-exist']);
    expect(out).toMatchObject({ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 });
    expect(() => readFileSync(join(emu.instances().find((i) => i.id === id)!.dir, 'should-not-exist'))).toThrow();
    expect((await runScript(id, ['true'])).out.Status).toBe('Success'); // used up

    emu.faults.throttle({ service: 'ssm', action: 'GetParameter', times: 1 });
    const name = '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';
    expect(await awsError(ssmClient(emu, 1).send(new GetParameterCommand({ Name: name })))).toMatchObject({ name: 'ThrottlingException', status: 400 });
    expect(emu.calls.at(-1)).toMatchObject({ service: 'ssm', action: 'GetParameter', error: 'ThrottlingException', params: { Name: name } });
  });

  it('resolves AMI aliases with GetParameter', async () => {
    const ssm = ssmClient(emu, 1);
    const out = await ssm.send(new GetParameterCommand({ Name: '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id' }));
    expect(out.Parameter).toMatchObject({ Type: 'String', Value: DEFAULT_AMI_ID, Version: 1 });
    expect((await awsError(ssm.send(new GetParameterCommand({ Name: '/no/such/parameter' })))).name).toBe('ParameterNotFound');
  });
});

describe('IMDSv2', () => {
  async function imds(endpoint: string, path: string, token?: string): Promise<{ status: number; body: string }> {
    const res = await fetch(endpoint + path, { headers: token ? { 'x-aws-ec2-metadata-token': token } : {} });
    return { status: res.status, body: await res.text() };
  }

  it('needs a session token and answers identity and placement', async () => {
    const id = await launch({ spot: true });
    const { imdsEndpoint } = emu.instances().find((i) => i.id === id)!;
    expect((await imds(imdsEndpoint, '/latest/meta-data/instance-id')).status).toBe(401);
    expect((await fetch(`${imdsEndpoint}/latest/api/token`, { method: 'PUT' })).status).toBe(400); // no TTL header
    const token = await (await fetch(`${imdsEndpoint}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
    expect((await imds(imdsEndpoint, '/latest/meta-data/instance-id', 'forged')).status).toBe(401);
    expect(await imds(imdsEndpoint, '/latest/meta-data/instance-id', token)).toEqual({ status: 200, body: id });
    expect((await imds(imdsEndpoint, '/latest/meta-data/instance-type', token)).body).toBe('c5.large');
    expect((await imds(imdsEndpoint, '/latest/meta-data/local-ipv4', token)).body).toBe('127.0.0.1');
    expect((await imds(imdsEndpoint, '/latest/meta-data/placement/availability-zone', token)).body).toBe('us-east-1a');
    expect((await imds(imdsEndpoint, '/latest/meta-data/instance-life-cycle', token)).body).toBe('spot');
    expect((await imds(imdsEndpoint, '/latest/meta-data/no/such/thing', token)).status).toBe(404);
  });

  it('announces a spot interruption, then shuts the instance down when the notice runs out, then stops answering', async () => {
    const id = await launch({ spot: true });
    const { imdsEndpoint } = emu.instances().find((i) => i.id === id)!;
    const token = await (await fetch(`${imdsEndpoint}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
    expect((await imds(imdsEndpoint, '/latest/meta-data/spot/instance-action', token)).status).toBe(404);

    const before = Date.now();
    emu.faults.interrupt(id, { noticeMs: 600 });
    const notice = await imds(imdsEndpoint, '/latest/meta-data/spot/instance-action', token);
    expect(notice.status).toBe(200);
    const action = JSON.parse(notice.body) as { action: string; time: string };
    expect(action.action).toBe('terminate');
    expect(Date.parse(action.time)).toBeGreaterThanOrEqual(Math.floor((before + 600) / 1000) * 1000 - 1000);
    expect(emu.instances().find((i) => i.id === id)!.state).toBe('running');

    await until(() => emu.instances().find((i) => i.id === id)!.state === 'shutting-down', 'shutting-down');
    expect(Date.now() - before).toBeGreaterThanOrEqual(550);
    expect(emu.instances().find((i) => i.id === id)!.stateReason).toBe('Server.SpotInstanceTermination');
    await until(() => emu.instances().find((i) => i.id === id)!.state === 'terminated', 'terminated');
    await expect(fetch(`${imdsEndpoint}/latest/meta-data/instance-id`, { headers: { 'x-aws-ec2-metadata-token': token } })).rejects.toThrow();
  });
});
