// `trainctl checkpoint list|info|cleanup` through the built CLI, on a store written the way the
// runner writes it (FileStore.putCheckpoint: files, MANIFEST.json, LATEST), on the same tree
// uploaded to the real radosgw, and on plain directories of checkpoint files.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file.js';
import { listObjects } from '../../src/transfer/index.js';
import { runCli, tempDir, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const client = testClient();
let bucket: string;
beforeAll(async () => { bucket = await makeBucket(client, 'cli-ckpt'); });

const PYTHON = '/usr/bin/python3';
const hasTorch = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
})();

const ref = { project: 'vision', job: 'fit', trial: 'fit-0a1b2c3d' };

/** A store with checkpoints at steps 100…500 as the runner leaves them, and a half-written 600. */
async function storeFixture(): Promise<{ root: string; trialDir: string }> {
  const root = tempDir();
  const store = new FileStore(pathToFileURL(join(root, 'runs')).href);
  const work = join(root, 'work');
  for (const step of [100, 200, 300, 400, 500]) {
    writeFiles(work, { [`model_${step}.pt`]: `weights at ${step}`, 'optim.bin': `optimizer ${step}` });
    await store.putCheckpoint(ref, step, 1, work, [`model_${step}.pt`, 'optim.bin']);
  }
  const trialDir = join(root, 'runs', ref.project, ref.job, ref.trial);
  writeFiles(trialDir, { 'checkpoints/600/model_600.pt': 'half' });
  return { root, trialDir };
}

async function s3Keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listObjects(client, { bucket, key: prefix })) out.push(o.key.slice(prefix.length));
  return out.sort();
}

describe('trainctl checkpoint list', () => {
  it('lists a trial dir and its checkpoints/ dir alike: steps, files, size, time, completeness, LATEST', async () => {
    const { trialDir } = await storeFixture();
    const r = await runCli(['checkpoint', 'list', trialDir]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Checkpoints in ${join(trialDir, 'checkpoints')}, trainctl store; LATEST → 500`);
    expect(lines[1]).toMatch(/^STEP +FILES +SIZE +MODIFIED +STATUS$/);
    expect(lines.slice(2, 8).map((l) => l.replace(/\d{4}-\S+Z/, 'T').replace(/ +/g, ' ').trim())).toEqual([
      '100 2 27 B T complete', '200 2 27 B T complete', '300 2 27 B T complete', '400 2 27 B T complete',
      '500 2 27 B T complete LATEST', '600 1 4 B T incomplete (no MANIFEST.json)',
    ]);
    expect(lines.at(-1)).toBe('6 checkpoints, 5 complete, 139 B');
    const same = await runCli(['checkpoint', 'list', join(trialDir, 'checkpoints')]);
    expect(same.stdout).toBe(r.stdout);
  });

  it('lists the same tree on S3, and as JSON', async () => {
    const { root } = await storeFixture();
    expect((await runCli(['s3', 'upload', join(root, 'runs'), `s3://${bucket}/list/runs`, '--recursive'], { env: s3Env() })).code).toBe(0);
    const uri = `s3://${bucket}/list/runs/${ref.project}/${ref.job}/${ref.trial}/`;
    const r = await runCli(['checkpoint', 'list', uri, '--output', 'json'], { env: s3Env() });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { checkpoints: { step: number; files: number; bytes: number; status: string; latest: boolean }[] };
    expect(out).toMatchObject({ formatVersion: 1, location: `${uri}checkpoints/`, layout: 'store', latest: 500, ignored: [] });
    expect(out.checkpoints.map((c) => [c.step, c.files, c.bytes, c.status, c.latest])).toEqual([
      [100, 2, 27, 'complete', false], [200, 2, 27, 'complete', false], [300, 2, 27, 'complete', false], [400, 2, 27, 'complete', false],
      [500, 2, 27, 'complete', true], [600, 1, 4, 'incomplete', false],
    ]);
  });

  it('lists a plain directory of checkpoint files by the step in their names', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'step-000050.pt': 'a', 'step-000150.pt': 'bb', 'optim-000150.pt': 'cc', 'checkpoint-500/model.safetensors': 'ddd', 'notes.txt': 'n' });
    const r = await runCli(['checkpoint', 'list', dir]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n').slice(2, 5).map((l) => l.replace(/\d{4}-\S+Z/, 'T').replace(/ +/g, ' ').trim());
    expect(rows).toEqual(['50 step-000050.pt 1 1 B T -', '150 optim-000150.pt (+1) 2 4 B T -', '500 checkpoint-500 1 3 B T -']);
    expect(r.stdout).toContain('1 other entry without a step number in the name: notes.txt');
  });
});

describe('trainctl checkpoint info', () => {
  it("verifies a store checkpoint's files against its MANIFEST by size and sha256, and names a tampered file", async () => {
    const { trialDir } = await storeFixture();
    const ok = await runCli(['checkpoint', 'info', trialDir]);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toContain(`Checkpoint step 500 — ${join(trialDir, 'checkpoints/500')} (LATEST)`);
    expect(ok.stdout).toMatch(/Manifest: complete, written \S+ by attempt 1/);
    expect(ok.stdout).toMatch(/model_500\.pt +14 B +[0-9a-f]{16} +verified/);
    expect(ok.stdout).toContain('2 files, 27 B; every file matches MANIFEST.json (size and sha256).');

    appendFileSync(join(trialDir, 'checkpoints/300/optim.bin'), '!');
    const bad = await runCli(['checkpoint', 'info', join(trialDir, 'checkpoints/300'), '--output', 'json']);
    expect(bad.code).toBe(1);
    const out = JSON.parse(bad.stdout) as { step: number; verified: boolean; files: { path: string; status: string }[] };
    expect(out).toMatchObject({ formatVersion: 1, step: 300, verified: false, manifest: { status: 'complete', attempt: 1 } });
    expect(out.files.map((f) => [f.path, f.status])).toEqual([['model_300.pt', 'verified'], ['optim.bin', 'size-mismatch']]);
    expect(bad.stderr).toMatch(/^error: checkpoint 300 at .* does not match its MANIFEST\.json: optim\.bin does not match/);

    const half = await runCli(['checkpoint', 'info', join(trialDir, 'checkpoints/600')]);
    expect(half.code).toBe(0);
    expect(half.stdout).toContain('Manifest: missing — incomplete, never resumed from');
  });

  it('verifies a checkpoint in an S3 store through the store, and reads a single object', async () => {
    const { root } = await storeFixture();
    await runCli(['s3', 'upload', join(root, 'runs'), `s3://${bucket}/info/runs`, '--recursive'], { env: s3Env() });
    const base = `s3://${bucket}/info/runs/${ref.project}/${ref.job}/${ref.trial}`;
    const r = await runCli(['checkpoint', 'info', `${base}/checkpoints/200/`], { env: s3Env() });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`Checkpoint step 200 — ${base}/checkpoints/200`);
    expect(r.stdout).toContain('2 files, 27 B; every file matches MANIFEST.json (size and sha256).');
    const one = await runCli(['checkpoint', 'info', `${base}/checkpoints/200/model_200.pt`, '-o', 'json'], { env: s3Env() });
    expect(JSON.parse(one.stdout)).toMatchObject({ step: 200, files: [{ path: 'model_200.pt', size: 14, status: 'verified' }], verified: true, manifest: { status: 'complete' } });
  });

  it.runIf(hasTorch)('shows tensor keys and epoch of a torch checkpoint, and never runs code from one', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const marker = join(dir, 'pwned');
    execFileSync(PYTHON, ['-c', `
import os, torch
torch.save({'model_state_dict': torch.nn.Linear(3, 2).state_dict(), 'epoch': 7, 'step': 700, 'loss': 0.25}, ${JSON.stringify(join(dir, 'step-000700.pt'))})
class Evil:
    def __reduce__(self):
        return (os.system, (${JSON.stringify(`touch ${marker}`)},))
torch.save({'epoch': 1, 'payload': Evil()}, ${JSON.stringify(join(dir, 'step-000800.pt'))})
`], { timeout: 60_000 });
    const r = await runCli(['checkpoint', 'info', join(dir, 'step-000700.pt')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('step-000700.pt: torch dict, epoch 7, step 700, 2 tensors, 8 values');
    expect(r.stdout).toContain('  keys: model_state_dict, epoch, step, loss');
    expect(r.stdout).toContain('  model_state_dict: 2 entries — weight [2, 3] float32, bias [2] float32');

    const evil = await runCli(['checkpoint', 'info', join(dir, 'step-000800.pt'), '-o', 'json']);
    expect(evil.code).toBe(0);
    expect(JSON.parse(evil.stdout)).toMatchObject({ torch: { available: true, files: [{ path: 'step-000800.pt', error: 'refusing to load posix.system (only tensors and plain containers are read)' }] } });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('trainctl checkpoint cleanup', () => {
  it('keeps the newest N and LATEST, deletes the rest, after a dry run and a refusal', async () => {
    const { trialDir } = await storeFixture();
    writeFileSync(join(trialDir, 'checkpoints/LATEST'), '200\n'); // resumed from an older step
    const cdir = join(trialDir, 'checkpoints');
    const dry = await runCli(['checkpoint', 'cleanup', trialDir, '--keep-last-n', '2', '--dry-run']);
    expect(dry.code).toBe(0);
    const rows = dry.stdout.split('\n').filter((l) => l.startsWith('-')).map((l) => l.replace(/\d{4}-\S+Z/, 'T').replace(/ +/g, ' '));
    expect(rows).toEqual(['- 300 2 27 B T older than the newest kept', '- 100 2 27 B T older than the newest kept']);
    expect(dry.stdout).toContain('Keeping 4: newest 500, 400; LATEST 200; 1 incomplete, possibly uploading.');
    expect(dry.stdout).toContain(`Cleanup: 2 checkpoints to delete (4 files, 54 B) in ${cdir}.`);

    const refused = await runCli(['checkpoint', 'cleanup', trialDir, '--keep-last-n', '2']);
    expect(refused).toMatchObject({ code: 1, stderr: 'error: refusing to delete without confirmation: stdin is not a terminal — pass --yes to delete non-interactively (CI)\n' });
    expect(readdirSync(cdir).sort()).toEqual(['100', '200', '300', '400', '500', '600', 'LATEST']);

    const done = await runCli(['checkpoint', 'cleanup', trialDir, '--keep-last-n', '2', '--yes']);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('Deleted 2 checkpoints (54 B).');
    expect(readdirSync(cdir).sort()).toEqual(['200', '400', '500', '600', 'LATEST']);
    expect(readFileSync(join(cdir, 'LATEST'), 'utf8')).toBe('200\n');
  });

  it('cleans the same store on S3 through the store, and a plain directory of files', async () => {
    const { root } = await storeFixture();
    await runCli(['s3', 'upload', join(root, 'runs'), `s3://${bucket}/clean/runs`, '--recursive'], { env: s3Env() });
    const prefix = `clean/runs/${ref.project}/${ref.job}/${ref.trial}/checkpoints/`;
    const r = await runCli(['checkpoint', 'cleanup', `s3://${bucket}/${prefix}`, '--keep-last-n', '3', '--yes'], { env: s3Env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Deleted 2 checkpoints (54 B).');
    expect((await s3Keys(prefix)).filter((k) => k.endsWith('MANIFEST.json'))).toEqual(['300/MANIFEST.json', '400/MANIFEST.json', '500/MANIFEST.json']);
    expect((await s3Keys(prefix)).some((k) => k.startsWith('100/') || k.startsWith('200/'))).toBe(false);

    const dir = tempDir();
    writeFiles(dir, { 'step-000010.pt': 'a', 'step-000020.pt': 'b', 'step-000030.pt': 'c', 'checkpoint-5/model.pt': 'd', 'checkpoint-5/MANIFEST.json': '{}', 'keep.txt': 'k' });
    const plain = await runCli(['checkpoint', 'cleanup', dir, '--keep-last-n', '1', '--yes']);
    expect(plain.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['keep.txt', 'step-000030.pt']);
  });

  it('refuses --keep-last-n 0 and a missing flag, changing nothing', async () => {
    const { trialDir } = await storeFixture();
    expect(await runCli(['checkpoint', 'cleanup', trialDir, '--keep-last-n', '0', '--yes'])).toMatchObject({ code: 1, stdout: '', stderr: 'error: --keep-last-n must be at least 1 — cleanup always keeps the newest checkpoint; to remove everything, delete the prefix itself\n' });
    expect(await runCli(['checkpoint', 'cleanup', trialDir, '--yes'])).toMatchObject({ code: 1, stderr: 'error: --keep-last-n is required — say how many of the newest checkpoints to keep, e.g. --keep-last-n 3\n' });
    expect(readdirSync(join(trialDir, 'checkpoints'))).toHaveLength(7);
  });
});
