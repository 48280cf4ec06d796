// `trainctl resources list|summary|insights|cleanup`: the built CLI against the EC2 emulator, with
// managed instances seeded for a spec's trials (healthy, silent, ended, unknown, another project's)
// and untagged ones beside them; run records in a file:// store. The clock is moved with
// TRAINCTL_NOW so ages and heartbeats are exact.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { AwsClientPool, terminateManaged } from '../../src/providers/aws/inventory.js';
import { S3Store } from '../../src/store/s3.js';
import { expandJob } from '../../src/spec/expand.js';
import { loadSpecs } from '../../src/spec/load.js';
import type { Trial } from '../../src/spec/types.js';
import { startEmulator, type EmulatedInstance, type Emulator } from '../emulator/index.js';
import { runCli, tempDir, writeFiles } from '../helpers.js';
import { makeBucket, testClient } from '../store/s3-helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
let emu: Emulator;
let dir: string;
let storeUri: string;
let trials: Trial[];
let now: number;
/** name → seeded instance */
const inst: Record<string, EmulatedInstance> = {};

const SPEC = (store: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: vision }
spec:
  compute: { provider: aws, region: us-east-1, instanceType: g5.xlarge, market: spot, ami: ami-0123456789abcdef0 }
  code: { path: ., command: "python3 train.py --lr {lr}" }
  output: { uri: "${store}" }
  hyperparameters:
    parameters: { lr: [0.1, 0.01, 0.001] }
`;

const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  emu = await startEmulator({ shuttingDownMs: 100 });
  dir = tempDir('trainctl-resources-');
  const client = testClient();
  storeUri = `s3://${await makeBucket(client, 'resources')}/runs/`;
  writeFiles(dir, { 'job.yaml': SPEC(storeUri) });
  const { jobs, diagnostics } = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: pathToFileURL(join(dir, 'runs')).href });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  trials = expandJob(jobs[0]!).trials;
  expect(trials).toHaveLength(3);

  const managed = (trial: string, specHash: string, project = 'vision', job = 'sweep') => ({
    'trainctl:managed': 'true', 'trainctl:project': project, 'trainctl:job': job, 'trainctl:trial': trial,
    'trainctl:spec-hash': specHash, 'trainctl:node-rank': '0', 'trainctl:attempt': '1', Name: `trainctl-${job}-${trial}-a1-r0`, CreatedBy: 'trainctl',
  });
  const seed = (name: string, tags: Record<string, string>, opts: Parameters<Emulator['seed']>[2]) => {
    const before = emu.instances().length;
    emu.seed(1, () => tags, opts);
    inst[name] = emu.instances()[before]!;
  };
  const [t1, t2, t3] = trials as [Trial, Trial, Trial];
  seed('healthy', managed(t1.id, t1.specHash), { instanceType: 'g5.xlarge', market: 'spot' });
  seed('silent', managed(t2.id, t2.specHash), { instanceType: 'g5.xlarge', market: 'on-demand' });
  seed('ended', managed(t3.id, t3.specHash), { instanceType: 'g5.xlarge', market: 'spot' });
  seed('orphan', managed('sweep-0badc0de', 'abc'), { instanceType: 'c5.large', market: 'spot' });
  // a type the price table lacks: listed without a price
  seed('other', managed('bert-1', 'def', 'nlp', 'bert'), { instanceType: 'x2gd.large', market: 'on-demand' });
  seed('gpuBox', { Name: 'gpu-box' }, { instanceType: 'g5.xlarge', market: 'on-demand' });
  seed('trainBox', { Name: 'my-training-run' }, { instanceType: 'c5.large', market: 'spot' });
  seed('web', { Name: 'web' }, { instanceType: 't3.micro', market: 'on-demand' });
  now = Math.max(...Object.values(inst).map((i) => Date.parse(i.launchTime))) + 2 * HOUR;

  const store = new S3Store(storeUri, client);
  const rec = async (t: Trial, state: 'running' | 'succeeded', updatedAgo: number) => {
    const ref = { project: 'vision', job: 'sweep', trial: t.id };
    await store.writeSpec(ref, { ...ref, specHash: t.specHash, parameters: t.parameters, command: t.command });
    await store.writeStatus(ref, { n: 1, specHash: t.specHash, state, startedAt: iso(now - 2 * HOUR), updatedAt: iso(now - updatedAgo), costUSD: 0 });
    if (state === 'succeeded') {
      await store.writeResult(ref, { state, specHash: t.specHash, finishedAt: iso(now - updatedAgo), attempt: 1, durationMs: 1000, costUSD: 0, finalMetrics: {} });
    }
  };
  await rec(t1, 'running', 2 * MIN);
  await rec(t2, 'running', 40 * MIN);
  await rec(t3, 'succeeded', 5 * MIN);
});
afterAll(async () => { await emu?.stop(); });

const env = (extra: Record<string, string | undefined> = {}) => {
  const s3 = inject('s3');
  return {
    ...emu.env, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    TRAINCTL_NOW: iso(now), TRAINCTL_HOME: join(dir, 'home'), TRAINCTL_PRICES: undefined, ...extra,
  };
};
const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(['resources', ...args], { cwd: dir, env: env(extra) });
const ageS = (i: EmulatedInstance) => Math.round((now - Date.parse(i.launchTime)) / 1000);
const spend = (i: EmulatedInstance, usdPerHour: number) => Math.round(((usdPerHour * (now - Date.parse(i.launchTime))) / HOUR) * 10_000) / 10_000;
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
/** Spend of the priced (vision) instances: spot at the emulator's live price, on-demand at the list price. */
const visionSpend = () => round4(spend(inst.healthy!, 0.4024) + spend(inst.silent!, 1.006) + spend(inst.ended!, 0.4024) + spend(inst.orphan!, 0.0354));
const describeCalls = () => emu.calls.filter((c) => c.service === 'ec2' && c.action === 'DescribeInstances').length;
const terminateCalls = () => emu.calls.filter((c) => c.service === 'ec2' && c.action === 'TerminateInstances');
const states = () => Object.fromEntries(Object.entries(inst).map(([name, i]) => [name, emu.instances().find((x) => x.id === i.id)!.state]));

function listed(name: string, trial: string, extra: { project?: string; job?: string; market: string; type: string; price: number | null; source: string | null }) {
  const i = inst[name]!;
  return {
    id: i.id, region: 'us-east-1', az: 'us-east-1a', state: 'running', instanceType: extra.type, market: extra.market,
    project: extra.project ?? 'vision', job: extra.job ?? 'sweep', trial, rank: 0, attempt: 1,
    launchedAt: i.launchTime, ageSeconds: ageS(i),
    hourlyUSD: extra.price, priceSource: extra.source, spendUSD: extra.price === null ? null : spend(i, extra.price),
  };
}

describe('trainctl resources (EC2 emulator)', () => {
  it('list: every managed instance with trial, market, age, price and spend; untagged ones left out', async () => {
    const before = describeCalls();
    const r = await cli(['list', '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // one paged scan; spot prices in one more call
    expect(describeCalls() - before).toBe(1);
    const [t1, t2, t3] = trials as [Trial, Trial, Trial];
    const expected = [
      // spot: the emulator's live price; on-demand: the built-in list price of us-east-1
      listed('healthy', t1.id, { market: 'spot', type: 'g5.xlarge', price: 0.4024, source: 'spot-live' }),
      listed('silent', t2.id, { market: 'on-demand', type: 'g5.xlarge', price: 1.006, source: 'table' }),
      listed('ended', t3.id, { market: 'spot', type: 'g5.xlarge', price: 0.4024, source: 'spot-live' }),
      listed('orphan', 'sweep-0badc0de', { market: 'spot', type: 'c5.large', price: 0.0354, source: 'spot-live' }),
      listed('other', 'bert-1', { project: 'nlp', job: 'bert', market: 'on-demand', type: 'x2gd.large', price: null, source: null }),
    ].sort((a, b) => b.ageSeconds - a.ageSeconds || Date.parse(a.launchedAt) - Date.parse(b.launchedAt) || a.id.localeCompare(b.id));
    const out = JSON.parse(r.stdout);
    expect(out.instances.map((x: { id: string }) => x.id).sort()).toEqual(expected.map((x) => x.id).sort());
    expect([...out.instances].sort((a, b) => a.id.localeCompare(b.id))).toEqual([...expected].sort((a, b) => a.id.localeCompare(b.id)));
    const spent = visionSpend();
    expect(out).toMatchObject({ formatVersion: 1, now: iso(now), regions: ['us-east-1'], total: { key: 'total', instances: 5, running: 5, hourlyUSD: 1.8462, spendUSD: spent, unpriced: 1 } });

    const text = await cli(['list']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^INSTANCE\s+REGION\s+STATE\s+TYPE\s+MARKET\s+PROJECT\s+JOB\s+TRIAL\s+RANK\s+ATTEMPT\s+AGE\s+\$\/H\s+SPEND$/);
    expect(lines.find((l) => l.startsWith(inst.healthy!.id))).toMatch(new RegExp(`^${inst.healthy!.id}\\s+us-east-1\\s+running\\s+g5\\.xlarge\\s+spot\\s+vision\\s+sweep\\s+${t1.id}\\s+0\\s+1\\s+2h00m\\s+\\$0\\.4024\\s+\\$0\\.8048$`));
    expect(text.stdout).toContain(`5 managed instances, 5 running; burn $1.8462/h, spent $${spent.toFixed(4)} so far (1 without a price: a type the price table lacks; add it to prices.json).`);
    expect(text.stdout).not.toContain(inst.gpuBox!.id);
  });

  it('summary: counts and spend per project, job, region and state, and the burn rate', async () => {
    const r = await cli(['summary', '--output', 'json', '--region', 'us-east-1,eu-west-1']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const vision = visionSpend();
    const g = (key: string, instances: number, hourlyUSD: number, spendUSD: number, unpriced: number) => ({ key, instances, running: instances, hourlyUSD, spendUSD, unpriced });
    expect(out).toEqual({
      formatVersion: 1, now: iso(now), regions: ['us-east-1', 'eu-west-1'],
      total: g('total', 5, 1.8462, vision, 1),
      byProject: [g('vision', 4, 1.8462, vision, 0), g('nlp', 1, 0, 0, 1)],
      byJob: [g('vision/sweep', 4, 1.8462, vision, 0), g('nlp/bert', 1, 0, 0, 1)],
      byRegion: [g('us-east-1', 5, 1.8462, vision, 1)],
      byState: [g('running', 5, 1.8462, vision, 1)],
    });
    const text = await cli(['summary']);
    expect(text.stdout).toMatch(/^PROJECT\s+INSTANCES\s+RUNNING\s+\$\/H\s+SPEND\s+UNPRICED\nvision\s+4\s+4\s+\$1\.8462\s+\$\d+\.\d+\s+0\nnlp\s+1\s+1\s+-\s+-\s+1\n/);
    expect(text.stdout).toContain('\nTotal: 5 managed instances, 5 running; burn $1.8462/h, spent $');
  });

  it('insights with the spec: zombie, orphan, idle GPU and untagged training, each with why and what to do', async () => {
    const r = await cli(['insights', '-f', 'job.yaml', '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const [, t2, t3] = trials as [Trial, Trial, Trial];
    const cleanupHint = 'terminate with `trainctl resources cleanup --force`';
    const f = (kind: string, reason: string, name: string, type: string, trial: string | null, why: string, action: string, cleanup: boolean) => ({
      kind, reason, instance: inst[name]!.id, region: 'us-east-1', instanceType: type,
      project: trial ? 'vision' : null, job: trial ? 'sweep' : null, trial, why, action, cleanup,
    });
    const untagged = 'check it by hand: trainctl never stops or terminates an instance it did not tag';
    const expected = [
      f('zombie', 'no-heartbeat', 'silent', 'g5.xlarge', t2.id, `no heartbeat for 40m00s (last ${iso(now - 40 * MIN)}; limit 15m00s)`, cleanupHint, true),
      f('zombie', 'no-heartbeat', 'orphan', 'c5.large', 'sweep-0badc0de', `no heartbeat since it launched ${ageS(inst.orphan!) === 7200 ? '2h00m' : '?'} ago (limit 15m00s)`, cleanupHint, true),
      f('orphan', 'unknown-trial', 'orphan', 'c5.large', 'sweep-0badc0de', 'trial sweep-0badc0de is in no given spec of project vision and no store has a record of it', `${cleanupHint}, or \`trainctl apply --prune\``, true),
      f('idle-gpu', 'trial-ended', 'ended', 'g5.xlarge', t3.id, `trial ${t3.id} ended (succeeded) 5m00s ago; the GPU instance still runs`, `terminate with \`trainctl resources cleanup ${inst.ended!.id} --force\``, false),
      f('untagged-training', 'gpu-type', 'gpuBox', 'g5.xlarge', null, 'no trainctl:managed tag, GPU type g5.xlarge ("gpu-box"), running for 2h00m', untagged, false),
      f('untagged-training', 'name-says-train', 'trainBox', 'c5.large', null, 'no trainctl:managed tag, named "my-training-run", running for 2h00m', untagged, false),
    ];
    // within a kind: oldest first, then by id
    const launched = (id: string) => Date.parse(Object.values(inst).find((i) => i.id === id)!.launchTime);
    const kinds = ['zombie', 'orphan', 'idle-gpu', 'untagged-training'];
    expected.sort((a, b) => kinds.indexOf(a.kind) - kinds.indexOf(b.kind) || launched(a.instance) - launched(b.instance) || a.instance.localeCompare(b.instance));
    expect(out).toEqual({
      formatVersion: 1, now: iso(now), regions: ['us-east-1'], findings: expected,
      notes: [
        'heartbeat unknown for nlp/bert: no spec given for it (pass -f <spec> to read its run store)',
        'orphans not judged in project nlp: no spec given (pass -f with every spec of a project)',
      ],
    });
    const text = await cli(['insights', '-f', 'job.yaml']);
    expect(text.stdout).toMatch(/^KIND\s+INSTANCE\s+REGION\s+TYPE\s+TRIAL\s+WHY\n/);
    expect(text.stdout).toContain('Insights: 2 zombie, 1 orphan, 1 idle GPU, 2 untagged training; 2 to clean up');
  });

  it('insights without a spec: heartbeat unknown; a day later every managed instance is a zombie by age', async () => {
    const r = await cli(['insights', '--output', 'json']);
    const out = JSON.parse(r.stdout);
    expect(out.findings.map((x: { kind: string }) => x.kind)).toEqual(['untagged-training', 'untagged-training']);
    expect(out.notes[0]).toMatch(/^heartbeat unknown for nlp\/bert, vision\/sweep: no spec given/);

    const later = await cli(['insights', '--output', 'json'], { TRAINCTL_NOW: iso(now + 23 * HOUR) });
    const zombies = JSON.parse(later.stdout).findings.filter((x: { kind: string }) => x.kind === 'zombie');
    expect(zombies.map((z: { instance: string }) => z.instance).sort()).toEqual(['healthy', 'silent', 'ended', 'orphan', 'other'].map((n) => inst[n]!.id).sort());
    expect(zombies.find((z: { instance: string }) => z.instance === inst.other!.id).why).toBe('running for 1d01h (limit 1d00h); heartbeat unknown');
  });

  it('plan --prune plans delete for the orphan, and only for it', async () => {
    const r = await runCli(['plan', '-f', 'job.yaml', '--prune', '--output', 'json'], { cwd: dir, env: env() });
    expect(r.stderr).toBe('');
    const plan = JSON.parse(r.stdout);
    const deletes = plan.actions.filter((a: { kind: string }) => a.kind === 'delete');
    expect(deletes).toEqual([expect.objectContaining({ kind: 'delete', reason: 'orphaned', project: 'vision', trial: 'sweep-0badc0de', resources: [inst.orphan!.id] })]);
    expect(JSON.stringify(plan.actions)).not.toContain(inst.other!.id);
  });

  it('cleanup without --force, and with --dry-run, shows the list and changes nothing', async () => {
    const before = states();
    const preview = await cli(['cleanup', '-f', 'job.yaml']);
    expect(preview.code).toBe(0);
    expect(preview.stdout).toContain('Cleanup: 2 managed instances to terminate');
    expect(preview.stdout).toContain('Nothing terminated: pass --force to terminate them');
    const dry = await cli(['cleanup', '-f', 'job.yaml', '--dry-run', '--force', '--yes', '--output', 'json']);
    expect(dry.code).toBe(0);
    const out = JSON.parse(dry.stdout);
    expect(out.targets.map((t: { instance: string }) => t.instance).sort()).toEqual([inst.silent!.id, inst.orphan!.id].sort());
    expect(out.targets.find((t: { instance: string }) => t.instance === inst.orphan!.id).kinds).toEqual(['zombie', 'orphan']);
    expect(out.terminated).toBeUndefined();
    expect(terminateCalls()).toHaveLength(0);
    expect(states()).toEqual(before);
  });

  it('cleanup refuses an untagged instance even when named, and needs --yes off a terminal', async () => {
    const named = await cli(['cleanup', inst.gpuBox!.id, '--force', '--yes']);
    expect(named.code).toBe(1);
    expect(named.stderr).toBe(`error: refusing to terminate ${inst.gpuBox!.id}: it has no trainctl:managed=true tag — trainctl only terminates instances it launched; terminate it with the AWS console or CLI if you mean to\n`);
    const noYes = await cli(['cleanup', '-f', 'job.yaml', '--force']);
    expect(noYes.code).toBe(1);
    expect(noYes.stderr).toMatch(/^error: refusing to terminate without confirmation: stdin is not a terminal — pass --yes/);
    expect(terminateCalls()).toHaveLength(0);
  });

  it('cleanup --force --yes terminates exactly the managed zombies and orphans, never an untagged one', async () => {
    const r = await cli(['cleanup', '-f', 'job.yaml', '--force', '--yes', '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.terminated.sort()).toEqual([inst.silent!.id, inst.orphan!.id].sort());
    expect(out.skipped).toEqual([]);
    const calls = terminateCalls();
    expect(calls).toHaveLength(1);
    expect((calls[0]!.params.InstanceId as string[]).sort()).toEqual([inst.silent!.id, inst.orphan!.id].sort());
    expect(states()).toMatchObject({
      healthy: 'running', ended: 'running', other: 'running', gpuBox: 'running', trainBox: 'running', web: 'running',
    });
    expect(['shutting-down', 'terminated']).toContain(states().silent);
    expect(['shutting-down', 'terminated']).toContain(states().orphan);

    // a managed instance named on the command line goes too (the idle GPU's suggested action)
    const idle = await cli(['cleanup', inst.ended!.id, '--force', '--yes']);
    expect(idle.code).toBe(0);
    expect(idle.stdout).toContain('Terminated 1 instance.');
    expect(states()).toMatchObject({ healthy: 'running', gpuBox: 'running', trainBox: 'running', web: 'running' });
    expect(['shutting-down', 'terminated']).toContain(states().ended);
  });

  it('terminate re-reads the tags right before TerminateInstances: an instance untagged since the scan is left alone', async () => {
    Object.assign(process.env, emu.env);
    const pool = new AwsClientPool(emu.env);
    // someone takes the healthy instance out of trainctl's hands after `insights` listed it
    await pool.for('us-east-1').ec2.send(new CreateTagsCommand({ Resources: [inst.healthy!.id], Tags: [{ Key: 'trainctl:managed', Value: 'false' }] }));
    const before = terminateCalls().length;
    const out = await terminateManaged(pool, 'us-east-1', [inst.healthy!.id, inst.web!.id, inst.ended!.id]);
    expect(out).toEqual({
      terminated: [],
      skipped: [
        { id: inst.healthy!.id, why: 'no trainctl:managed=true tag: never terminated by trainctl' },
        { id: inst.web!.id, why: 'no trainctl:managed=true tag: never terminated by trainctl' },
        { id: inst.ended!.id, why: expect.stringMatching(/^already (shutting-down|terminated)$/) },
      ],
    });
    expect(terminateCalls().length).toBe(before);
    expect(states()).toMatchObject({ healthy: 'running', web: 'running' });
  });

  it('help lists the verbs; an unknown verb is one line', async () => {
    const help = await runCli(['resources', '--help']);
    expect(help.code).toBe(0);
    for (const verb of ['list', 'summary', 'insights', 'cleanup']) expect(help.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, 'm'));
    const cleanupHelp = await runCli(['resources', 'cleanup', '--help']);
    expect(cleanupHelp.stdout).toMatch(/^Usage: trainctl resources cleanup /);
    expect(cleanupHelp.stdout).toContain('--force');
    const typo = await runCli(['resources', 'insight']);
    expect([typo.code, typo.stderr]).toEqual([1, 'error: unknown command "resources insight" — did you mean `trainctl resources insights`?\n']);
  });

  it('bad input: one line with a hint and exit 1', async () => {
    const noRegion = await cli(['list'], { AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined });
    expect([noRegion.code, noRegion.stderr]).toEqual([1, 'error: no AWS region to look in — pass --region us-east-1 (repeatable or a comma list), -f with an aws spec that sets compute.region, or export AWS_REGION\n']);
    const badRegion = await cli(['list', '--region', 'us east']);
    expect([badRegion.code, badRegion.stderr]).toEqual([1, 'error: --region "us east" is not an AWS region name — e.g. --region us-east-1,eu-west-1\n']);
    const noCreds = await cli(['list'], {
      AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined,
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_CONFIG_FILE: join(dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined, AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
    });
    expect(noCreds.code).toBe(1);
    expect(noCreds.stderr).toMatch(/^error: DescribeInstances in us-east-1: no valid AWS credentials \(CredentialsProviderError\) — export AWS_ACCESS_KEY_ID[^\n]*\n$/);
    const down = await cli(['insights'], { AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: DescribeInstances in us-east-1: the AWS endpoint does not answer \([^\n]*\) — check AWS_ENDPOINT_URL_EC2[^\n]*\n$/);
    const badAge = await cli(['insights', '--max-age', 'soon']);
    expect([badAge.code, badAge.stderr]).toEqual([1, 'error: --max-age "soon" is not a duration — write it like 15m, 24h, 1h30m or 2d\n']);
  }, 60_000);
});
