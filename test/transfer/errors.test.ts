// Expected failures are values: a TransferError with a kind, one line and a hint — never a stack,
// never a credential — whether the bucket is missing, the keys are wrong or nothing answers.
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createS3Client, downloadObject, downloadTree, headObject, listObjects, syncTree, TransferError, uploadFile, uploadTree } from '../../src/transfer/index.js';
import { tempDir, writeFiles } from '../helpers.js';
import { freshBucket, testClient } from './harness.js';

const client = testClient();
let bucket: string;
beforeAll(async () => {
  bucket = await freshBucket(client, 'errors');
});

async function failure(p: Promise<unknown>): Promise<TransferError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransferError);
  const t = err as TransferError;
  expect(t.message.split('\n')).toHaveLength(1);
  return t;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('transfer errors', () => {
  it('a missing bucket says so, for uploads, downloads, listings and single objects', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'a.txt': 'a', 'b/c.txt': 'c' });
    for (const start of [
      () => uploadTree(client, dir, { bucket: 'no-such-bucket-here', key: 'x' }),
      () => uploadFile(client, join(dir, 'a.txt'), { bucket: 'no-such-bucket-here', key: 'x' }),
      () => downloadTree(client, { bucket: 'no-such-bucket-here', key: 'x' }, join(dir, 'out')),
      () => downloadObject(client, { bucket: 'no-such-bucket-here', key: 'x' }, join(dir, 'out')),
      () => syncTree(client, { src: dir, dst: { bucket: 'no-such-bucket-here', key: '' } }),
    ]) {
      const err = await failure(start());
      expect(err.kind).toBe('no-such-bucket');
      expect(err.message).toBe('bucket no-such-bucket-here does not exist');
      expect(err.hint).toBeTruthy();
    }
  });

  it('a tree upload into a missing bucket stops at the first failure instead of failing every file', async () => {
    const dir = tempDir();
    writeFiles(dir, Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f${i}`, 'x'])));
    const started = Date.now();
    await failure(uploadTree(client, dir, { bucket: 'no-such-bucket-here', key: '' }, { concurrency: 4 }));
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an unreachable endpoint names the endpoint and where it came from, quickly', async () => {
    const port = await closedPort();
    const s3 = inject('s3');
    const c = createS3Client({ endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, maxAttempts: 1 });
    const started = Date.now();
    const err = await failure(downloadTree(c, { bucket, key: 'x' }, tempDir()));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe(`list: cannot reach the S3 endpoint http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(err.hint).toContain('--endpoint-url');
    expect(err.message + err.hint).not.toContain(s3.secretAccessKey);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('wrong credentials are access denied, and the secret appears nowhere', async () => {
    const s3 = inject('s3');
    const secret = 'wrong-secret-must-not-leak-1234';
    const c = createS3Client({ endpoint: s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: secret } });
    const dir = tempDir();
    writeFiles(dir, { 'a.txt': 'a' });
    const list = async () => {
      for await (const o of listObjects(c, { bucket, key: '' })) void o;
    };
    for (const start of [() => uploadFile(c, join(dir, 'a.txt'), { bucket, key: 'a.txt' }), list]) {
      const err = await failure(start());
      expect(err.kind).toBe('access-denied');
      expect(err.message).toMatch(/access denied to s3:\/\/errors-[0-9a-f]+\/(a\.txt)? \(SignatureDoesNotMatch\)$/);
      expect(JSON.stringify({ m: err.message, h: err.hint, s: err.stack })).not.toContain(secret);
    }
  });

  it('a missing object is not-found; headObject reports it as undefined', async () => {
    expect(await headObject(client, { bucket, key: 'nope' })).toBeUndefined();
    const err = await failure(downloadObject(client, { bucket, key: 'nope' }, tempDir()));
    expect(err.kind).toBe('not-found');
    expect(err.message).toBe(`s3://${bucket}/nope does not exist`);
  });

  it('local problems name the path', async () => {
    const dir = tempDir();
    const missing = await failure(uploadFile(client, join(dir, 'missing.bin'), { bucket, key: 'x' }));
    expect(missing.kind).toBe('local');
    expect(missing.message).toContain('missing.bin');
    const notFile = await failure(uploadFile(client, dir, { bucket, key: 'x' }));
    expect(notFile.message).toBe(`${dir} is not a regular file`);
    expect(notFile.hint).toContain('--recursive');
    const prefix = await failure(downloadObject(client, { bucket, key: 'dir/' }, dir));
    expect(prefix.hint).toContain('--recursive');
  });
});
