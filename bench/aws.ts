// bench:aws — the aws provider against the wire-level EC2 emulator with 10,000 managed instances
// (500 trials × 20 node ranks, one project): (a) trainctl's observation — one paged DescribeInstances
// scan — in process (AwsProvider.observe + the planner) and as the built CLI (`trainctl plan`), calls
// made and wall time; (b) a naive lookup of the same instances, one filtered DescribeInstances per
// trial, in the same run, and the ratio; (c) spot→on-demand failover: a spot capacity fault, then
// `trainctl apply` on a spot-with-fallback job, timed from the emulator's call log (first capacity
// error → the on-demand RunInstances). Goals (issue 7): ≤ 10 DescribeInstances calls per region at
// 1,000 per page; failover < 5 s. Needs radosgw for the run store (started here, as in bench:s3).
//
//   npm run bench:aws                    ~1 min
//   node dist/bench/aws.js --rounds 5    more failover rounds (default 3)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { plan } from '../src/core/plan.js';
import { desiredOf } from '../src/engine/planning.js';
import { AwsClientPool } from '../src/providers/aws/clients.js';
import { AwsProvider, scanManaged } from '../src/providers/aws/index.js';
import { TAG } from '../src/providers/aws/model.js';
import { renderTable } from '../src/render/table.js';
import { loadText } from '../src/spec/load.js';
import { createS3Client } from '../src/transfer/index.js';
import { startEmulator, type ApiCall, type Emulator } from '../test/emulator/index.js';
import { startS3Server } from '../scripts/s3-server.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const TRIALS = 500;
const RANKS = 20;
const INSTANCES = TRIALS * RANKS;
const REGION = 'us-east-1';
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 3) || 3;
const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'bin.js');
const work = mkdtempSync(join(tmpdir(), 'trainctl-bench-aws-'));
mkdirSync(join(work, 'code'));
writeFileSync(join(work, 'code', 'train.py'), 'import time\nfor step in range(5):\n    print(f"step={step} loss={1 / (step + 1)}", flush=True)\n    time.sleep(0.05)\n');

/** 500 trials: 25 learning rates × 20 seeds. */
const sweepSpec = (storeUri: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: bench }
spec:
  compute: { provider: aws, region: ${REGION}, instanceType: g5.xlarge, market: spot, ami: ami-0123456789abcdef0 }
  code: { path: ${join(work, 'code')}, command: "python3 train.py --lr {lr} --seed {seed}" }
  output: { uri: "${storeUri}" }
  hyperparameters:
    parameters:
      lr: [${Array.from({ length: 25 }, (_, i) => (0.001 * (i + 1)).toFixed(3)).join(', ')}]
      seed: [${Array.from({ length: 20 }, (_, i) => i).join(', ')}]
    maxParallel: ${TRIALS}
`;

const failoverSpec = (storeUri: string, name: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${name}, project: failover }
spec:
  compute: { provider: aws, region: ${REGION}, instanceType: g5.xlarge, market: spot-with-fallback, ami: ami-0123456789abcdef0 }
  code: { path: ${join(work, 'code')}, command: "python3 train.py --lr {lr}" }
  output: { uri: "${storeUri}" }
  hyperparameters:
    parameters: { lr: [0.1] }
`;

function runCli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, wallMs: performance.now() - t0 }));
  });
}

const describes = (calls: readonly ApiCall[], from: number) => calls.slice(from).filter((c) => c.service === 'ec2' && c.action === 'DescribeInstances').length;
const ms = (x: number) => `${Math.round(x)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row { measure: string; calls: string; wall: string; note: string }
const rows: Row[] = [];

console.error('bench:aws: starting radosgw (memstore) …');
const s3 = await startS3Server();
let sweepEmu: Emulator | undefined;
let failEmu: Emulator | undefined;
try {
  const bucket = 'bench-aws';
  const s3Client = createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
  const s3Env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

  // ---- (a) + (b): 10,000 managed instances
  sweepEmu = await startEmulator({ region: REGION });
  const emu = sweepEmu;
  const storeUri = `s3://${bucket}/runs/`;
  writeFileSync(join(work, 'sweep.yaml'), sweepSpec(storeUri));
  const loaded = loadText(sweepSpec(storeUri), join(work, 'sweep.yaml'), { cwd: work, dir: work, defaultOutputUri: 'file:///tmp/unused' });
  if (loaded.jobs.length !== 1) throw new Error(`bench spec did not load: ${JSON.stringify(loaded.diagnostics)}`);
  const { desired, trials } = desiredOf(loaded.jobs);
  if (trials.length !== TRIALS) throw new Error(`expected ${TRIALS} trials, got ${trials.length}`);
  emu.seed(INSTANCES, (i) => {
    const t = trials[Math.floor(i / RANKS)]!;
    return {
      [TAG.managed]: 'true', [TAG.project]: 'bench', [TAG.job]: 'sweep', [TAG.trial]: t.id, [TAG.specHash]: t.specHash,
      [TAG.nodeRank]: String(i % RANKS), [TAG.attempt]: '1', [TAG.runner]: 'started', Name: `trainctl-sweep-${t.id}-a1-r${i % RANKS}`, CreatedBy: 'trainctl',
    };
  }, { instanceType: 'g5.xlarge', market: 'spot' });
  const env = { ...emu.env, ...s3Env };
  // the SDK's credential chain reads this process's environment
  Object.assign(process.env, env);
  console.error(`bench:aws: seeded ${INSTANCES} managed instances (${TRIALS} trials × ${RANKS} ranks)`);

  // warm-up: the SDK's first request loads and resolves its config
  const warm = new AwsClientPool(env);
  await warm.for(REGION).ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));

  let from = emu.calls.length;
  let t0 = performance.now();
  const scanned = await scanManaged(new AwsClientPool(env), REGION);
  const scanMs = performance.now() - t0;
  const scanCalls = describes(emu.calls, from);
  if (scanned.length !== INSTANCES) throw new Error(`scan found ${scanned.length} instances`);
  rows.push({ measure: 'trainctl scan (scanManaged)', calls: String(scanCalls), wall: ms(scanMs), note: `${scanned.length.toLocaleString('en-US')} instances, 1,000 per page` });

  from = emu.calls.length;
  t0 = performance.now();
  const provider = new AwsProvider([REGION], env);
  const resources = await provider.observe('bench');
  const planned = plan(desired, { resources, records: [] }, { prune: false }, new Date());
  const observeMs = performance.now() - t0;
  rows.push({
    measure: 'trainctl observe + plan (in process)', calls: String(describes(emu.calls, from)), wall: ms(observeMs),
    note: `${resources.length.toLocaleString('en-US')} resources → ${planned.actions.filter((a) => a.kind === 'noop').length} noop actions`,
  });

  from = emu.calls.length;
  const cli = await runCli(['plan', '-f', 'sweep.yaml', '--output', 'json'], work, env);
  if (cli.code !== 0) throw new Error(`trainctl plan failed (${cli.code}): ${cli.stderr}`);
  rows.push({ measure: 'trainctl plan (CLI, process start to exit)', calls: String(describes(emu.calls, from)), wall: ms(cli.wallMs), note: 'also reads the S3 run store and prices' });

  from = emu.calls.length;
  t0 = performance.now();
  const pool = new AwsClientPool(env);
  let found = 0;
  for (const t of trials) {
    let NextToken: string | undefined;
    do {
      const page = await pool.for(REGION).ec2.send(new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${TAG.managed}`, Values: ['true'] },
          { Name: `tag:${TAG.trial}`, Values: [t.id] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping'] },
        ],
        MaxResults: 1000, NextToken,
      }));
      for (const r of page.Reservations ?? []) found += r.Instances?.length ?? 0;
      NextToken = page.NextToken;
    } while (NextToken);
  }
  const naiveMs = performance.now() - t0;
  const naiveCalls = describes(emu.calls, from);
  if (found !== INSTANCES) throw new Error(`naive lookup found ${found} instances`);
  rows.push({ measure: 'naive: one DescribeInstances per trial', calls: String(naiveCalls), wall: ms(naiveMs), note: `${TRIALS} trials, sequential` });
  rows.push({
    measure: 'ratio naive / trainctl scan', calls: `${(naiveCalls / scanCalls).toFixed(0)}×`, wall: `${(naiveMs / scanMs).toFixed(1)}×`,
    note: scanCalls <= 10 ? `goal ≤ 10 calls: met (${scanCalls})` : `goal ≤ 10 calls: MISSED (${scanCalls})`,
  });
  await emu.stop();
  sweepEmu = undefined;

  // ---- (c) failover: spot capacity error → on-demand RunInstances
  failEmu = await startEmulator({
    region: REGION, pendingMs: 200, agentOnlineMs: 200,
    instanceEnv: { ...s3Env, AWS_REGION: s3.region, TRAINCTL_SPOT_POLL_MS: '200' },
  });
  const femu = failEmu;
  const fenv = { ...femu.env, ...s3Env, TRAINCTL_HOME: join(work, 'home'), TRAINCTL_AWS_POLL_MS: '100' };
  const failovers: number[] = [];
  const applies: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const name = `failover-${r}`;
    writeFileSync(join(work, `${name}.yaml`), failoverSpec(`s3://${bucket}/failover/`, name));
    femu.faults.capacity({ market: 'spot', instanceType: 'g5.xlarge', code: 'InsufficientInstanceCapacity' });
    const start = femu.calls.length;
    const out = await runCli(['apply', '-f', `${name}.yaml`, '--yes'], work, fenv);
    femu.faults.clear();
    if (out.code !== 0) throw new Error(`apply (failover round ${r}) failed (${out.code}): ${out.stderr}`);
    const runs = femu.calls.slice(start).filter((c) => c.service === 'ec2' && c.action === 'RunInstances');
    const firstError = runs.find((c) => c.error === 'InsufficientInstanceCapacity');
    const onDemand = runs.find((c) => !c.error && !JSON.stringify(c.params).includes('InstanceMarketOptions'));
    if (!firstError || !onDemand) throw new Error(`round ${r}: no capacity error / on-demand launch in the call log`);
    failovers.push(onDemand.at - firstError.at);
    applies.push(out.wallMs);
    const stop = await runCli(['destroy', '-f', `${name}.yaml`, '--yes'], work, fenv);
    if (stop.code !== 0) throw new Error(`destroy (round ${r}) failed: ${stop.stderr}`);
  }
  rows.push({
    measure: 'failover: capacity error → on-demand RunInstances', calls: '2 RunInstances', wall: ms(median(failovers)),
    note: `median of ${rounds} (${failovers.map((x) => Math.round(x)).join(', ')} ms); goal < 5 s: ${median(failovers) < 5000 ? 'met' : 'MISSED'}`,
  });
  rows.push({ measure: 'apply with failover, start to launched (CLI)', calls: '-', wall: ms(median(applies)), note: 'includes bundle upload, boot and SSM bootstrap' });
} finally {
  await sweepEmu?.stop().catch(() => undefined);
  await failEmu?.stop().catch(() => undefined);
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
}

process.stdout.write(`\nbench:aws — ${INSTANCES.toLocaleString('en-US')} managed instances in ${REGION} (EC2 emulator in this process, real SDK clients)\n\n`);
process.stdout.write(renderTable(rows, [
  { header: 'MEASURE', value: (r) => r.measure },
  { header: 'DescribeInstances', value: (r) => r.calls, align: 'right' },
  { header: 'WALL', value: (r) => r.wall, align: 'right' },
  { header: 'NOTE', value: (r) => r.note },
]));
