// The write side of the file:// store: atomic records, exclusive claims, checkpoints that are
// complete only with their MANIFEST, and restores that verify every byte.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file.js';
import { openRunStore } from '../../src/store/open.js';
import { CheckpointError } from '../../src/store/store.js';
import { sandbox, scratchDir } from '../runner/harness.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function localCheckpoint(files: Record<string, string | Buffer>): string {
  const dir = scratchDir('trainctl-ckpt-');
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), body);
  }
  return dir;
}

describe('FileStore records', () => {
  it('claims an attempt and rank once', async () => {
    const { store, ref, trialDir } = sandbox();
    expect(await store.claimAttempt(ref, 1, 0, 'host-a:1')).toBe(true);
    expect(await store.claimAttempt(ref, 1, 0, 'host-b:2')).toBe(false);
    expect(await store.claimAttempt(ref, 1, 1, 'host-b:2')).toBe(true);
    expect(await store.claimAttempt(ref, 2, 0, 'host-b:2')).toBe(true);
    expect(readFileSync(join(trialDir, 'attempts', '1', 'claim-rank0'), 'utf8')).toBe('host-a:1\n');
  });

  it('writes spec, status and result atomically, readable by the planner side, with no temp files left', async () => {
    const { store, ref, trialDir } = sandbox();
    await store.writeSpec(ref, { ...ref, specHash: 'h', parameters: { lr: 0.1 }, command: 'python t.py' });
    for (const state of ['starting', 'running', 'succeeded'] as const) {
      await store.writeStatus(ref, { n: 1, specHash: 'h', state, startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:01:00Z', costUSD: 0.5, host: 'x' });
    }
    await store.writeResult(ref, { state: 'succeeded', specHash: 'h', finishedAt: '2026-01-01T00:01:00Z', attempt: 1, durationMs: 60_000, costUSD: 0.5, finalMetrics: { loss: 1 } });
    const rec = await store.readTrial(ref);
    expect(rec).toMatchObject({ specHash: 'h', attempts: [{ n: 1, state: 'succeeded', costUSD: 0.5 }], result: { state: 'succeeded' } });
    expect((await store.readRecords(ref.project)).map((r) => r.trial)).toEqual([ref.trial]);
    const all = readdirSync(trialDir, { recursive: true }) as string[];
    expect(all.filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('appends metrics and logs, and reads metrics back skipping damaged lines', async () => {
    const { store, ref, trialDir } = sandbox();
    await store.appendMetrics(ref, '{"attempt":1,"step":1,"time":"t","loss":2}\n');
    await store.appendMetrics(ref, '{"attempt":1,"step":2,"time":"t","loss":1}\n{"attempt":1,"st');
    await store.appendLog(ref, 1, 0, 'line one\n');
    await store.appendLog(ref, 1, 0, Buffer.from('line two\n'));
    expect(await store.readMetrics(ref)).toEqual([
      { attempt: 1, step: 1, time: 't', values: { loss: 2 } }, { attempt: 1, step: 2, time: 't', values: { loss: 1 } },
    ]);
    expect(readFileSync(join(trialDir, 'attempts', '1', 'logs', '0.log'), 'utf8')).toBe('line one\nline two\n');
    expect(await sandbox('other').store.readMetrics({ ...ref, trial: 'none' })).toEqual([]);
  });
});

describe('FileStore checkpoints', () => {
  it('puts files with a sha256 MANIFEST and LATEST, and restores them verified', async () => {
    const { store, ref, trialDir } = sandbox();
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const local = localCheckpoint({ 'model.pt': big, 'sub/optim.pt': 'optimizer' });
    const manifest = await store.putCheckpoint(ref, 100, 2, local, ['model.pt', 'sub/optim.pt']);
    expect(manifest).toMatchObject({ step: 100, attempt: 2, files: [
      { path: 'model.pt', size: big.length, sha256: sha(big) }, { path: 'sub/optim.pt', size: 9, sha256: sha('optimizer') },
    ] });
    expect(readFileSync(join(trialDir, 'checkpoints', 'LATEST'), 'utf8').trim()).toBe('100');
    expect((await store.readTrial(ref))?.checkpoint).toBeUndefined(); // no spec.json: not a trial record yet
    const dest = scratchDir();
    writeFileSync(join(dest, 'model.pt'), 'stale');
    expect(await store.fetchCheckpoint(ref, 100, dest)).toEqual(manifest);
    expect(readFileSync(join(dest, 'model.pt')).equals(big)).toBe(true);
    expect(readFileSync(join(dest, 'sub', 'optim.pt'), 'utf8')).toBe('optimizer');
    expect(readdirSync(dest, { recursive: true })).toEqual(expect.not.arrayContaining([expect.stringContaining('.tmp-')]));
  });

  it('lists only checkpoints with a MANIFEST, and deleting the newest moves LATEST back', async () => {
    const { store, ref, trialDir } = sandbox();
    const local = localCheckpoint({ 'c.pt': 'x' });
    for (const step of [10, 20, 30]) await store.putCheckpoint(ref, step, 1, local, ['c.pt']);
    mkdirSync(join(trialDir, 'checkpoints', '40'));
    writeFileSync(join(trialDir, 'checkpoints', '40', 'c.pt'), 'no manifest yet');
    expect(await store.listCheckpoints(ref)).toEqual([10, 20, 30]);
    await store.deleteCheckpoint(ref, 30);
    expect(existsSync(join(trialDir, 'checkpoints', '30'))).toBe(false);
    expect(readFileSync(join(trialDir, 'checkpoints', 'LATEST'), 'utf8').trim()).toBe('20');
    await store.deleteCheckpoint(ref, 10);
    expect(readFileSync(join(trialDir, 'checkpoints', 'LATEST'), 'utf8').trim()).toBe('20');
    await store.deleteCheckpoint(ref, 20);
    expect(existsSync(join(trialDir, 'checkpoints', 'LATEST'))).toBe(false);
    expect(await store.listCheckpoints(ref)).toEqual([]);
  });

  it('refuses to restore a checkpoint without MANIFEST, with a changed or missing file', async () => {
    const { store, ref, trialDir } = sandbox();
    await store.putCheckpoint(ref, 5, 1, localCheckpoint({ 'a.pt': 'aaaa', 'b.pt': 'bbbb' }), ['a.pt', 'b.pt']);
    const dir = join(trialDir, 'checkpoints', '5');

    writeFileSync(join(dir, 'b.pt'), 'bbbB');
    const dest = scratchDir();
    await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(CheckpointError);
    await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/b\.pt does not match its MANIFEST/);
    // nothing half-restored: a.pt was verified but not moved in, since b.pt failed
    expect(readdirSync(dest)).toEqual([]);

    rmSync(join(dir, 'b.pt'));
    await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/b\.pt is missing/);

    rmSync(join(dir, 'MANIFEST.json'));
    await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/incomplete: no valid MANIFEST/);
    await expect(store.fetchCheckpoint(ref, 6, dest)).rejects.toThrow(CheckpointError);
  });

  it('refuses manifest paths that climb out of the destination, and such paths on put', async () => {
    const { store, ref, trialDir } = sandbox();
    const outside = scratchDir();
    for (const path of ['../escape.pt', '/etc/passwd', 'a/../../x', '']) {
      const dir = join(trialDir, 'checkpoints', '7');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'MANIFEST.json'), JSON.stringify({ step: 7, createdAt: 't', attempt: 1, files: [{ path, size: 1, sha256: sha('x') }] }));
      await expect(store.fetchCheckpoint(ref, 7, join(outside, 'dest'))).rejects.toThrow(/refusing manifest path/);
    }
    expect(readdirSync(outside)).toEqual([]);
    await expect(store.putCheckpoint(ref, 8, 1, outside, ['../x'])).rejects.toThrow(CheckpointError);
  });
});

describe('FileStore manifests written elsewhere (an s3:// store synced down)', () => {
  it('follows an entry\'s object to an earlier checkpoint, undoes its encoding, and keeps referenced bytes on delete', async () => {
    const { store, ref, trialDir } = sandbox();
    await store.putCheckpoint(ref, 1, 1, localCheckpoint({ 'a.pt': 'weights' }), ['a.pt']);
    const dir2 = join(trialDir, 'checkpoints', '2');
    mkdirSync(dir2, { recursive: true });
    writeFileSync(join(dir2, 'b.pt.gz'), gzipSync('optimizer state'));
    writeFileSync(join(dir2, 'MANIFEST.json'), JSON.stringify({ step: 2, createdAt: 't', attempt: 1, files: [
      { path: 'a.pt', size: 7, sha256: sha('weights'), object: 'checkpoints/1/a.pt' },
      { path: 'b.pt', size: 15, sha256: sha('optimizer state'), object: 'checkpoints/2/b.pt.gz', encoding: 'gzip' },
    ] }));
    await store.deleteCheckpoint(ref, 1);
    expect(existsSync(join(trialDir, 'checkpoints', '1', 'MANIFEST.json'))).toBe(false);
    expect(readFileSync(join(trialDir, 'checkpoints', '1', 'a.pt'), 'utf8')).toBe('weights');
    const dest = scratchDir();
    await store.fetchCheckpoint(ref, 2, dest);
    expect(readFileSync(join(dest, 'a.pt'), 'utf8')).toBe('weights');
    expect(readFileSync(join(dest, 'b.pt'), 'utf8')).toBe('optimizer state');
    writeFileSync(join(dir2, 'b.pt.gz'), 'not gzip');
    await expect(store.fetchCheckpoint(ref, 2, scratchDir())).rejects.toThrow(/b\.pt: cannot decompress \(gzip\)/);
    await store.deleteCheckpoint(ref, 2);
    expect(existsSync(join(trialDir, 'checkpoints', '1'))).toBe(false);
    expect(existsSync(join(trialDir, 'checkpoints', '2'))).toBe(false);
  });

  it('reads a log from an offset, and nothing for a rank without one', async () => {
    const { store, ref } = sandbox();
    await store.appendLog(ref, 1, 0, 'hello\nworld\n');
    expect((await store.readLog(ref, 1, 0, 6))?.toString()).toBe('world\n');
    expect(await store.readLog(ref, 1, 1)).toBeUndefined();
  });
});

describe('openRunStore', () => {
  it('opens file:// and explains everything else (s3:// in s3-store.test.ts)', async () => {
    expect(await openRunStore('file:///tmp/runs')).toBeInstanceOf(FileStore);
    expect(await openRunStore('gs://bucket/runs/')).toEqual({ error: expect.stringContaining('unknown scheme') });
    expect(await openRunStore('file://host/x')).toEqual({ error: expect.stringContaining('not a valid file:// URI') });
    expect(await openRunStore('s3://Bad_Bucket/runs/')).toEqual({ error: 'output store s3://Bad_Bucket/runs/: invalid S3 bucket name "Bad_Bucket"', hint: expect.stringContaining('bucket names') });
  });
});
