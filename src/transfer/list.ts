// Listing: recursive (optionally fanned out over common prefixes, for big trees), one level, head,
// and incomplete multipart uploads. SDK responses are parsed into ObjectInfo here, once.
import { HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { bareEtag, request, resolveOptions } from './ops.js';
import { TransferError } from './errors.js';
import { parseListPage, type ListPage } from './list-xml.js';
import { wireFor } from './wire.js';
import type { S3Location } from './uri.js';
import type { ListEntry, MultipartUploadInfo, ObjectInfo } from './types.js';

export interface ListOptions {
  signal?: AbortSignal;
  /** Fan out over common prefixes ("directories") with this many listings in flight. Default 1 (one stream). */
  parallel?: number;
  /** Retries per listing request. Default 8. */
  retries?: number;
}

/** How deep the parallel listing splits at '/'; below it each prefix is listed flat. */
const FANOUT_DEPTH = 2;

function toObjectInfo(o: _Object): ObjectInfo {
  return {
    key: o.Key ?? '',
    size: Number(o.Size ?? 0),
    etag: bareEtag(o.ETag),
    lastModified: o.LastModified ?? new Date(0),
    ...(o.StorageClass ? { storageClass: String(o.StorageClass) } : {}),
  };
}

interface Page {
  objects: ObjectInfo[];
  prefixes: string[];
}

/** Every page of one ListObjectsV2 listing. */
async function* pages(client: S3Client, loc: S3Location, delimiter: string | undefined, opts: ListOptions): AsyncGenerator<Page> {
  const r = resolveOptions({ signal: opts.signal, retries: opts.retries });
  // S3-compatible endpoints: the same request, signed by the SDK's signer, parsed by ./list-xml.ts
  const wire = await wireFor(client);
  let token: string | undefined;
  do {
    const page = await request(client, r, { bucket: loc.bucket, key: loc.key, action: 'list' }, async (): Promise<ListPage> => {
      if (wire) {
        const query: Record<string, string> = { 'list-type': '2', 'max-keys': '1000' };
        if (loc.key) query.prefix = loc.key;
        if (delimiter) query.delimiter = delimiter;
        if (token) query['continuation-token'] = token;
        const res = await wire.send({ method: 'GET', bucket: loc.bucket, key: '', query }, opts.signal);
        const chunks: Buffer[] = [];
        for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
        return parseListPage(Buffer.concat(chunks).toString('utf8'));
      }
      const out = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.key || undefined, Delimiter: delimiter, ContinuationToken: token, MaxKeys: 1000 }), { abortSignal: opts.signal });
      return {
        objects: (out.Contents ?? []).filter((o) => o.Key !== undefined).map(toObjectInfo),
        prefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix).filter((p): p is string => p !== undefined),
        ...(out.IsTruncated && out.NextContinuationToken ? { next: out.NextContinuationToken } : {}),
      };
    });
    yield page;
    token = page.next;
  } while (token);
}

/** Every object under loc.key (a plain key prefix, not split at '/'); in no set order when parallel. */
export async function* listObjects(client: S3Client, loc: S3Location, opts: ListOptions = {}): AsyncGenerator<ObjectInfo> {
  const parallel = Math.max(1, Math.floor(opts.parallel ?? 1));
  if (parallel === 1) {
    for await (const page of pages(client, loc, undefined, opts)) yield* page.objects;
    return;
  }
  yield* listFannedOut(client, loc, parallel, opts);
}

/**
 * Lists the first levels with a delimiter so that each common prefix becomes a listing of its own,
 * `parallel` at a time. Results are buffered a bounded amount ahead of the consumer.
 */
async function* listFannedOut(client: S3Client, loc: S3Location, parallel: number, opts: ListOptions): AsyncGenerator<ObjectInfo> {
  const queue: Array<{ prefix: string; depth: number }> = [{ prefix: loc.key, depth: 0 }];
  const ready: ObjectInfo[] = [];
  let active = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const drained: Array<() => void> = [];
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const HIGH_WATER = 20_000;

  const work = async (item: { prefix: string; depth: number }) => {
    const delimiter = item.depth < FANOUT_DEPTH ? '/' : undefined;
    for await (const page of pages(client, { bucket: loc.bucket, key: item.prefix }, delimiter, opts)) {
      ready.push(...page.objects);
      for (const p of page.prefixes) queue.push({ prefix: p, depth: item.depth + 1 });
      notify();
      while (ready.length > HIGH_WATER && !failure) await new Promise<void>((r) => drained.push(r));
    }
  };
  const pump = () => {
    while (!failure && active < parallel && queue.length > 0) {
      const item = queue.shift()!;
      active++;
      work(item)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          active--;
          pump();
          notify();
        });
    }
  };

  pump();
  let finished = false;
  try {
    for (;;) {
      if (failure) throw failure;
      if (ready.length > 0) {
        const batch = ready.splice(0);
        for (const resume of drained.splice(0)) resume();
        yield* batch;
        continue;
      }
      if (active === 0 && queue.length === 0) {
        finished = true;
        return;
      }
      await new Promise<void>((r) => (wake = r));
      pump();
    }
  } finally {
    // a consumer that stops early (break, error) stops the listings still running
    if (!finished) {
      failure ??= new Error('listing stopped');
      queue.length = 0;
      for (const resume of drained.splice(0)) resume();
    }
  }
}

/** One level under loc.key split at '/': objects directly under it, then sub-prefixes ("directories"). */
export async function* listLevel(client: S3Client, loc: S3Location, opts: { signal?: AbortSignal } = {}): AsyncGenerator<ListEntry> {
  for await (const page of pages(client, loc, '/', opts)) {
    for (const o of page.objects) yield { kind: 'object', ...o };
    for (const p of page.prefixes) yield { kind: 'prefix', key: p };
  }
}

export interface ObjectDetails extends ObjectInfo {
  metadata: Record<string, string>;
  contentType?: string;
  /** Parts of a multipart object, when the server says (HeadObject partNumber=1). */
  partsCount?: number;
}

/**
 * HeadObject; undefined when the object does not exist. A missing bucket throws TransferError
 * 'no-such-bucket' (a HEAD has no body to say which is missing, so the bucket is asked then).
 * With `partNumber`, size is that part's size.
 */
export async function headObject(client: S3Client, loc: S3Location, opts: { signal?: AbortSignal; partNumber?: number } = {}): Promise<ObjectDetails | undefined> {
  const r = resolveOptions({ signal: opts.signal });
  try {
    const out = await request(client, r, { bucket: loc.bucket, key: loc.key, action: 'head' }, () =>
      client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key, PartNumber: opts.partNumber }), { abortSignal: opts.signal }),
    );
    return {
      key: loc.key,
      size: Number(out.ContentLength ?? 0),
      etag: bareEtag(out.ETag),
      lastModified: out.LastModified ?? new Date(0),
      metadata: out.Metadata ?? {},
      ...(out.ContentType ? { contentType: out.ContentType } : {}),
      ...(out.PartsCount !== undefined ? { partsCount: out.PartsCount } : {}),
      ...(out.StorageClass ? { storageClass: String(out.StorageClass) } : {}),
    };
  } catch (err) {
    if (!(err instanceof TransferError) || err.kind !== 'not-found') throw err;
    await assertBucket(client, loc.bucket, opts.signal);
    return undefined;
  }
}

/** Throws TransferError 'no-such-bucket' when the bucket is missing. */
export async function assertBucket(client: S3Client, bucket: string, signal?: AbortSignal): Promise<void> {
  const r = resolveOptions({ signal });
  try {
    await request(client, r, { bucket, action: 'head bucket' }, () => client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal }));
  } catch (err) {
    if (err instanceof TransferError && err.kind === 'not-found') throw new TransferError('no-such-bucket', `bucket ${bucket} does not exist`, 'check the bucket name and the endpoint/region');
    throw err;
  }
}

/** Incomplete multipart uploads under loc.key. */
export async function* listMultipartUploads(client: S3Client, loc: S3Location, opts: { signal?: AbortSignal } = {}): AsyncGenerator<MultipartUploadInfo> {
  const r = resolveOptions({ signal: opts.signal });
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const out = await request(client, r, { bucket: loc.bucket, key: loc.key, action: 'list uploads' }, () =>
      client.send(new ListMultipartUploadsCommand({ Bucket: loc.bucket, Prefix: loc.key || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), { abortSignal: opts.signal }),
    );
    for (const u of out.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined) yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated };
    }
    if (!out.IsTruncated) return;
    keyMarker = out.NextKeyMarker;
    uploadIdMarker = out.NextUploadIdMarker;
    if (!keyMarker && !uploadIdMarker) return;
  }
}
