// What the transfer tests share: a client for the run's radosgw (or a proxy in front of it), a fresh
// bucket per test file, random files and their digests.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { createS3Client } from '../../src/transfer/client.js';

export const MiB = 1024 * 1024;

export function testClient(endpoint?: string, opts: { maxAttempts?: number } = {}): S3Client {
  const s3 = inject('s3');
  return createS3Client({ endpoint: endpoint ?? s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, ...opts });
}

/** A bucket of its own for one test file (names need 3+ characters). */
export async function freshBucket(client: S3Client, label: string): Promise<string> {
  const bucket = `${label}-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** A file of `size` random bytes, written in 4 MiB pieces. */
export function randomFile(path: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(Math.min(size, 4 * MiB));
  for (let left = size; left > 0; left -= buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, left));
  closeSync(fd);
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(chunk as Buffer);
  return h.digest('hex');
}
