// Deletes: many keys in batches of 1,000 (DeleteObjects), and aborting an incomplete multipart upload.
import { AbortMultipartUploadCommand, DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { TransferError } from './errors.js';
import { mapBounded } from '../core/bounded.js';
import { request, resolveOptions } from './ops.js';
import type { TransferFailure } from './types.js';

export interface DeleteResult {
  deleted: string[];
  failed: TransferFailure[];
}

const BATCH = 1000;

/** Deletes exactly the given keys (nothing else); a key that is already gone counts as deleted. */
export async function deleteObjects(client: S3Client, bucket: string, keys: readonly string[], opts: { signal?: AbortSignal; concurrency?: number } = {}): Promise<DeleteResult> {
  const r = resolveOptions({ signal: opts.signal });
  const result: DeleteResult = { deleted: [], failed: [] };
  const batches: string[][] = [];
  for (let i = 0; i < keys.length; i += BATCH) batches.push(keys.slice(i, i + BATCH));
  // after a failed batch none starts, and those under way finish before it is thrown: nothing is
  // still deleting when the caller reads the result
  await mapBounded(batches, Math.max(1, opts.concurrency ?? 4), async (batch) => {
    const out = await request(client, r, { bucket, action: 'delete' }, () =>
      client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }), { abortSignal: opts.signal }),
    );
    const errors = new Map((out.Errors ?? []).map((e) => [e.Key ?? '', e]));
    for (const key of batch) {
      const e = errors.get(key);
      if (e && e.Code !== 'NoSuchKey') result.failed.push({ path: '', key, message: `delete s3://${bucket}/${key}: ${e.Code ?? 'error'}${e.Message ? ` (${e.Message.split('\n')[0]})` : ''}` });
      else result.deleted.push(key);
    }
  });
  return result;
}

/** Aborts an incomplete multipart upload; one that is already gone is fine. */
export async function abortMultipartUpload(client: S3Client, bucket: string, key: string, uploadId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const r = resolveOptions({ signal: opts.signal });
  try {
    await request(client, r, { bucket, key, action: 'abort upload' }, () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), { abortSignal: opts.signal }));
  } catch (err) {
    if (err instanceof TransferError && err.kind === 'not-found') return;
    throw err;
  }
}
