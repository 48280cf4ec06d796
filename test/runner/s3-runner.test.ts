// The bundled runner with an s3:// store (the run's radosgw): status, logs, metrics, checkpoints
// with keep-last-N, SIGTERM → final checkpoint in S3 → resume, compressed checkpoints, and data
// staging from s3:// (include/exclude, verify) and file://.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3Store } from '../../src/store/s3.js';
import type { TrialRef } from '../../src/store/store.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';
import { makeTask, PY, runToEnd, scratchDir, startRunner, type TaskOverrides } from './harness.js';
import { until } from '../helpers.js';

const client = testClient();
const bucket = makeBucket(client, 'runner');

interface S3Sandbox { root: string; storeUri: string; store: S3Store; ref: TrialRef }

async function s3Sandbox(trial = 'fit-0a1b2c3d'): Promise<S3Sandbox> {
  const storeUri = `s3://${await bucket}/${randomBytes(4).toString('hex')}/runs/`;
  return { root: scratchDir(), storeUri, store: new S3Store(storeUri, client), ref: { project: 'lab', job: 'fit', trial } };
}

const env = s3Env();
const run = (sb: S3Sandbox, o: TaskOverrides) => runToEnd(makeTask(sb, o), { env });
const log = async (sb: S3Sandbox, attempt = 1) => (await sb.store.readLog(sb.ref, attempt, 0))?.toString() ?? '';

/** Polls the store the way a user would, until `probe` says yes. */

describe('runner on an s3:// store', () => {
  it('records status, result, metrics, logs and keep-last-N checkpoints', async () => {
    const sb = await s3Sandbox();
    const { code, stderr } = await run(sb, {
      command: `${PY} train.py --steps 30 --every 5 --sleep 0.01 --lr 0.1`,
      setup: 'echo setup-output',
      checkpoint: { keepLastN: 2 },
      metrics: { objective: { metric: 'loss', goal: 'minimize' } },
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rec = (await sb.store.readTrial(sb.ref))!;
    expect(rec).toMatchObject({ specHash: 'spec-1', attempts: [{ n: 1, state: 'succeeded', exitCode: 0, step: 30 }], result: { state: 'succeeded' }, checkpoint: { step: 30 } });
    expect(await sb.store.readResult(sb.ref)).toMatchObject({ state: 'succeeded', attempt: 1, best: { metric: 'loss', step: 30 } });
    const points = await sb.store.readMetrics(sb.ref);
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const p of points) expect(p.values.loss).toBeCloseTo(0.9 ** p.step, 12);
    const text = await log(sb);
    expect(text.indexOf('setup-output')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('done\n');
    expect(text).toContain('attempt 1 succeeded (exit code 0)');
    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([25, 30]);
    const dest = scratchDir();
    await sb.store.fetchCheckpoint(sb.ref, 30, dest);
    expect(JSON.parse(readFileSync(join(dest, 'ckpt_0030.json'), 'utf8'))).toMatchObject({ step: 30 });
  });

  it('uploads the final checkpoint on SIGTERM to S3, and a resumed attempt restores it and continues exactly', async () => {
    const sb = await s3Sandbox();
    const command = (sleep: number) => `${PY} train.py --steps 60 --every 5 --sleep ${sleep}`;
    const first = startRunner(makeTask(sb, { command: command(0.03), checkpoint: { keepLastN: 2 } }), { env });
    await until(async () => (await sb.store.listCheckpoints(sb.ref)).length > 0, 'a first checkpoint in S3');
    first.child.kill('SIGTERM');
    expect((await first.done).code).toBe(0);
    const rec = (await sb.store.readTrial(sb.ref))!;
    expect(rec.attempts[0]!.state).toBe('interrupted');
    const step = rec.checkpoint!.step;
    expect(await log(sb)).toContain(`SIGTERM: saved step ${step}`);

    const second = makeTask(sb, { attempt: 2, command: command(0.002), resumeFromStep: step, checkpoint: { keepLastN: 2 } });
    expect((await runToEnd(second, { env })).code).toBe(0);
    const points = await sb.store.readMetrics(sb.ref);
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    for (const p of points) expect(p.values.loss).toBeCloseTo(0.9 ** p.step, 12);
    expect(await log(sb, 2)).toContain(`resumed from step ${step}`);
    expect(await sb.store.readResult(sb.ref)).toMatchObject({ state: 'succeeded', attempt: 2 });
  }, 60_000);

  it('compresses checkpoints with checkpoint.compress: gzip and restores them', async () => {
    const sb = await s3Sandbox();
    // a checkpoint that compresses well: the state padded with repeated text
    const command = `${PY} -c "import os,json; d=os.environ['TRAINCTL_CHECKPOINT_DIR']; open(d+'/ckpt_0007.json','w').write(json.dumps({'step':7,'pad':'abc'*20000}))"`;
    expect((await run(sb, { command, checkpoint: { compress: 'gzip' } })).code).toBe(0);
    const dest = scratchDir();
    const m = await sb.store.fetchCheckpoint(sb.ref, 7, dest);
    expect(m.files).toMatchObject([{ path: 'ckpt_0007.json', object: 'checkpoints/7/ckpt_0007.json.gz', encoding: 'gzip' }]);
    expect(JSON.parse(readFileSync(join(dest, 'ckpt_0007.json'), 'utf8')).pad).toHaveLength(60_000);
  });
});

describe('runner data staging', () => {
  it('stages an s3:// dataset (include/exclude, verified) and a file:// one into the work dir before setup', async () => {
    const sb = await s3Sandbox();
    const b = await bucket;
    const prefix = `datasets/${randomBytes(4).toString('hex')}/mini/`;
    const objects: Record<string, Buffer> = {
      'train/part-0.csv': Buffer.from('a,b\n1,2\n'), 'train/part-1.csv': randomBytes(3 * 1024 * 1024), 'val/part-0.csv': Buffer.from('x\n'), 'README.md': Buffer.from('skip me'),
    };
    for (const [k, body] of Object.entries(objects)) await client.send(new PutObjectCommand({ Bucket: b, Key: `${prefix}${k}`, Body: body }));
    const local = join(scratchDir(), 'labels');
    mkdirSync(local);
    writeFileSync(join(local, 'labels.txt'), 'cat\ndog\n');
    const task = makeTask(sb, {
      command: `${PY} -c "import os; print('seen', sorted(os.listdir('data/train')), open('labels/labels.txt').read().split())"`,
      setup: 'test -f data/train/part-0.csv && echo data-before-setup',
      data: [
        { source: `s3://${b}/${prefix}`, target: 'data', verify: 'etag', include: ['**/*.csv'], exclude: ['val/**'] },
        { source: pathToFileURL(local).href, target: 'labels', verify: 'sha256' },
      ],
    });
    const { code } = await runToEnd(task, { env });
    expect(code).toBe(0);
    expect(readdirSync(join(task.workDir, 'data'), { recursive: true }).sort()).toEqual(['train', 'train/part-0.csv', 'train/part-1.csv']);
    expect(readFileSync(join(task.workDir, 'data/train/part-1.csv')).equals(objects['train/part-1.csv']!)).toBe(true);
    const text = await log(sb);
    expect(text).toMatch(new RegExp(`staged s3://${b}/${prefix} → data: 2 files, ${8 + 3 * 1024 * 1024} bytes in \\d+ ms`));
    expect(text).toMatch(/staged file:\/\/\S+ → labels: 1 files, 8 bytes/);
    expect(text).toContain('data-before-setup');
    expect(text).toContain("seen ['part-0.csv', 'part-1.csv'] ['cat', 'dog']");
  });

  it('fails the attempt in one line when a dataset cannot be staged, before any training', async () => {
    const sb = await s3Sandbox();
    const task = makeTask(sb, { command: `${PY} train.py --steps 3`, data: [{ source: 's3://no-such-dataset-bucket/x/', target: 'data', verify: 'etag' }] });
    const { code, stderr } = await runToEnd(task, { env });
    expect(code).toBe(1);
    expect(stderr).toContain('staging s3://no-such-dataset-bucket/x/: bucket no-such-dataset-bucket does not exist');
    const rec = await until(() => sb.store.readTrial(sb.ref), 'the attempt record');
    expect(rec.attempts[0]).toMatchObject({ state: 'failed', error: expect.stringMatching(/^staging s3:\/\/no-such-dataset-bucket\/x\/: bucket no-such-dataset-bucket does not exist/) });
    expect(existsSync(join(task.workDir, 'train.pid'))).toBe(false);
  });
});
