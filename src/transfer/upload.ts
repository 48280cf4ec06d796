// Uploading files: a single PutObject below the multipart threshold, else a resumable multipart
// upload streamed from disk part by part (memory bounded by the requests in flight, not the file
// size). Every request's body MD5 is checked against the ETag the server returns; a multipart
// object is checked once more with HeadObject after completion (Ceph 16 returns no ETag on
// CompleteMultipartUpload).
import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, ListPartsCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { TransferError, toTransferError } from './errors.js';
import { headObject } from './list.js';
import { bareEtag, Meter, MiB, partSizeFor, request, resolveOptions, type Resolved } from './ops.js';
import { Slots } from '../core/bounded.js';
import { abortMultipartUpload } from './delete.js';
import { drain, wireFor } from './wire.js';
import type { S3Location } from './uri.js';
import type { TransferOptions, TransferReport } from './types.js';

/** Files up to this size are read into memory and sent with Content-MD5; larger ones are streamed. */
const BUFFERED_MAX = 1 * MiB;
/** Read size for streamed bodies: few syscalls, bounded memory per request in flight. */
const READ_CHUNK = 256 * 1024;
const PART_SIZE_META = 'trainctl-part-size';

/** What one upload run shares: the client, the pool of requests in flight, the meter. */
export interface UploadRun {
  client: S3Client;
  r: Resolved;
  slots: Slots;
  meter: Meter;
  opts: TransferOptions;
}

export interface UploadSource {
  path: string;
  size: number;
  mtimeMs: number;
  /** Open without following a final symlink (tree uploads resolve symlinks themselves). */
  noFollow: boolean;
}

export interface UploadResult {
  bytes: number;
  resumedBytes: number;
}

export function newUploadRun(client: S3Client, opts: TransferOptions): UploadRun {
  const r = resolveOptions(opts);
  return { client, r, slots: new Slots(r.concurrency), meter: new Meter(opts.onProgress), opts };
}

/** Whether a file of this size goes multipart. */
export function isMultipart(run: UploadRun, size: number): boolean {
  return size >= run.r.multipartThreshold && size > 0;
}

/**
 * Uploads one local file to loc. A key that is '' or ends in '/' gets the file's base name appended.
 * Throws TransferError when it fails.
 */
export async function uploadFile(client: S3Client, localPath: string, loc: S3Location, opts: TransferOptions = {}): Promise<TransferReport> {
  const started = Date.now();
  const key = loc.key === '' || loc.key.endsWith('/') ? `${loc.key}${basename(localPath)}` : loc.key;
  let st;
  try {
    st = await stat(localPath);
  } catch (err) {
    throw toTransferError(err, { action: `upload ${localPath}` });
  }
  if (!st.isFile()) throw new TransferError('local', `${localPath} is not a regular file`, st.isDirectory() ? 'upload a directory with --recursive' : undefined);
  const run = newUploadRun(client, opts);
  run.meter.bytesTotal = st.size;
  run.meter.filesTotal = 1;
  const src: UploadSource = { path: localPath, size: st.size, mtimeMs: st.mtimeMs, noFollow: false };
  const dest = { bucket: loc.bucket, key };
  const res = isMultipart(run, st.size) ? await putMultipart(run, src, dest) : await run.slots.run(() => putSingle(run, src, dest));
  run.meter.fileDone();
  run.meter.tick(true);
  return { files: 1, bytes: res.bytes, skipped: 0, failed: [], durationMs: Date.now() - started, resumedBytes: res.resumedBytes, warnings: [] };
}

function metadataFor(run: UploadRun, extra: Record<string, string>): Record<string, string> | undefined {
  const m = { ...run.opts.metadata, ...extra };
  return Object.keys(m).length > 0 ? m : undefined;
}

/** PutObject of a body; the ETag the server returned ('' when none). */
async function putObjectBody(run: UploadRun, dest: S3Location, body: Buffer | Readable, length: number, md5: Buffer | undefined, metadata: Record<string, string> | undefined): Promise<string> {
  const wire = await wireFor(run.client);
  if (wire) {
    const headers: Record<string, string> = { 'content-length': String(length) };
    if (md5) headers['content-md5'] = md5.toString('base64');
    if (run.opts.contentType) headers['content-type'] = run.opts.contentType;
    for (const [k, v] of Object.entries(metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    const res = await wire.send({ method: 'PUT', bucket: dest.bucket, key: dest.key, headers, body }, run.r.signal);
    await drain(res.body);
    return bareEtag(res.headers.etag);
  }
  const out = await run.client.send(
    new PutObjectCommand({ Bucket: dest.bucket, Key: dest.key, Body: body, ContentLength: length, ContentMD5: md5?.toString('base64'), Metadata: metadata, ContentType: run.opts.contentType }),
    { abortSignal: run.r.signal },
  );
  return bareEtag(out.ETag);
}

/** UploadPart of a body; the part's ETag ('' when none). */
async function uploadPartBody(run: UploadRun, dest: S3Location, uploadId: string, partNumber: number, body: Readable, length: number): Promise<string> {
  const wire = await wireFor(run.client);
  if (wire) {
    const res = await wire.send({ method: 'PUT', bucket: dest.bucket, key: dest.key, query: { partNumber: String(partNumber), uploadId }, headers: { 'content-length': String(length) }, body }, run.r.signal);
    await drain(res.body);
    return bareEtag(res.headers.etag);
  }
  const out = await run.client.send(new UploadPartCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: length }), { abortSignal: run.r.signal });
  return bareEtag(out.ETag);
}

function openFlags(src: UploadSource): number {
  return fsc.O_RDONLY | (src.noFollow ? fsc.O_NOFOLLOW : 0);
}

/** A byte range of a file as a stream whose bytes also go through the given hashes. */
function rangeStream(src: UploadSource, start: number, length: number, hashes: ReturnType<typeof createHash>[]): Readable {
  const file = createReadStream(src.path, { start, end: start + length - 1, highWaterMark: READ_CHUNK, flags: openFlags(src) as unknown as string });
  const tap = new Transform({
    highWaterMark: READ_CHUNK,
    transform(chunk: Buffer, _enc, cb) {
      for (const h of hashes) h.update(chunk);
      cb(null, chunk);
    },
  });
  file.on('error', (err) => tap.destroy(err));
  return file.pipe(tap);
}

/** Hashes of a byte range of a file, read sequentially. */
export async function hashRange(src: UploadSource, start: number, length: number, algorithms: string[]): Promise<Buffer[]> {
  const hashes = algorithms.map((a) => createHash(a));
  if (length > 0) {
    for await (const chunk of rangeStream(src, start, length, hashes)) void chunk;
  }
  return hashes.map((h) => h.digest());
}

function checkEtag(run: UploadRun, got: string | undefined, md5: Buffer, what: string): void {
  const etag = bareEtag(got);
  if (run.r.verify !== 'none' && etag !== '' && etag !== md5.toString('hex')) {
    throw new TransferError('verify', `${what}: the server stored different bytes than were sent (ETag ${etag}, MD5 ${md5.toString('hex')})`, 'retry the upload; if it persists, check for a proxy that alters request bodies');
  }
}

/** One PutObject. The caller holds a slot. */
export async function putSingle(run: UploadRun, src: UploadSource, dest: S3Location): Promise<UploadResult> {
  const what = `upload ${src.path} to s3://${dest.bucket}/${dest.key}`;
  const ctx = { bucket: dest.bucket, key: dest.key, action: `upload ${src.path}` };
  if (src.size <= BUFFERED_MAX) {
    // one read of the size the walk saw (no fstat, no read to EOF); a file that shrank since fails
    const body = Buffer.allocUnsafe(src.size);
    let got = 0;
    try {
      const fh = await open(src.path, openFlags(src));
      try {
        while (got < src.size) {
          const { bytesRead } = await fh.read(body, got, src.size - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw toTransferError(err, { action: `read ${src.path}` });
    }
    if (got !== src.size) throw new TransferError('local', `${src.path} changed while it was being uploaded`);
    const md5 = createHash('md5').update(body).digest();
    const extra: Record<string, string> = run.r.verify === 'sha256' ? { sha256: createHash('sha256').update(body).digest('hex') } : {};
    const etag = await request(run.client, run.r, ctx, () => putObjectBody(run, dest, body, body.length, md5, metadataFor(run, extra)));
    checkEtag(run, etag, md5, what);
    run.meter.add(src.size);
    return { bytes: src.size, resumedBytes: 0 };
  }
  const extra: Record<string, string> = run.r.verify === 'sha256' ? { sha256: (await hashRange(src, 0, src.size, ['sha256']))[0]!.toString('hex') } : {};
  let md5 = createHash('md5');
  const etag = await request(run.client, run.r, ctx, () => {
    md5 = createHash('md5');
    return putObjectBody(run, dest, rangeStream(src, 0, src.size, [md5]), src.size, undefined, metadataFor(run, extra));
  });
  checkEtag(run, etag, md5.digest(), what);
  run.meter.add(src.size);
  return { bytes: src.size, resumedBytes: 0 };
}

interface ResumeState {
  version: 1;
  bucket: string;
  key: string;
  uploadId: string;
  path: string;
  size: number;
  mtimeMs: number;
  partSize: number;
}

/** The state file of a resumable upload: one per source path + destination + size + mtime + part size. */
function resumeFile(run: UploadRun, src: UploadSource, dest: S3Location, partSize: number): string | undefined {
  if (run.opts.resumeDir === false) return undefined;
  const dir = run.opts.resumeDir ?? join(tmpdir(), 'trainctl-uploads');
  const id = createHash('sha256').update(JSON.stringify([resolve(src.path), dest.bucket, dest.key, src.size, src.mtimeMs, partSize])).digest('hex').slice(0, 40);
  return join(dir, `${id}.json`);
}

async function readResumeState(file: string, src: UploadSource, dest: S3Location, partSize: number): Promise<ResumeState | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as ResumeState;
    const same = s.version === 1 && s.bucket === dest.bucket && s.key === dest.key && s.size === src.size && s.mtimeMs === src.mtimeMs && s.partSize === partSize && typeof s.uploadId === 'string';
    return same ? s : undefined;
  } catch {
    return undefined;
  }
}

async function writeResumeState(file: string, state: ResumeState): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, file);
}

/** The parts an unfinished upload already has (ListParts is the truth, not the state file). */
async function listedParts(run: UploadRun, dest: S3Location, uploadId: string): Promise<Map<number, { etag: string; size: number }>> {
  const parts = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  for (;;) {
    const out = await request(run.client, run.r, { bucket: dest.bucket, key: dest.key, action: 'list parts' }, () =>
      run.client.send(new ListPartsCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal: run.r.signal }),
    );
    for (const p of out.Parts ?? []) {
      if (p.PartNumber !== undefined) parts.set(p.PartNumber, { etag: bareEtag(p.ETag), size: Number(p.Size ?? -1) });
    }
    if (!out.IsTruncated || out.NextPartNumberMarker === undefined || String(out.NextPartNumberMarker) === marker) return parts;
    marker = String(out.NextPartNumberMarker);
  }
}

/** The ETag S3 gives a multipart object: MD5 of the parts' MD5s, dash, part count. */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

/**
 * A multipart upload, resumed when a state file names an upload the server still has: parts it
 * lists with the right size (and, when verifying, the right MD5) are not sent again. Parts go
 * through the run's slots, so a large file shares the pool with everything else in flight.
 */
export async function putMultipart(run: UploadRun, src: UploadSource, dest: S3Location): Promise<UploadResult> {
  const what = `upload ${src.path} to s3://${dest.bucket}/${dest.key}`;
  const ctx = { bucket: dest.bucket, key: dest.key, action: `upload ${src.path}` };
  const partSize = partSizeFor(src.size, run.r.partSize);
  const count = Math.max(1, Math.ceil(src.size / partSize));
  const stateFile = resumeFile(run, src, dest, partSize);
  const verifyContent = run.r.verify === 'etag' || run.r.verify === 'sha256';

  let uploadId: string | undefined;
  let existing = new Map<number, { etag: string; size: number }>();
  const previous = stateFile ? await readResumeState(stateFile, src, dest, partSize) : undefined;
  if (previous) {
    try {
      existing = await listedParts(run, dest, previous.uploadId);
      uploadId = previous.uploadId;
    } catch (err) {
      if (!(err instanceof TransferError) || err.kind !== 'not-found') throw err;
    }
  }
  if (!uploadId) {
    const extra: Record<string, string> = { [PART_SIZE_META]: String(partSize) };
    if (run.r.verify === 'sha256') extra.sha256 = (await hashRange(src, 0, src.size, ['sha256']))[0]!.toString('hex');
    const out = await request(run.client, run.r, ctx, () =>
      run.client.send(new CreateMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, Metadata: metadataFor(run, extra), ContentType: run.opts.contentType }), { abortSignal: run.r.signal }),
    );
    if (!out.UploadId) throw new TransferError('other', `${what}: the server returned no UploadId`);
    uploadId = out.UploadId;
    if (stateFile) await writeResumeState(stateFile, { version: 1, bucket: dest.bucket, key: dest.key, uploadId, path: resolve(src.path), size: src.size, mtimeMs: src.mtimeMs, partSize });
  }
  const id = uploadId;

  const etags: string[] = new Array<string>(count);
  const md5s: Buffer[] = new Array<Buffer>(count);
  let bytes = 0;
  let resumedBytes = 0;
  let failure: unknown;
  const uploadPart = async (n: number) => {
    const start = (n - 1) * partSize;
    const length = Math.min(partSize, src.size - start);
    const listed = existing.get(n);
    if (listed && listed.size === length) {
      // a part from an earlier run: kept when its bytes are the file's (checked by MD5 when verifying)
      const md5 = verifyContent ? (await hashRange(src, start, length, ['md5']))[0]! : undefined;
      if (!md5 || listed.etag === md5.toString('hex')) {
        etags[n - 1] = listed.etag;
        if (md5) md5s[n - 1] = md5;
        resumedBytes += length;
        run.meter.add(length);
        return;
      }
    }
    await run.slots.run(async () => {
      if (failure) return;
      let md5 = createHash('md5');
      const etag = await request(run.client, run.r, { ...ctx, action: `upload part ${n} of ${src.path}` }, () => {
        md5 = createHash('md5');
        return uploadPartBody(run, dest, id, n, rangeStream(src, start, length, [md5]), length);
      });
      const digest = md5.digest();
      checkEtag(run, etag, digest, `${what}, part ${n}`);
      etags[n - 1] = etag || digest.toString('hex');
      md5s[n - 1] = digest;
      bytes += length;
      run.meter.add(length);
    });
  };

  try {
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        uploadPart(i + 1).catch((err: unknown) => {
          failure ??= err;
        }),
      ),
    );
    if (failure) throw failure;
    const now = await stat(src.path);
    if (now.size !== src.size || now.mtimeMs !== src.mtimeMs) throw new TransferError('local', `${src.path} changed while it was being uploaded`, 'upload it again once it is no longer being written');
    const expected = verifyContent ? multipartEtag(md5s) : undefined;
    try {
      await request(run.client, run.r, ctx, () =>
        run.client.send(new CompleteMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: id, MultipartUpload: { Parts: etags.map((e, i) => ({ ETag: `"${e}"`, PartNumber: i + 1 })) } }), { abortSignal: run.r.signal }),
      );
    } catch (err) {
      // a retried Complete whose first try went through finds no upload: the object tells
      if (!(err instanceof TransferError) || err.kind !== 'not-found') throw err;
    }
    if (run.r.verify !== 'none') {
      const head = await headObject(run.client, dest, { signal: run.r.signal });
      if (!head) throw new TransferError('verify', `${what}: the object is missing after the upload completed`);
      if (head.size !== src.size) throw new TransferError('verify', `${what}: stored size ${head.size} differs from the file's ${src.size}`);
      if (expected && head.etag !== '' && head.etag !== expected) throw new TransferError('verify', `${what}: stored ETag ${head.etag} differs from the parts sent (${expected})`);
    }
    if (stateFile) await rm(stateFile, { force: true });
    return { bytes, resumedBytes };
  } catch (err) {
    const e = toTransferError(err, ctx);
    // kept for a resume: cancelled, or the server/network went away; anything else starts over
    const resumable = stateFile !== undefined && (e.kind === 'aborted' || e.kind === 'throttled' || e.kind === 'server' || e.kind === 'network' || e.kind === 'unreachable' || e.kind === 'access-denied');
    if (!resumable) {
      if (stateFile) await rm(stateFile, { force: true });
      await abortMultipartUpload(run.client, dest.bucket, dest.key, id).catch(() => undefined);
    }
    throw e;
  }
}
