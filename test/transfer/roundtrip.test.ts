// The transfer engine against the run's radosgw: byte-identical round trips at every size that
// matters (empty, one byte, part-size boundaries, a large file, thousands of small files, unicode
// and space-laden keys), include/exclude, symlinks, sync plans, progress and atomic local writes.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  downloadObject,
  downloadTree,
  headObject,
  listLevel,
  listObjects,
  syncTree,
  uploadFile,
  uploadTree,
  type ObjectInfo,
  type TransferProgress,
} from '../../src/transfer/index.js';
import { tempDir, writeFiles } from '../helpers.js';
import { startFaultProxy } from './fault-proxy.js';
import { freshBucket, MiB, randomFile, sha256File, testClient } from './harness.js';

const client = testClient();
let bucket: string;
beforeAll(async () => {
  bucket = await freshBucket(client, 'roundtrip');
});

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listObjects(client, { bucket, key: prefix })) keys.push(o.key);
  return keys.sort();
}

async function keysUnderInfo(prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of listObjects(client, { bucket, key: prefix })) out.push(o);
  return out;
}

/** Every file under a directory, relative path → content, skipping nothing. */
function readTree(root: string, rel = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of readTree(root, r)) out.set(k, v);
    else out.set(r, readFileSync(join(root, r)));
  }
  return out;
}

describe('single objects', () => {
  const PS = 5 * MiB;
  it.each([
    ['empty', 0],
    ['1 byte', 1],
    ['part size − 1', PS - 1],
    ['part size', PS],
    ['part size + 1', PS + 1],
    ['2 × part size − 1', 2 * PS - 1],
    ['2 × part size', 2 * PS],
    ['2 × part size + 1', 2 * PS + 1],
  ])('%s (%i bytes) round-trips byte-identical, verified by size and ETag', async (_name, size) => {
    const dir = tempDir();
    const src = join(dir, 'src.bin');
    randomFile(src, size);
    const key = `single/${size}.bin`;
    const opts = { partSize: PS, verify: 'etag' as const };
    const up = await uploadFile(client, src, { bucket, key }, opts);
    expect(up).toMatchObject({ files: 1, bytes: size, failed: [] });
    const head = (await headObject(client, { bucket, key }))!;
    expect(head.size).toBe(size);
    // at and above the threshold the file goes multipart: ceil(size / part size) parts
    expect(head.etag.endsWith(`-${Math.ceil(size / PS)}`)).toBe(size >= PS);
    const back = join(dir, 'back.bin');
    const down = await downloadObject(client, { bucket, key }, back, opts);
    expect(down).toMatchObject({ files: 1, bytes: size });
    expect(await sha256File(back)).toBe(await sha256File(src));
    // ranged download with ranges that do not match the parts: still identical, size still checked
    const back2 = join(dir, 'back2.bin');
    await downloadObject(client, { bucket, key }, back2, { partSize: 1 * MiB, multipartThreshold: 1 * MiB, verify: 'etag' });
    expect(await sha256File(back2)).toBe(await sha256File(src));
    expect(readdirSync(dir).sort()).toEqual(['back.bin', 'back2.bin', 'src.bin']);
  });

  it('a large file (256 MiB, 8 MiB parts) round-trips through multipart upload and ranged parallel GET', { timeout: 120_000 }, async () => {
    // 256 MiB rather than 1 GiB: the test radosgw is memstore (RAM ≈ 2× data) and shared with the
    // other suites of the run; `npm run bench:s3` moves 1 GiB on bluestore
    const dir = tempDir();
    const src = join(dir, 'big.bin');
    randomFile(src, 256 * MiB);
    const opts = { partSize: 8 * MiB, concurrency: 16, verify: 'sha256' as const };
    const up = await uploadFile(client, src, { bucket, key: 'large/big.bin' }, opts);
    expect(up.bytes).toBe(256 * MiB);
    const head = (await headObject(client, { bucket, key: 'large/big.bin' }))!;
    expect(head.etag).toMatch(/-32$/);
    expect(head.metadata.sha256).toBe(await sha256File(src));
    const back = join(dir, 'back.bin');
    const down = await downloadObject(client, { bucket, key: 'large/big.bin' }, back, opts);
    expect(down.bytes).toBe(256 * MiB);
    expect(await sha256File(back)).toBe(head.metadata.sha256);
  });

  it('a key ending in / gets the file name; a directory target gets the key name', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'model.pt': 'weights' });
    await uploadFile(client, join(dir, 'model.pt'), { bucket, key: 'named/' });
    expect(await keysUnder('named/')).toEqual(['named/model.pt']);
    mkdirSync(join(dir, 'out'));
    await downloadObject(client, { bucket, key: 'named/model.pt' }, join(dir, 'out'));
    expect(readFileSync(join(dir, 'out', 'model.pt'), 'utf8')).toBe('weights');
  });

  it('a download that fails leaves the old file untouched and no temp file behind', async () => {
    const dir = tempDir();
    const src = join(dir, 'src.bin');
    randomFile(src, 3 * MiB);
    await uploadFile(client, src, { bucket, key: 'atomic/x.bin' });
    writeFileSync(join(dir, 'x.bin'), 'old content');
    const proxy = await startFaultProxy({ target: inject('s3').endpoint, cutBodies: 100 });
    try {
      const err = await downloadObject(testClient(proxy.endpoint, { maxAttempts: 1 }), { bucket, key: 'atomic/x.bin' }, join(dir, 'x.bin'), { retries: 1 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'TransferError', kind: 'network' });
      expect(proxy.cut).toBe(2);
    } finally {
      await proxy.close();
    }
    expect(readFileSync(join(dir, 'x.bin'), 'utf8')).toBe('old content');
    expect(readdirSync(dir).sort()).toEqual(['src.bin', 'x.bin']);
  });

  it('a dropped connection mid-body is retried and the result is identical', async () => {
    const dir = tempDir();
    const src = join(dir, 'src.bin');
    randomFile(src, 2 * MiB);
    await uploadFile(client, src, { bucket, key: 'atomic/retry.bin' });
    const proxy = await startFaultProxy({ target: inject('s3').endpoint, cutBodies: 1 });
    try {
      await downloadObject(testClient(proxy.endpoint), { bucket, key: 'atomic/retry.bin' }, join(dir, 'back.bin'));
      expect(proxy.cut).toBe(1);
    } finally {
      await proxy.close();
    }
    expect(await sha256File(join(dir, 'back.bin'))).toBe(await sha256File(src));
  });
});

describe('without the lean request path', () => {
  it('SDK commands alone (as used against AWS itself) move the same bytes', { timeout: 60_000 }, async () => {
    process.env.TRAINCTL_S3_SDK_ONLY = '1';
    try {
      const sdkOnly = testClient();
      const dir = tempDir();
      randomFile(join(dir, 'src/big.bin'), 11 * MiB + 7);
      randomFile(join(dir, 'src/small.bin'), 3000);
      writeFiles(join(dir, 'src'), { 'empty.txt': '', 'ünï cödé/a b.txt': 'x' });
      const opts = { partSize: 5 * MiB, verify: 'etag' as const };
      expect(await uploadTree(sdkOnly, join(dir, 'src'), { bucket, key: 'sdk-only' }, opts)).toMatchObject({ files: 4, failed: [] });
      expect((await headObject(sdkOnly, { bucket, key: 'sdk-only/big.bin' }))!.etag).toMatch(/-3$/);
      expect(await downloadTree(sdkOnly, { bucket, key: 'sdk-only' }, join(dir, 'back'), opts)).toMatchObject({ files: 4, failed: [] });
      const a = readTree(join(dir, 'src'));
      const b = readTree(join(dir, 'back'));
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, v] of a) expect(b.get(k)!.equals(v), k).toBe(true);
    } finally {
      delete process.env.TRAINCTL_S3_SDK_ONLY;
    }
  });
});

describe('trees', () => {
  it('5,000 small files up and back, through one bounded pool, listed in parallel', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`d${i % 10}/sub${i % 7}/f${i}.txt`] = `file ${i} `.repeat(i % 50);
    writeFiles(join(dir, 'src'), files);
    const progress: TransferProgress[] = [];
    const up = await uploadTree(client, join(dir, 'src'), { bucket, key: 'many' }, { concurrency: 32, onProgress: (p) => progress.push(p) });
    expect(up).toMatchObject({ files: 5000, failed: [], skipped: 0 });
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ filesDone: 5000, filesTotal: 5000, bytesDone: up.bytes, bytesTotal: up.bytes, etaMs: 0 });
    const listed: ObjectInfo[] = [];
    for await (const o of listObjects(client, { bucket, key: 'many/' }, { parallel: 8 })) listed.push(o);
    expect(listed).toHaveLength(5000);
    expect(new Set(listed.map((o) => o.key)).size).toBe(5000);
    const down = await downloadTree(client, { bucket, key: 'many' }, join(dir, 'back'), { concurrency: 32 });
    expect(down).toMatchObject({ files: 5000, failed: [] });
    const a = readTree(join(dir, 'src'));
    const b = readTree(join(dir, 'back'));
    expect(b.size).toBe(5000);
    for (const [k, v] of a) expect(b.get(k)?.equals(v), k).toBe(true);
  });

  it('unicode, space-laden and punctuation keys round-trip exactly', async () => {
    const dir = tempDir();
    const names = ['ünï cödé/日本語 ファイル.txt', 'with space/a  b .txt', "odd/+plus&amp;=%20?#[x]'q'.bin", 'emoji/🎉 party.bin', 'dots.and-dashes_~/x.txt', ' leading/space.txt'];
    writeFiles(join(dir, 'src'), Object.fromEntries(names.map((n, i) => [n, `content ${i} ${n}`])));
    await uploadTree(client, join(dir, 'src'), { bucket, key: 'unicode/' });
    expect(await keysUnder('unicode/')).toEqual(names.map((n) => `unicode/${n}`).sort());
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'unicode/ünï cödé/日本語 ファイル.txt' }));
    expect(await got.Body!.transformToString()).toBe('content 0 ünï cödé/日本語 ファイル.txt');
    await downloadTree(client, { bucket, key: 'unicode' }, join(dir, 'back'));
    expect([...readTree(join(dir, 'back'))].map(([k, v]) => [k, v.toString()]).sort()).toEqual(names.map((n, i) => [n, `content ${i} ${n}`]).sort());
  });

  it('include/exclude filter by path relative to the tree root, both ways', async () => {
    const dir = tempDir();
    writeFiles(join(dir, 'src'), { 'ckpt/step_1.pt': '1', 'ckpt/step_2.pt': '2', 'ckpt/tmp/scratch.pt': 's', 'logs/train.log': 'l', 'top.pt': 't' });
    const up = await uploadTree(client, join(dir, 'src'), { bucket, key: 'filtered' }, { include: ['**/*.pt'], exclude: ['**/tmp/**'] });
    expect(up).toMatchObject({ files: 3, skipped: 2 });
    expect(await keysUnder('filtered/')).toEqual(['filtered/ckpt/step_1.pt', 'filtered/ckpt/step_2.pt', 'filtered/top.pt']);
    const down = await downloadTree(client, { bucket, key: 'filtered' }, join(dir, 'back'), { include: ['ckpt/*'] });
    expect(down).toMatchObject({ files: 2, skipped: 1 });
    expect([...readTree(join(dir, 'back')).keys()].sort()).toEqual(['ckpt/step_1.pt', 'ckpt/step_2.pt']);
  });

  it('follows symlinks only while they stay inside the source tree', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'outside/secret.txt': 'secret', 'outside/d/x.txt': 'x', 'src/real.txt': 'real', 'src/sub/inner.txt': 'inner' });
    symlinkSync(join(dir, 'src/real.txt'), join(dir, 'src/link-in.txt'));
    symlinkSync('../outside/secret.txt', join(dir, 'src/link-out.txt'));
    symlinkSync(join(dir, 'outside/d'), join(dir, 'src/dir-out'));
    symlinkSync(join(dir, 'src/sub'), join(dir, 'src/dir-in'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'src/broken'));
    symlinkSync(join(dir, 'src'), join(dir, 'src/sub/loop'));
    const up = await uploadTree(client, join(dir, 'src'), { bucket, key: 'links' });
    expect(await keysUnder('links/')).toEqual(['links/dir-in/inner.txt', 'links/link-in.txt', 'links/real.txt', 'links/sub/inner.txt']);
    expect(up.skipped).toBe(5); // link-out, dir-out, broken, and sub/loop seen from sub/ and from dir-in/
    expect(up.warnings.join('\n')).toMatch(/link-out\.txt: symlink to .*outside the source tree/);
    expect(up.warnings.join('\n')).toMatch(/dir-out: symlink/);
    expect(up.warnings.join('\n')).toMatch(/broken: broken symlink/);
  });

  it('a download does not write through a symlinked directory that leads out of the target', async () => {
    const dir = tempDir();
    writeFiles(join(dir, 'src'), { 'sub/a.txt': 'a', 'ok.txt': 'ok' });
    await uploadTree(client, join(dir, 'src'), { bucket, key: 'symtarget' });
    mkdirSync(join(dir, 'elsewhere'));
    mkdirSync(join(dir, 'back'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'back/sub'));
    const down = await downloadTree(client, { bucket, key: 'symtarget' }, join(dir, 'back')).catch((e: unknown) => e);
    expect(down).toMatchObject({ kind: 'unsafe-key' });
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });

  it('one level of a listing gives objects and sub-prefixes', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'a.txt': 'a', 'b/c.txt': 'c', 'd/e/f.txt': 'f' });
    await uploadTree(client, dir, { bucket, key: 'level' });
    const entries = [];
    for await (const e of listLevel(client, { bucket, key: 'level/' })) entries.push(e.kind === 'object' ? `${e.key} ${e.size}` : `${e.key} (prefix)`);
    expect(entries).toEqual(['level/a.txt 1', 'level/b/ (prefix)', 'level/d/ (prefix)']);
  });
});

describe('sync', () => {
  it('uploads what is missing, changed in size or newer, deletes only with delete, and a dry run changes nothing', async () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    writeFiles(src, { 'a.txt': 'a', 'b/b.txt': 'bb', 'c.txt': 'ccc' });
    const dst = { bucket, key: 'sync-up' };
    const dry = await syncTree(client, { src, dst, dryRun: true });
    expect(dry.actions.map((a) => `${a.kind} ${'key' in a ? a.key : ''} ${'reason' in a ? a.reason : ''}`)).toEqual(['upload sync-up/a.txt missing', 'upload sync-up/b/b.txt missing', 'upload sync-up/c.txt missing']);
    expect(await keysUnder('sync-up/')).toEqual([]);
    expect((await syncTree(client, { src, dst })).files).toBe(3);
    expect((await syncTree(client, { src, dst })).actions).toEqual([]);
    writeFileSync(join(src, 'a.txt'), 'a changed');
    unlinkSync(join(src, 'c.txt'));
    const second = await syncTree(client, { src, dst });
    expect(second.actions).toEqual([{ kind: 'upload', path: join(src, 'a.txt'), key: 'sync-up/a.txt', size: 9, reason: 'size' }]);
    expect(await keysUnder('sync-up/')).toEqual(['sync-up/a.txt', 'sync-up/b/b.txt', 'sync-up/c.txt']);
    const preview = await syncTree(client, { src, dst, delete: true, dryRun: true });
    expect(preview.actions).toEqual([{ kind: 'delete-object', key: 'sync-up/c.txt', size: 3 }]);
    const del = await syncTree(client, { src, dst, delete: true });
    expect(del.deleted).toBe(1);
    expect(await keysUnder('sync-up/')).toEqual(['sync-up/a.txt', 'sync-up/b/b.txt']);
  });

  it('downloads into a directory, then finds nothing to do, then mirrors deletions with delete', async () => {
    const dir = tempDir();
    writeFiles(join(dir, 'src'), { 'x.txt': 'x', 'y/y.txt': 'yy' });
    await uploadTree(client, join(dir, 'src'), { bucket, key: 'sync-down' });
    const local = join(dir, 'local');
    const first = await syncTree(client, { src: { bucket, key: 'sync-down' }, dst: local });
    expect(first.files).toBe(2);
    // a download takes the object's LastModified as mtime, so the next sync sees nothing new
    const listed = await keysUnderInfo('sync-down/x.txt');
    expect(Math.abs(statSync(join(local, 'x.txt')).mtimeMs - listed[0]!.lastModified.getTime())).toBeLessThan(2);
    expect((await syncTree(client, { src: { bucket, key: 'sync-down' }, dst: local })).actions).toEqual([]);
    writeFiles(local, { 'extra.txt': 'e' });
    utimesSync(join(local, 'extra.txt'), new Date(), new Date());
    const del = await syncTree(client, { src: { bucket, key: 'sync-down' }, dst: local, delete: true });
    expect(del.actions).toEqual([{ kind: 'delete-file', path: join(local, 'extra.txt'), size: 1 }]);
    expect(existsSync(join(local, 'extra.txt'))).toBe(false);
    expect(existsSync(join(local, 'x.txt'))).toBe(true);
  });
});
