// Drift: a local runner killed with SIGKILL behind trainctl's back shows in `plan` as drift with its
// reason and is repaired by `apply`; on aws (the wire emulator), an instance terminated out of band
// shows as drift, and an instance whose tags carry another specHash is planned `replace`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listNodeRecords, processStartTime } from '../../src/providers/local/nodes.js';
import { S3Store } from '../../src/store/s3.js';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { repoRoot, runCli, runners, seenProcess, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, testClient } from '../store/s3-helpers.js';

const code = join(repoRoot, 'test/fixtures/apply/code');

interface PlanJson { actions: { trial: string; kind: string; reason: string; specHash: string; previousSpecHash?: string; attempt?: number; resumeFromStep?: number; drift?: string[] }[] }



const homes: string[] = [];
afterAll(async () => {
  // before the temp dirs go: a dying runner must not write into a directory being removed
  await stopProcesses(homes.flatMap((h) => [...runners(h).values()].flat()).map(seenProcess), { group: true, graceMs: 0 });
});

describe('drift on the local provider', () => {
  it('a runner killed with SIGKILL shows in plan as drift, and apply repairs it by resuming', async () => {
    const dir = tempDir('trainctl-drift-');
    const home = join(dir, 'home');
    homes.push(home);
    writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: dr, project: drift }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} --steps 4000 --sleep 0.01 --ckpt-every 20" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: [0.1, 0.05] }
` });
    const cli = (args: string[]) => runCli(args, { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect((await cli(['apply', '-f', 'job.yaml', '--yes'])).code).toBe(0);
    const recs = await until(() => {
      const r = listNodeRecords(home).map((x) => x.rec).filter((x) => x.pid);
      return r.length === 2 && r;
    }, 'two runners');
    const victim = recs[0]!;
    const trialDir = join(home, 'runs/drift/dr', victim.trial);
    await until(() => existsSync(join(trialDir, 'checkpoints/LATEST')) && JSON.parse(readFileSync(join(trialDir, 'attempts/1/status.json'), 'utf8')).state === 'running', 'a checkpoint');
    // the whole node at once, as a machine that dies: the runner and its training process
    process.kill(-victim.pid!, 'SIGKILL');
    await until(() => processStartTime(victim.pid!) === undefined, 'the runner to die');
    const step = Number(readFileSync(join(trialDir, 'checkpoints/LATEST'), 'utf8').trim());

    const text = await cli(['plan', '-f', 'job.yaml']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ {4}~ resume {2}${victim.trial} {2}lr=[0-9.]+ +node lost while running; from checkpoint at step ${step}, attempt 2$`, 'm'));
    expect(text.stdout).toContain(`drift (changed outside trainctl)\n  ! ${victim.trial}  node ${victim.id} is gone (process ${victim.pid} not running); resume repairs it\n`);
    const json = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(json.actions.find((a) => a.trial === victim.trial)).toMatchObject({
      kind: 'resume', reason: 'node-lost', attempt: 2, resumeFromStep: step, drift: [`node ${victim.id} is gone (process ${victim.pid} not running)`],
    });
    // the other trial runs on: no drift there
    expect(json.actions.find((a) => a.trial !== victim.trial)).not.toHaveProperty('drift');

    const applied = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain(`resumed ${victim.trial} (attempt 2, from step ${step})`);
    expect(applied.stdout).toContain('Apply complete: 1 launched, 0 stopped.');
    await until(() => runners(home).get(victim.trial)?.length === 1, 'the resumed runner');
    const after = await cli(['plan', '-f', 'job.yaml']);
    expect(after.stdout).not.toContain('drift (changed outside trainctl)');
    expect(after.stdout).toContain('No changes. 2 trials match the specs.');
    for (const pids of runners(home).values()) expect(pids).toHaveLength(1);
  }, 60_000);
});

describe('drift on aws (emulator)', () => {
  let emu: Emulator;
  let bucket: string;
  const client = testClient();
  beforeAll(async () => {
    bucket = await makeBucket(client, 'drift');
    emu = await startEmulator({ pendingMs: 100, shuttingDownMs: 100 });
  });
  afterAll(async () => { await emu?.stop(); });

  it('an instance terminated out of band is drift; one whose tags carry another specHash is replaced', async () => {
    const dir = tempDir('trainctl-drift-aws-');
    const storeUri = `s3://${bucket}/runs/`;
    writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: dra, project: awsdrift }
spec:
  compute: { provider: aws, region: us-east-1, instanceType: c5.large, market: on-demand, ami: ami-0123456789abcdef0 }
  code: { path: ${code}, command: "python3 train.py --lr {lr}" }
  output: { uri: "${storeUri}" }
  hyperparameters:
    parameters: { lr: [0.1, 0.05, 0.02] }
` });
    const s3 = inject('s3');
    const env = { ...emu.env, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, TRAINCTL_HOME: join(dir, 'home') };
    const cli = (args: string[]) => runCli(args, { cwd: dir, env });
    const fresh = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    const [a, b, c] = fresh.actions as [PlanJson['actions'][0], PlanJson['actions'][0], PlanJson['actions'][0]];
    const tags = (t: typeof a, specHash: string) => ({
      'trainctl:managed': 'true', 'trainctl:project': 'awsdrift', 'trainctl:job': 'dra', 'trainctl:trial': t.trial,
      'trainctl:spec-hash': specHash, 'trainctl:node-rank': '0', 'trainctl:attempt': '1', 'trainctl:runner': 'started', Name: t.trial,
    });
    // a: running, launched from an older spec; b: running now, then terminated behind trainctl's back
    emu.seed(1, () => tags(a, 'oldspec00000'));
    emu.seed(1, () => tags(b, b.specHash));
    const bId = emu.instances().find((i) => i.tags['trainctl:trial'] === b.trial)!.id;
    // b's runner had reported itself running on that node (its record says so)
    const store = new S3Store(storeUri, client);
    const ref = { project: 'awsdrift', job: 'dra', trial: b.trial };
    await store.writeSpec(ref, { ...ref, specHash: b.specHash, parameters: {}, command: 'python3 train.py' });
    const now = new Date().toISOString();
    await store.writeStatus(ref, { n: 1, specHash: b.specHash, state: 'running', startedAt: now, updatedAt: now, costUSD: 0 });

    const ec2 = new EC2Client({ endpoint: emu.ec2Endpoint, region: 'us-east-1', credentials: { accessKeyId: emu.env.AWS_ACCESS_KEY_ID!, secretAccessKey: emu.env.AWS_SECRET_ACCESS_KEY! } });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [bId] }));
    await until(async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [bId] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name === 'terminated', 'the instance to terminate');

    const json = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(json.actions.find((x) => x.trial === a.trial)).toMatchObject({ kind: 'replace', reason: 'spec-changed', previousSpecHash: 'oldspec00000', specHash: a.specHash });
    expect(json.actions.find((x) => x.trial === b.trial)).toMatchObject({
      kind: 'retry', reason: 'node-lost', attempt: 2, drift: [`node ${bId} is gone (instance ${bId} terminated: Client.UserInitiatedShutdown: User initiated shutdown)`],
    });
    expect(json.actions.find((x) => x.trial === c.trial)).toMatchObject({ kind: 'create', reason: 'new' });
    expect(json.actions.find((x) => x.trial === c.trial)).not.toHaveProperty('drift');
    const text = await cli(['plan', '-f', 'job.yaml']);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain(`  ! ${b.trial}  node ${bId} is gone (instance ${bId} terminated: Client.UserInitiatedShutdown: User initiated shutdown); retry repairs it\n`);
    expect(text.stdout).toMatch(new RegExp(`^ {2}-/\\+ replace ${a.trial} {2}lr=0\\.1 +spec changed; oldspec00000 → ${a.specHash}`, 'm'));
  }, 60_000);
});
