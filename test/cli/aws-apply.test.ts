// The aws provider end to end: the built CLI talks to the wire-level EC2/SSM/IMDS emulator through
// the real SDK clients; emulated instances run the real bootstrap (fetching the runner and code
// through presigned radosgw links) and the real runner, which writes to a real S3 store.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { S3Store } from '../../src/store/s3.js';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { binPath, repoRoot, runCli, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, testClient } from '../store/s3-helpers.js';

const client = testClient();
const code = join(repoRoot, 'test/fixtures/apply/code');
let emu: Emulator;
let bucket: string;

/** What `shutdown -h now` is on an emulated instance: TerminateInstances on itself. */
const POWEROFF = `
const imds = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
const token = await (await fetch(imds + '/latest/api/token', { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
const id = await (await fetch(imds + '/latest/meta-data/instance-id', { headers: { 'X-aws-ec2-metadata-token': token } })).text();
await fetch(process.env.TRAINCTL_TEST_EC2, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=instance/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0' }, body: 'Action=TerminateInstances&Version=2016-11-15&InstanceId.1=' + id });
`;

beforeAll(async () => {
  const s3 = inject('s3');
  const tools = tempDir('trainctl-aws-tools-');
  writeFileSync(join(tools, 'poweroff.mjs'), POWEROFF);
  bucket = await makeBucket(client, 'aws');
  emu = await startEmulator({
    // a type priced so a test can watch money go: $36/h is a cent a second
    spotPrices: { 'c5.costly': 36 },
    pendingMs: 200,
    agentOnlineMs: 200,
    instanceEnv: {
      AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
      TRAINCTL_POWEROFF: `node ${join(tools, 'poweroff.mjs')}`, TRAINCTL_SPOT_POLL_MS: '200',
    },
  });
  // set after start: the poweroff script needs the EC2 endpoint the emulator picked
  emu.instanceEnv.TRAINCTL_TEST_EC2 = emu.ec2Endpoint;
});
afterAll(async () => { await emu?.stop(); });

function cliEnv(home: string): Record<string, string> {
  const s3 = inject('s3');
  return {
    ...emu.env,
    AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1',
    TRAINCTL_HOME: home, TRAINCTL_AWS_POLL_MS: '100',
  };
}

function job(dir: string, name: string, opts: { market?: string; params?: string; command?: string; extra?: string; instanceType?: string } = {}): { storeUri: string } {
  const storeUri = `s3://${bucket}/${name}/`;
  writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${name}, project: awstest }
spec:
  compute: { provider: aws, region: us-east-1, instanceType: ${opts.instanceType ?? 'c5.large'}, market: ${opts.market ?? 'spot'}, ami: ami-0123456789abcdef0 }
  code: { path: ${code}, command: ${JSON.stringify(opts.command ?? 'python3 train.py --lr {lr} --steps 60 --sleep 0.01 --ckpt-every 20')} }
  output: { uri: "${storeUri}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", keepLastN: 2, gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: ${opts.params ?? '[0.1, 0.05]'} }
  metrics: { objective: { metric: loss, goal: minimize } }
${opts.extra ?? ''}` });
  return { storeUri };
}


describe('aws provider against the emulator', () => {
  it('runs a two-trial spot job to result.json and checkpoints in S3, then every instance is gone', async () => {
    const dir = tempDir('trainctl-aws-');
    const { storeUri } = job(dir, 'spot2');
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Training completed: 2 trials, best loss [0-9.e-]+ \(spot2-[0-9a-f]{8}\)/m);
    const store = new S3Store(storeUri, client);
    const recs = await store.readRecords('awstest');
    expect(recs.map((x) => x.result?.state)).toEqual(['succeeded', 'succeeded']);
    expect(recs.map((x) => x.checkpoint?.step)).toEqual([60, 60]);
    const runs = emu.calls.filter((c) => c.action === 'RunInstances' && !c.error);
    expect(runs).toHaveLength(2);
    for (const c of runs) expect(JSON.stringify(c.params)).toContain('spot');
    const mine = emu.instances().filter((i) => i.tags['trainctl:job'] === 'spot2');
    expect(mine).toHaveLength(2);
    expect(mine.map((i) => i.market)).toEqual(['spot', 'spot']);
    for (const i of mine) expect(i.tags).toMatchObject({ 'trainctl:managed': 'true', 'trainctl:project': 'awstest', 'trainctl:node-rank': '0', 'trainctl:attempt': '1', CreatedBy: 'trainctl' });
    // the bootstrap powered each node off when its runner ended
    await until(() => emu.instances().filter((i) => i.tags['trainctl:job'] === 'spot2').every((i) => i.state === 'terminated'), 'the instances to terminate');
  }, 90_000);

  it('falls back to on-demand within 5 s of a spot capacity error', async () => {
    const dir = tempDir('trainctl-aws-');
    job(dir, 'fallback', { market: 'spot-with-fallback', params: '[0.1]', instanceType: 'g5.xlarge' });
    emu.faults.capacity({ market: 'spot', instanceType: 'g5.xlarge', code: 'InsufficientInstanceCapacity' });
    try {
      const r = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      emu.faults.clear();
    }
    const runs = emu.calls.filter((c) => c.action === 'RunInstances' && JSON.stringify(c.params).includes('g5.xlarge'));
    const firstError = runs.find((c) => c.error === 'InsufficientInstanceCapacity')!;
    const onDemand = runs.find((c) => !c.error)!;
    expect(firstError).toBeDefined();
    expect(JSON.stringify(onDemand.params)).not.toContain('spot');
    expect(onDemand.at - firstError.at).toBeLessThan(5000);
    const inst = emu.instances().filter((i) => i.tags['trainctl:job'] === 'fallback');
    expect(inst.map((i) => i.market)).toEqual(['on-demand']);
    const stop = await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
    expect(stop.code).toBe(0);
  }, 90_000);

  it('a spot notice mid-training checkpoints, and the next pass resumes on a new instance with a continuous loss curve', async () => {
    const dir = tempDir('trainctl-aws-');
    const { storeUri } = job(dir, 'notice', { params: '[0.1]', command: 'python3 train.py --lr {lr} --steps 200 --sleep 0.03 --ckpt-every 20' });
    const env = cliEnv(join(dir, 'home'));
    const first = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const store = new S3Store(storeUri, client);
    const trial = (await until(async () => (await store.readRecords('awstest')).find((x) => x.checkpoint), 'a checkpoint in S3')).trial;
    const ref = { project: 'awstest', job: 'notice', trial };
    const victim = emu.instances().find((i) => i.tags['trainctl:trial'] === trial && i.state === 'running')!;
    emu.faults.interrupt(victim.id, { noticeMs: 4000 });
    const interrupted = await until(async () => {
      const rec = await store.readTrial(ref);
      return rec?.attempts[0]?.state === 'interrupted' && rec;
    }, 'the attempt to end interrupted');
    const step = interrupted.checkpoint!.step;
    await until(() => emu.instances().find((i) => i.id === victim.id)?.state === 'terminated', 'the reclaimed instance to go');

    const done = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`resumed ${trial} (attempt 2, from step ${step})`);
    const rec = (await store.readTrial(ref))!;
    expect(rec.attempts.map((a) => a.state)).toEqual(['interrupted', 'succeeded']);
    const points = await store.readMetrics(ref);
    const a1 = points.filter((p) => p.attempt === 1);
    const a2 = points.filter((p) => p.attempt === 2);
    expect(a1.at(-1)!.step).toBeLessThanOrEqual(step);
    // continuous: attempt 2 starts at the first logged step after the checkpoint, no gap, no repeat
    expect(a2[0]!.step).toBe(Math.floor(step / 5) * 5 + 5);
    expect(points.at(-1)!.step).toBe(200);
    const nodes = emu.instances().filter((i) => i.tags['trainctl:trial'] === trial);
    expect(nodes.map((i) => i.tags['trainctl:attempt'])).toEqual(['1', '2']);
  }, 120_000);

  it('survives a throttling storm and passes a hostile hyperparameter to the script literally through SSM', async () => {
    const dir = tempDir('trainctl-aws-');
    const hostile = "'; rm -rf / #";
    const { storeUri } = job(dir, 'hostile', {
      params: JSON.stringify([hostile]),
      command: 'python3 -c "import sys; print(repr(sys.argv[1]))" {lr}',
    });
    emu.faults.throttle({ service: 'ec2', times: 6 });
    emu.faults.throttle({ service: 'ssm', times: 3 });
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
    emu.faults.clear();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(emu.calls.filter((c) => c.error === 'RequestLimitExceeded').length).toBeGreaterThanOrEqual(6);
    const store = new S3Store(storeUri, client);
    const [rec] = await store.readRecords('awstest');
    expect(rec!.result?.state).toBe('succeeded');
    const log = (await store.readLog({ project: 'awstest', job: 'hostile', trial: rec!.trial }, 1, 0))!.toString();
    // python's repr of the value: it arrived as one argument, byte for byte
    expect(log).toContain(`"${hostile}"\n`);
  }, 90_000);

  it('an apply SIGKILLed between RunInstances and the bootstrap leaves nothing untagged, and a re-run adopts the node instead of launching twice', async () => {
    const dir = tempDir('trainctl-aws-');
    const { storeUri } = job(dir, 'killed', { params: '[0.1]' });
    const env = { ...cliEnv(join(dir, 'home')), TRAINCTL_AWS_BOOT_TIMEOUT_MS: '3000' };
    emu.faults.slowPending(4000);
    const child = spawn(process.execPath, [binPath, 'apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env: { ...process.env, ...env }, stdio: 'ignore' });
    await until(() => emu.calls.some((c) => c.action === 'RunInstances' && !c.error && JSON.stringify(c.params).includes('killed')), 'RunInstances');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    emu.faults.slowPending(200);
    const nodes = () => emu.instances().filter((i) => i.tags['trainctl:job'] === 'killed');
    expect(nodes()).toHaveLength(1);
    // tagged in the RunInstances call itself: there is no moment without tags
    expect(nodes()[0]!.tags['trainctl:managed']).toBe('true');
    // within the boot timeout the node counts as starting: nothing to do
    const early = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env });
    expect((JSON.parse(early.stdout) as { actions: { kind: string }[] }).actions.map((a) => a.kind)).toEqual(['noop']);
    await until(() => Date.now() - Date.parse(nodes()[0]!.launchTime) > 3500, 'the boot timeout');
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    // the killed apply's lock is taken over at once: its holder is a process of this host that is gone
    expect(r.stderr).toMatch(/^took over the lock of project awstest from \S+:\d+ \(trainctl apply\): that process is no longer running\n$/);
    expect(r.code).toBe(0);
    expect(nodes()).toHaveLength(1);
    const [rec] = await new S3Store(storeUri, client).readRecords('awstest');
    expect(rec!.result?.state).toBe('succeeded');
    expect(rec!.attempts.map((a) => a.n)).toEqual([1]);
    expect(emu.instances().filter((i) => !i.tags['trainctl:managed'])).toEqual([]);
  }, 90_000);

  it('a 2-node DDP attempt whose node 1 is reclaimed stops as a group and resumes on two new instances from one checkpoint', async (ctx) => {
    if (spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed']).status !== 0) ctx.skip();
    const dir = tempDir('trainctl-aws-');
    const { storeUri } = job(dir, 'ddp2', {
      params: '[0.05]',
      command: '/usr/bin/python3 train_ddp.py --lr {lr} --steps 30 --ckpt-every 5 --sleep 0.3',
      extra: '  distributed: { nodes: 2, nprocPerNode: 1, backend: gloo }\n',
    });
    writeFiles(dir, { 'job.yaml': readFileSync(join(dir, 'job.yaml'), 'utf8').replace(`path: ${code}`, `path: ${join(repoRoot, 'test/fixtures/e2e')}`).replace('pattern: "*.json"', 'pattern: "*.pt"') });
    const env = cliEnv(join(dir, 'home'));
    const first = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const store = new S3Store(storeUri, client);
    const rec1 = await until(async () => (await store.readRecords('awstest')).find((x) => x.checkpoint), 'a first checkpoint', 60_000);
    const ref = { project: 'awstest', job: 'ddp2', trial: rec1.trial };
    const group = emu.instances().filter((i) => i.tags['trainctl:trial'] === rec1.trial);
    expect(group.map((i) => i.tags['trainctl:node-rank']).sort()).toEqual(['0', '1']);
    expect(new Set(group.map((i) => i.placementGroup))).toEqual(new Set([`trainctl-awstest-${rec1.trial}`]));
    emu.faults.interrupt(group.find((i) => i.tags['trainctl:node-rank'] === '1')!.id, { noticeMs: 8000 });
    const interrupted = await until(async () => {
      const rec = await store.readTrial(ref);
      return rec?.attempts[0]?.state === 'interrupted' && rec;
    }, 'the group to stop interrupted', 60_000);
    expect(await store.interruptedRanks(ref, 1)).toEqual([1]);
    const step = interrupted.checkpoint!.step;
    await until(() => group.every((g) => emu.instances().find((i) => i.id === g.id)?.state === 'terminated'), 'both nodes to go', 60_000);

    const done = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`resumed ${rec1.trial} (attempt 2, from step ${step})`);
    const nodes2 = emu.instances().filter((i) => i.tags['trainctl:trial'] === rec1.trial && i.tags['trainctl:attempt'] === '2');
    expect(nodes2.map((i) => i.tags['trainctl:node-rank']).sort()).toEqual(['0', '1']);
    const points = await store.readMetrics(ref);
    expect(points.filter((p) => p.attempt === 2)[0]!.step).toBe(step + 1);
    expect(points.at(-1)!.step).toBe(30);
  }, 180_000);

  it('a job with a $0.05 limit on a priced instance type stops at the limit, its spend recorded within one heartbeat', async () => {
    const dir = tempDir('trainctl-aws-');
    const { storeUri } = job(dir, 'budget', {
      params: '[0.1]', instanceType: 'c5.costly',
      command: 'python3 train.py --lr {lr} --steps 2000 --sleep 0.02 --ckpt-every 50',
      extra: '  limits: { costUSD: 0.05, onExceed: stop }\n',
    });
    const env = cliEnv(join(dir, 'home'));
    // the live spot price is the estimate: with no maxDuration the worst case is unbounded, a warning
    const plan = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env });
    const pj = JSON.parse(plan.stdout) as { warnings: string[]; jobs: { estimate?: { usdPerHour?: number; priceSource?: string } }[] };
    expect(pj.jobs[0]!.estimate).toMatchObject({ priceSource: 'live' });
    expect(pj.warnings.join('\n')).toMatch(/unbounded/);
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const store = new S3Store(storeUri, client);
    const [rec] = await store.readRecords('awstest');
    const result = await store.readResult({ project: 'awstest', job: 'budget', trial: rec!.trial });
    expect(result).toMatchObject({ state: 'stopped', stopReason: 'cost-limit' });
    // $36/h for 2 s (one heartbeat) is $0.02: the spend stops within that of the limit
    expect(result!.costUSD).toBeGreaterThanOrEqual(0.05);
    expect(result!.costUSD).toBeLessThan(0.05 + 0.02);
    // the summary's real cost also counts the seconds the node took to stop after the limit
    expect(r.stdout).toMatch(/^Training completed: 1 trial \(1 stopped\), .*, cost \$0\.0[5-9]$/m);
  }, 90_000);

  it('says in one line what is missing when there are no credentials or no region', async () => {
    const dir = tempDir('trainctl-aws-');
    mkdirSync(join(dir, 'home'));
    job(dir, 'nocreds');
    const env = { ...cliEnv(join(dir, 'home')), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: 'trainctl-none', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true' };
    const r = await runCli(['plan', '-f', 'job.yaml'], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*(credentials|profile).*— /);

    writeFiles(dir, { 'noregion.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: noregion, project: awstest }
spec:
  compute: { provider: aws, instanceType: c5.large }
  code: { path: ${code}, command: "python3 train.py" }
  output: { uri: "s3://${bucket}/noregion/" }
` });
    const nr = await runCli(['plan', '-f', 'noregion.yaml'], { cwd: dir, env: { ...cliEnv(join(dir, 'home')), AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined } });
    expect(nr.code).toBe(1);
    expect(nr.stderr).toBe('error: no AWS region: compute.region is not set and neither is AWS_REGION — add `region: us-east-1` under compute, or export AWS_REGION\n');
  }, 30_000);
});
