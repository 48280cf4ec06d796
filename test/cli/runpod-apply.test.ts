// The runpod provider end to end: the built CLI talks to the RunPod emulator (GraphQL + REST) with
// node's fetch; each pod's start command runs the real bootstrap (fetching the runner and code
// through presigned radosgw links) and the real runner, which writes to a real S3 store and, when
// it ends, deletes its own pod with the pod-scoped key.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { S3Store } from '../../src/store/s3.js';
import { startRunpodEmulator, type EmulatedPod, type RunpodEmulator } from '../emulator/runpod.js';
import { repoRoot, runCli, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, testClient } from '../store/s3-helpers.js';

const client = testClient();
const code = join(repoRoot, 'test/fixtures/apply/code');
const RTX4090 = 'NVIDIA GeForce RTX 4090';
const RTX3090 = 'NVIDIA GeForce RTX 3090';
let emu: RunpodEmulator;
let bucket: string;

beforeAll(async () => {
  bucket = await makeBucket(client, 'runpod');
  // a stop gives the runner longer than the spec's gracePeriod to save its final checkpoint
  emu = await startRunpodEmulator({ startDelayMs: 100, stopGraceMs: 15_000 });
});
afterAll(async () => { await emu?.stop(); });

function cliEnv(home: string): Record<string, string> {
  const s3 = inject('s3');
  return {
    ...emu.env,
    AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
    TRAINCTL_HOME: home, TRAINCTL_RUNPOD_POLL_MS: '100',
  };
}

function job(dir: string, name: string, opts: { compute?: string; params?: string; command?: string; extra?: string } = {}): { storeUri: string } {
  const storeUri = `s3://${bucket}/${name}/`;
  writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${name}, project: podtest }
spec:
  compute: ${opts.compute ?? `{ provider: runpod, gpuType: "${RTX4090}", interruptible: true }`}
  code: { path: ${code}, command: ${JSON.stringify(opts.command ?? 'python3 train.py --lr {lr} --steps 60 --sleep 0.01 --ckpt-every 20')} }
  output: { uri: "${storeUri}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", keepLastN: 2, gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: ${opts.params ?? '[0.1, 0.05]'} }
  metrics: { objective: { metric: loss, goal: minimize } }
${opts.extra ?? ''}` });
  return { storeUri };
}


const podsOf = (jobName: string): EmulatedPod[] => emu.pods().filter((p) => p.env.TRAINCTL_JOB === jobName);
const creates = (jobName: string) => emu.calls.filter((c) => c.api === 'graphql' && /podRentInterruptable|podFindAndDeployOnDemand/.test(c.operation)
  && JSON.stringify(c.params).includes(`trainctl-${jobName}-`));

describe('runpod provider against the emulator', () => {
  it('runs a two-trial interruptible job to result.json and checkpoints in S3; each pod deletes itself when its runner ends', async () => {
    const dir = tempDir('trainctl-runpod-');
    const { storeUri } = job(dir, 'pods2');
    const env = cliEnv(join(dir, 'home'));
    const plan = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env });
    expect(plan.stderr).toBe('');
    // the estimate's price is the live one (GraphQL gpuTypes), the worst case: without a bid an
    // interruptible trial may end on-demand, at the dearer (secure) price of an RTX 4090
    expect((JSON.parse(plan.stdout) as { jobs: { estimate: unknown }[] }).jobs[0]!.estimate).toMatchObject({ usdPerHour: 0.69, priceSource: 'live' });
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Training completed: 2 trials, best loss [0-9.e-]+ \(pods2-[0-9a-f]{8}\)/m);
    const store = new S3Store(storeUri, client);
    const recs = await store.readRecords('podtest');
    expect(recs.map((x) => x.result?.state)).toEqual(['succeeded', 'succeeded']);
    expect(recs.map((x) => x.checkpoint?.step)).toEqual([60, 60]);
    // the runner accrued cost at the pod's price (the bid: the going minimum of $0.20/GPU-hour)
    expect(recs.every((x) => x.attempts[0]!.costUSD > 0)).toBe(true);

    const pods = podsOf('pods2');
    expect(pods).toHaveLength(2);
    expect(creates('pods2').map((c) => c.operation)).toEqual(['podRentInterruptable', 'podRentInterruptable']);
    for (const p of pods) {
      const trial = p.env.TRAINCTL_TRIAL!;
      expect(p.name).toBe(`trainctl-pods2-${trial}-a1-r0`);
      expect(p).toMatchObject({ market: 'interruptible', gpuTypeId: RTX4090, gpuCount: 1, bidPerGpu: 0.2, createdWith: 'podRentInterruptable' });
      expect(p.env).toMatchObject({ TRAINCTL_MANAGED: 'true', TRAINCTL_PROJECT: 'podtest', TRAINCTL_JOB: 'pods2', TRAINCTL_NODE_RANK: '0', TRAINCTL_ATTEMPT: '1', TRAINCTL_CREATED_BY: 'trainctl' });
      // the user's RunPod key never goes into a pod
      expect(Object.values(p.env)).not.toContain(emu.apiKey);
    }
    // each bootstrap deleted its own pod with its pod-scoped key once the runner had ended
    await until(() => podsOf('pods2').every((p) => p.desiredStatus === 'TERMINATED'), 'the pods to delete themselves');
    const selfDeletes = emu.calls.filter((c) => c.operation === 'DELETE /pods/{id}' && c.podKey && pods.some((p) => p.id === c.params.podId));
    expect(selfDeletes).toHaveLength(2);

    // status and logs read the store, as for any provider
    const status = await runCli(['status', '-f', 'job.yaml'], { cwd: dir, env });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('succeeded');
    const logs = await runCli(['logs', recs[0]!.trial, '--file', 'job.yaml'], { cwd: dir, env });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('"step": 60');
  }, 120_000);

  it('an evicted pod that is killed outright is not live: the next pass resumes on a new pod with a continuous loss curve', async () => {
    const dir = tempDir('trainctl-runpod-');
    const { storeUri } = job(dir, 'evict', { params: '[0.1]', command: 'python3 train.py --lr {lr} --steps 200 --sleep 0.03 --ckpt-every 20' });
    const env = cliEnv(join(dir, 'home'));
    const first = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const store = new S3Store(storeUri, client);
    const trial = (await until(async () => (await store.readRecords('podtest')).find((x) => x.checkpoint && x.checkpoint.step >= 40), 'a checkpoint in S3')).trial;
    const ref = { project: 'podtest', job: 'evict', trial };
    const victim = podsOf('evict').find((p) => p.desiredStatus === 'RUNNING')!;
    // no grace at all: the runner cannot write anything, its attempt stays `running`
    emu.faults.evict(victim.id, { graceMs: 0 });
    await until(() => emu.pods().find((p) => p.id === victim.id)!.exit, 'the pod to die');
    const rec1 = (await store.readTrial(ref))!;
    expect(rec1.attempts.map((a) => a.state)).toEqual(['running']);
    const step = rec1.checkpoint!.step;

    // the EXITED pod is listed but not live: the plan resumes from LATEST and names the drift
    const plan = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env });
    expect(plan.stderr).toBe('');
    const action = (JSON.parse(plan.stdout) as { actions: { kind: string; reason: string; resumeFromStep?: number; drift?: string[] }[] }).actions[0]!;
    expect(action).toMatchObject({ kind: 'resume', reason: 'node-lost', resumeFromStep: step });
    expect(action.drift).toEqual([expect.stringContaining(`node ${victim.id} is gone (pod EXITED: Exited by RunPod`)]);

    const done = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env });
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`resumed ${trial} (attempt 2, from step ${step})`);
    const rec = (await store.readTrial(ref))!;
    expect(rec.attempts.at(-1)!.state).toBe('succeeded');
    expect(rec.result?.state).toBe('succeeded');
    const points = await store.readMetrics(ref);
    const a2 = points.filter((p) => p.attempt === 2);
    // continuous: attempt 2 starts at the first logged step after the checkpoint, and ends at the last
    expect(a2[0]!.step).toBe(Math.floor(step / 5) * 5 + 5);
    expect(points.at(-1)!.step).toBe(200);
    const pods = podsOf('evict');
    expect(pods.map((p) => p.env.TRAINCTL_ATTEMPT)).toEqual(['1', '2']);
    // the launch of attempt 2 deleted the evicted pod (an EXITED pod still bills its volume)
    expect(pods.map((p) => p.desiredStatus)).toEqual(['TERMINATED', 'TERMINATED']);
    expect(pods[0]!.endedBy).toBe('evict');
  }, 150_000);

  it('falls through gpuTypes in order, then to on-demand (no bid set); destroy stops the pod gracefully', async () => {
    const dir = tempDir('trainctl-runpod-');
    const { storeUri } = job(dir, 'fallback', {
      params: '[0.1]',
      compute: `{ provider: runpod, gpuTypes: ["${RTX4090}", "${RTX3090}"], interruptible: true, cloudType: SECURE }`,
      command: 'python3 train.py --lr {lr} --steps 2000 --sleep 0.05 --ckpt-every 20',
    });
    const env = cliEnv(join(dir, 'home'));
    emu.faults.noCapacity({ gpuType: RTX4090 });
    emu.faults.noCapacity({ gpuType: RTX3090, market: 'interruptible' });
    let started: number;
    try {
      started = Date.now();
      const r = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      emu.faults.clear();
    }
    const tried = creates('fallback');
    expect(tried.map((c) => `${c.operation} ${(c.params[c.operation] as { input: { gpuTypeId: string } }).input.gpuTypeId} ${c.error ? 'no capacity' : 'ok'}`)).toEqual([
      `podRentInterruptable ${RTX4090} no capacity`,
      `podRentInterruptable ${RTX3090} no capacity`,
      `podFindAndDeployOnDemand ${RTX4090} no capacity`,
      `podFindAndDeployOnDemand ${RTX3090} ok`,
    ]);
    // no waiting between offers
    expect(tried.at(-1)!.at - started).toBeLessThan(10_000);
    const [pod] = podsOf('fallback');
    expect(pod).toMatchObject({ gpuTypeId: RTX3090, market: 'on-demand', cloudType: 'SECURE', costPerHr: 0.43 });

    // destroy: the pod is stopped (SIGTERM → the runner saves a final checkpoint), then deleted
    const store = new S3Store(storeUri, client);
    const before = await until(async () => (await store.readRecords('podtest')).find((x) => x.job === 'fallback' && x.checkpoint), 'a checkpoint');
    const stop = await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
    expect(stop.stderr).toBe('');
    expect(stop.code).toBe(0);
    expect(emu.pods().find((p) => p.id === pod!.id)).toMatchObject({ desiredStatus: 'TERMINATED', endedBy: 'stop' });
    expect(emu.calls.some((c) => c.operation === 'POST /pods/{id}/stop' && c.params.podId === pod!.id)).toBe(true);
    const [rec] = (await store.readRecords('podtest')).filter((x) => x.job === 'fallback');
    // the runner got the SIGTERM through the start command, saved a final checkpoint and said so
    expect(rec!.attempts.map((a) => a.state)).toEqual(['interrupted']);
    expect(rec!.result?.state).toBe('stopped');
    expect(rec!.checkpoint!.step).toBeGreaterThanOrEqual(rec!.attempts[0]!.step!);
    expect(rec!.checkpoint!.step).toBeGreaterThan(before.checkpoint!.step);
  }, 120_000);

  it('with a bid, an interruptible trial never goes on-demand: with no interruptible machine it waits', async () => {
    const dir = tempDir('trainctl-runpod-');
    job(dir, 'bid', { params: '[0.1]', compute: `{ provider: runpod, gpuTypes: ["${RTX4090}", "${RTX3090}"], interruptible: true, bidPerGpu: 0.3 }` });
    emu.faults.noCapacity({ market: 'interruptible' });
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      r = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
    } finally {
      emu.faults.clear();
    }
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`RunPod has no machine for ${RTX4090} (interruptible), ${RTX3090} (interruptible): There are no longer any instances available`);
    expect(r.stdout).toContain('1 waiting for capacity');
    expect(creates('bid').map((c) => `${c.operation} ${c.error ? 'no capacity' : 'ok'}`)).toEqual(['podRentInterruptable no capacity', 'podRentInterruptable no capacity']);
    expect(podsOf('bid')).toEqual([]);
  }, 60_000);

  it('a bad API key, or none, is one clear line and creates nothing', async () => {
    const dir = tempDir('trainctl-runpod-');
    mkdirSync(join(dir, 'home'));
    job(dir, 'badkey');
    const before = emu.pods().length;
    const bad = await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env: { ...cliEnv(join(dir, 'home')), RUNPOD_API_KEY: 'rpa_WRONG' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: listing RunPod pods: RunPod rejected the API key \(HTTP 401\) — check RUNPOD_API_KEY[^\n]*\n$/);
    const none = await runCli(['plan', '-f', 'job.yaml'], { cwd: dir, env: { ...cliEnv(join(dir, 'home')), RUNPOD_API_KEY: undefined, HOME: join(dir, 'home') } });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('error: no RunPod API key: RUNPOD_API_KEY is not set and ~/.runpod/config.toml has none — export RUNPOD_API_KEY=… (from https://www.runpod.io/console/user/settings), or run `runpodctl config --apiKey …`\n');
    // the key in runpodctl's config file is enough
    writeFiles(join(dir, 'home'), { '.runpod/config.toml': `apikey = "${emu.apiKey}"\n` });
    const fromFile = await runCli(['plan', '-f', 'job.yaml'], { cwd: dir, env: { ...cliEnv(join(dir, 'home')), RUNPOD_API_KEY: undefined, HOME: join(dir, 'home') } });
    expect(fromFile.stderr).toBe('');
    expect(fromFile.code).toBe(0);
    expect(emu.pods().length).toBe(before);
    expect(creates('badkey')).toEqual([]);
  }, 60_000);

  it('resources list/insights/cleanup include pods: managed ones deleted on request, others never', async () => {
    const dir = tempDir('trainctl-runpod-');
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(emu.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${emu.apiKey}` }, body: JSON.stringify({ query, variables }) });
      return ((await res.json()) as { data: Record<string, { id: string }> }).data;
    };
    const DEPLOY = 'mutation D($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id } }';
    const labels = { TRAINCTL_MANAGED: 'true', TRAINCTL_PROJECT: 'inv', TRAINCTL_JOB: 'gone', TRAINCTL_TRIAL: 'gone-0badc0de', TRAINCTL_SPEC_HASH: 'abc', TRAINCTL_NODE_RANK: '0', TRAINCTL_ATTEMPT: '1', TRAINCTL_CREATED_AT: new Date().toISOString() };
    const base = { imageName: 'runpod/pytorch', gpuTypeId: RTX4090, gpuCount: 1, cloudType: 'COMMUNITY', dockerArgs: 'sleep 60' };
    const managed = (await gql(DEPLOY, { input: { ...base, name: 'trainctl-gone-gone-0badc0de-a1-r0', env: Object.entries(labels).map(([key, value]) => ({ key, value })) } })).podFindAndDeployOnDemand!.id;
    const other = (await gql(DEPLOY, { input: { ...base, name: 'my-notebook', env: [] } })).podFindAndDeployOnDemand!.id;
    // no AWS region: RunPod alone is enough (AWS_REGION is unset, the key configured)
    const env = { ...cliEnv(join(dir, 'home')), AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined };
    const list = await runCli(['resources', 'list', '--output', 'json'], { cwd: dir, env });
    expect(list.stderr).toBe('');
    const out = JSON.parse(list.stdout) as { regions: string[]; instances: { id: string }[] };
    expect(out.regions).toEqual(['runpod']);
    expect(out.instances).toContainEqual(expect.objectContaining({
      id: managed, region: 'runpod', state: 'running', instanceType: `1x ${RTX4090}`, market: 'on-demand', project: 'inv', trial: 'gone-0badc0de', rank: 0, attempt: 1, hourlyUSD: 0.34, priceSource: 'live',
    }));
    expect(out.instances.map((i) => i.id)).not.toContain(other);
    const text = await runCli(['resources', 'list', '--region', 'runpod'], { cwd: dir, env });
    expect(text.stdout).toMatch(new RegExp(`^${managed}\\s+runpod\\s+running\\s+1x NVIDIA GeForce RTX 4090\\s+on-demand\\s+inv\\s+gone`, 'm'));

    // an unmanaged pod that looks like training (it has a GPU) is listed by insights and left alone
    const insights = await runCli(['resources', 'insights', '--output', 'json'], { cwd: dir, env });
    expect(insights.stderr).toBe('');
    const findings = (JSON.parse(insights.stdout) as { findings: { kind: string; instance: string }[] }).findings;
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'untagged-training', instance: other }));
    const refused = await runCli(['resources', 'cleanup', other, '--force', '--yes'], { cwd: dir, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: refusing to terminate [a-z0-9]+: it has no trainctl:managed=true tag/);
    const cleaned = await runCli(['resources', 'cleanup', managed, '--force', '--yes'], { cwd: dir, env });
    expect(cleaned.stderr).toBe('');
    expect(cleaned.stdout).toContain('Terminated 1 instance.');
    expect(emu.pods().find((p) => p.id === managed)!.desiredStatus).toBe('TERMINATED');
    expect(emu.pods().find((p) => p.id === other)!.desiredStatus).toBe('RUNNING');
    // without a RunPod key pods are not a place to look: with no AWS region either, nothing is
    const noKey = await runCli(['resources', 'list'], { cwd: dir, env: { ...env, RUNPOD_API_KEY: undefined, HOME: join(dir, 'home') } });
    expect([noKey.code, noKey.stderr]).toEqual([1, 'error: no AWS region to look in — pass --region us-east-1 (repeatable or a comma list), -f with an aws spec that sets compute.region, or export AWS_REGION\n']);
    await fetch(`${emu.restUrl}/pods/${other}`, { method: 'DELETE', headers: { authorization: `Bearer ${emu.apiKey}` } });
  }, 60_000);

  it('rides out rate limits and server errors', async () => {
    const dir = tempDir('trainctl-runpod-');
    const { storeUri } = job(dir, 'storm', { params: '[0.1]' });
    emu.faults.rateLimit({ times: 3 });
    emu.faults.apiError({ status: 503, times: 2 });
    const r = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], { cwd: dir, env: cliEnv(join(dir, 'home')) });
    emu.faults.clear();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(emu.calls.filter((c) => c.status === 429).length).toBeGreaterThanOrEqual(3);
    expect(podsOf('storm')).toHaveLength(1);
    const [rec] = await new S3Store(storeUri, client).readRecords('podtest');
    expect(rec!.result?.state).toBe('succeeded');
  }, 90_000);
});
