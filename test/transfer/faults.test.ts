// Throttling survived: a proxy in front of radosgw answers a share of all requests with 503
// SlowDown; tree transfers (small objects, multipart parts, ranged GETs) still finish byte-identical,
// and a server that never stops throttling ends in one clear error.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { downloadTree, uploadFile, uploadTree } from '../../src/transfer/index.js';
import { tempDir, writeFiles } from '../helpers.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { freshBucket, MiB, randomFile, sha256File, testClient } from './harness.js';

let bucket: string;
let proxy: FaultProxy;
beforeAll(async () => {
  bucket = await freshBucket(testClient(), 'faults');
  proxy = await startFaultProxy({ target: inject('s3').endpoint, slowDownRate: 0.25 });
});
afterAll(() => proxy.close());

describe('a throttling server', () => {
  it('is survived by tree uploads and downloads: every request type retried with backoff', { timeout: 120_000 }, async () => {
    const client = testClient(proxy.endpoint);
    const dir = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`small/f${i}.txt`] = `payload ${i}`.repeat(i);
    writeFiles(join(dir, 'src'), files);
    randomFile(join(dir, 'src', 'large.bin'), 23 * MiB);
    proxy.reset();
    const opts = { concurrency: 16, partSize: 5 * MiB };
    const up = await uploadTree(client, join(dir, 'src'), { bucket, key: 'tree' }, opts);
    expect(up).toMatchObject({ files: 301, failed: [] });
    const down = await downloadTree(client, { bucket, key: 'tree' }, join(dir, 'back'), opts);
    expect(down).toMatchObject({ files: 301, failed: [] });
    expect(proxy.slowDowns).toBeGreaterThan(50);
    expect(proxy.counts.UploadPart).toBeGreaterThanOrEqual(5);
    expect(proxy.counts.GetObject).toBeGreaterThanOrEqual(305);
    for (const rel of Object.keys(files)) expect(readFileSync(join(dir, 'back', rel), 'utf8')).toBe(files[rel]);
    expect(await sha256File(join(dir, 'back', 'large.bin'))).toBe(await sha256File(join(dir, 'src', 'large.bin')));
  });

  it('that never stops throttling ends in one throttled error with a hint', async () => {
    const always = await startFaultProxy({ target: inject('s3').endpoint, slowDownRate: 1 });
    try {
      const dir = tempDir();
      writeFiles(dir, { 'a.txt': 'a' });
      const err = await uploadFile(testClient(always.endpoint, { maxAttempts: 1 }), join(dir, 'a.txt'), { bucket, key: 'a.txt' }, { retries: 2 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'throttled', message: `upload ${join(dir, 'a.txt')}: S3 is throttling requests (SlowDown)` });
      expect((err as { hint: string }).hint).toContain('--concurrency');
      expect(always.slowDowns).toBe(3);
    } finally {
      await always.close();
    }
  });
});
