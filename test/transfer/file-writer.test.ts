// Where downloaded bytes go: the writer thread for trees of small files (whole files under their
// final names only, the object's mtime, fs errors as they are), and the streams one large object
// is fetched with (never more ranged GETs in flight than streamsPerObject).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { downloadObject, downloadTree, listObjects, uploadFile, uploadTree } from '../../src/transfer/index.js';
import { startWriterThread } from '../../src/transfer/file-writer.js';
import { tempDir, writeFiles } from '../helpers.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { freshBucket, MiB, randomFile, sha256File, testClient } from './harness.js';

describe('startWriterThread', () => {
  it('puts each file under its final name whole, with the given mtime, recycles memory, and reports fs errors', async () => {
    const dir = tempDir();
    const writer = await startWriterThread();
    const mtimeMs = Date.parse('2026-01-02T03:04:05.000Z');
    const own = writer.alloc(70_000).fill(7); // the writer's memory: moved to the thread
    const pooled = Buffer.from('pooled bytes'); // a slice of node's pool: copied
    await Promise.all([
      writer.write({ tmp: join(dir, '.a.tmp'), target: join(dir, 'a'), data: own, mtimeMs, durable: false }),
      writer.write({ tmp: join(dir, '.b.tmp'), target: join(dir, 'b'), data: pooled, mtimeMs: 0, durable: true }),
    ]);
    expect(readFileSync(join(dir, 'a'))).toEqual(Buffer.alloc(70_000, 7));
    expect(Math.round(statSync(join(dir, 'a')).mtimeMs)).toBe(mtimeMs);
    expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('pooled bytes');
    expect(pooled.toString()).toBe('pooled bytes'); // the pool was not taken away
    expect(own.length).toBe(0); // moved, so detached here
    // and back for the next object: recycled memory still holds the last file's bytes
    expect(writer.alloc(100_000).subarray(0, 70_000)).toEqual(Buffer.alloc(70_000, 7));
    const missing = writer.write({ tmp: join(dir, 'no/such/.c.tmp'), target: join(dir, 'no/such/c'), data: Buffer.from('x'), mtimeMs: 0, durable: false });
    await expect(missing).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    await writer.close();
    await expect(writer.write({ tmp: join(dir, '.d.tmp'), target: join(dir, 'd'), data: Buffer.from('x'), mtimeMs: 0, durable: false })).rejects.toThrow(/closed/);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });
});

describe('downloads against radosgw', () => {
  let proxy: FaultProxy;
  let bucket: string;
  beforeAll(async () => {
    bucket = await freshBucket(testClient(), 'writer');
    proxy = await startFaultProxy({ target: inject('s3').endpoint });
  });
  afterAll(() => proxy.close());

  it('writes a tree of many small files through the thread: every byte, and each object\'s LastModified as mtime', async () => {
    const dir = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`d${i % 3}/f${i}.txt`] = `file ${i} `.repeat(i);
    writeFiles(join(dir, 'src'), files);
    const client = testClient();
    await uploadTree(client, join(dir, 'src'), { bucket, key: 'tree' });
    const modified = new Map<string, number>();
    for await (const o of listObjects(client, { bucket, key: 'tree/' })) modified.set(o.key.slice('tree/'.length), o.lastModified.getTime());
    const report = await downloadTree(client, { bucket, key: 'tree' }, join(dir, 'back'));
    expect(report).toMatchObject({ files: 150, failed: [] });
    for (const [rel, text] of Object.entries(files)) {
      expect(readFileSync(join(dir, 'back', rel), 'utf8')).toBe(text);
      expect(Math.round(statSync(join(dir, 'back', rel)).mtimeMs)).toBe(modified.get(rel)); // µs of float rounding
    }
    // no temp file left behind
    expect(readdirSync(join(dir, 'back'), { recursive: true }).filter((f) => String(f).includes('.tmp'))).toEqual([]);
  });

  it('fetches one large object with at most streamsPerObject ranged GETs in flight', async () => {
    const dir = tempDir();
    const src = join(dir, 'big.bin');
    randomFile(src, 40 * MiB);
    const client = testClient(proxy.endpoint);
    await uploadFile(client, src, { bucket, key: 'big.bin' }, { partSize: 5 * MiB });
    for (const streams of [1, 3]) {
      proxy.reset();
      const out = join(dir, `back-${streams}.bin`);
      await downloadObject(client, { bucket, key: 'big.bin' }, out, { partSize: 2 * MiB, streamsPerObject: streams, concurrency: 64 });
      expect(await sha256File(out)).toBe(await sha256File(src));
      expect(proxy.counts.GetObject).toBe(20);
      expect(proxy.peakInFlight.GetObject).toBe(streams);
    }
    expect(existsSync(join(dir, 'back-3.bin'))).toBe(true);
  });
});
