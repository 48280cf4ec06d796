// End to end with an s3:// output store: the built CLI with the radosgw credentials in the
// environment (as a user would have them), local runners writing records, logs, metrics and
// gzip-compressed checkpoints to S3 and staging a dataset from s3://; a runner stopped with SIGTERM
// resumes from its S3 checkpoint; then status and plan read everything back from S3.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listNodeRecords, processStartTime } from '../../src/providers/local/nodes.js';
import { S3Store } from '../../src/store/s3.js';
import { repoRoot, runCli, type SeenProcess, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const client = testClient();
const code = join(repoRoot, 'test/fixtures/apply/code');


interface PlanJson { actions: { trial: string; kind: string; reason: string; attempt?: number; resumeFromStep?: number }[] }

const started: SeenProcess[] = [];
afterAll(async () => {
  await stopProcesses(started);
});

describe('trainctl apply with an s3:// output store', () => {
  it('trains, resumes an interrupted trial from S3, and status and plan read it all back from S3', async () => {
    const bucket = await makeBucket(client, 'e2e');
    const dataset = `datasets/${randomBytes(3).toString('hex')}/`;
    const rows = Array.from({ length: 500 }, (_, i) => `${i},${3 * i + 1}\n`).join('');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${dataset}train.csv`, Body: rows }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${dataset}README.md`, Body: 'not staged' }));
    const storeUri = `s3://${bucket}/runs/`;
    const dir = tempDir('trainctl-s3e2e-');
    const home = join(dir, 'home');
    writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: s3e2e, project: s3test }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} --steps 200 --sleep 0.02 --ckpt-every 20", setup: "wc -l data/train.csv; ls data" }
  data:
    - { source: "s3://${bucket}/${dataset}", target: data/, verify: etag, exclude: ["*.md"] }
  output: { uri: "${storeUri}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", keepLastN: 2, gracePeriod: 10s, compress: gzip }
  hyperparameters:
    parameters: { lr: [0.1, 0.05] }
    maxParallel: 2
  metrics: { objective: { metric: loss, goal: minimize } }
` });
    const env = { ...s3Env(), TRAINCTL_HOME: home };
    const cli = (args: string[]) => runCli(args, { cwd: dir, env });
    const store = new S3Store(storeUri, client);

    const first = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Apply complete: 2 launched, 0 stopped.');
    const recs = await until(() => {
      const r = listNodeRecords(home).map((x) => x.rec).filter((x) => x.pid);
      return r.length === 2 && r;
    }, 'two runners');
    for (const r of recs) started.push({ pid: r.pid!, pidStart: r.pidStart });

    // SIGTERM one runner once it has a checkpoint in S3: it uploads a final one and ends interrupted
    const victim = recs[0]!;
    const ref = { project: 's3test', job: 's3e2e', trial: victim.trial };
    await until(async () => (await store.readTrial(ref))?.checkpoint, 'a checkpoint in S3');
    process.kill(victim.pid!, 'SIGTERM');
    await until(() => processStartTime(victim.pid!) === undefined, 'the runner to stop');
    const interrupted = (await store.readTrial(ref))!;
    expect(interrupted.attempts.map((a) => a.state)).toEqual(['interrupted']);
    const step = interrupted.checkpoint!.step;
    expect(step).toBeGreaterThan(0);
    const manifest = await store.fetchCheckpoint(ref, step, tempDir());
    expect(manifest.files).toMatchObject([{ path: `step-${String(step).padStart(6, '0')}.json` }]);

    const plan = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(plan.actions.find((a) => a.trial === victim.trial)).toMatchObject({ kind: 'resume', reason: 'interrupted', attempt: 2, resumeFromStep: step });

    const done = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`resumed ${victim.trial} (attempt 2, from step ${step})`);
    expect(done.stdout).toMatch(/^Training completed: 2 trials, best loss [0-9.e-]+ \(s3e2e-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);

    // everything is in S3: results, the resumed attempt's log with the staged data, metrics of both attempts
    const all = await store.readRecords('s3test');
    expect(all.map((r) => r.result?.state)).toEqual(['succeeded', 'succeeded']);
    expect(all.find((r) => r.trial === victim.trial)!.attempts.map((a) => a.state)).toEqual(['interrupted', 'succeeded']);
    const log2 = (await store.readLog(ref, 2, 0))!.toString();
    expect(log2).toContain(`resumed from step ${step}`);
    expect(log2).toMatch(/staged s3:\/\/\S+ → data\/: 1 files, \d+ bytes/);
    expect(log2).toMatch(/500 data\/train\.csv\ntrain\.csv\n/);
    const points = await store.readMetrics(ref);
    expect(points.filter((p) => p.attempt === 1).at(-1)!.step).toBeLessThanOrEqual(step);
    expect(points.filter((p) => p.attempt === 2)[0]!.step).toBeGreaterThan(step);
    expect(points.at(-1)!.step).toBe(200);
    // compress: gzip reached the runner; a 63-byte JSON checkpoint does not shrink by 10%, so it is stored as is
    const tasks = (readdirSync(join(home, 'local'), { recursive: true }) as string[]).filter((p) => p.endsWith('task.json'));
    expect(tasks.length).toBeGreaterThanOrEqual(3);
    for (const t of tasks) expect(JSON.parse(readFileSync(join(home, 'local', t), 'utf8'))).toMatchObject({ checkpoint: { compress: 'gzip' }, data: [{ source: `s3://${bucket}/${dataset}`, target: 'data/', verify: 'etag', exclude: ['*.md'] }] });
    expect((await store.fetchCheckpoint(ref, 200, tempDir())).files[0]).not.toHaveProperty('encoding');

    const status = await cli(['status', '-f', 'job.yaml']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    // state, attempt, step and metric all come from S3: records, result.json and the metrics segments
    for (const r of all) expect(status.stdout).toMatch(new RegExp(`^${r.trial} +lr=[0-9.]+ +succeeded +${r.attempts.length} +200 +loss [0-9.e-]+ +\\d+s +\\$0\\.00$`, 'm'));
    expect(status.stdout).toMatch(/^s3test\/s3e2e: 2 trials — 2 succeeded; best loss/m);
    // logs are served from S3 too, the same bytes the store holds
    const logs = await cli(['logs', victim.trial, '--attempt', '2', '--file', 'job.yaml']);
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toBe(log2);
    const again = await cli(['plan', '-f', 'job.yaml']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes.');
    const json = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(json.actions.map((a) => a.kind)).toEqual(['noop', 'noop']);
  }, 120_000);

  it('names the store and gives a hint in one line when the bucket does not exist', async () => {
    const dir = tempDir('trainctl-s3e2e-');
    writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: nobucket, project: s3test }
spec:
  code: { path: ${code}, command: "python3 train.py" }
  output: { uri: "s3://no-such-bucket-e2e/runs/" }
` });
    const r = await runCli(['plan', '-f', 'job.yaml'], { cwd: dir, env: { ...s3Env(), TRAINCTL_HOME: join(dir, 'home') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: output store s3://no-such-bucket-e2e/runs/: bucket no-such-bucket-e2e does not exist — check the bucket name and the endpoint/region\n');
    expect(r.stderr).not.toContain(s3Env().AWS_SECRET_ACCESS_KEY!);
  });
});
