// Tree transfers: a local directory to a prefix and back, many objects through one bounded pool of
// requests in flight. Small objects take one slot each; a large one's parts take a slot each, so
// a tree of both keeps the pool full. Downloads check the whole listing before writing anything.
import { lstat, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { TransferError, toTransferError } from './errors.js';
import { pathFilter } from './filter.js';
import { headObject, listObjects } from './list.js';
import { getObject, knownPartSize, newDownloadRun, type DownloadRun, type DownloadSource } from './download.js';
import { startWriterThread } from './file-writer.js';
import { Slots } from '../core/bounded.js';
import { throwIfAborted } from './ops.js';
import { isMultipart, newUploadRun, putMultipart, putSingle, type UploadRun } from './upload.js';
import { localPathFor, unsafeKeyReason, type S3Location } from './uri.js';
import type { ObjectInfo, TransferFailure, TransferOptions, TransferReport } from './types.js';

export interface LocalFile {
  /** '/'-separated, relative to the tree root. */
  rel: string;
  /** The file to read: the entry itself, or a symlink's target inside the tree. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** Large objects in flight at once (their parts share the request pool). */
const LARGE_IN_FLIGHT = 4;
const STAT_BATCH = 64;

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/**
 * Regular files under root, filtered by include/exclude. A symlink is followed only while its
 * target stays inside root (a file then uploads under the link's name); one that leads out, a
 * broken one and special files are skipped and named in `warnings`.
 */
export async function walkLocalTree(root: string, opts: Pick<TransferOptions, 'include' | 'exclude' | 'signal'> = {}): Promise<{ files: LocalFile[]; skipped: number; warnings: string[] }> {
  const pass = pathFilter(opts.include, opts.exclude);
  const realRoot = await realpath(root);
  const files: LocalFile[] = [];
  const warnings: string[] = [];
  let skipped = 0;

  // `ancestors`: real paths of the directories above, so a symlink back up (a loop) is not followed;
  // a symlink to a sibling directory inside the tree is, and its files upload under the link's name
  const walk = async (dir: string, relDir: string, ancestors: ReadonlySet<string>): Promise<void> => {
    throwIfAborted(opts.signal);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: Array<{ dir: string; rel: string }> = [];
    const stats: Array<() => Promise<void>> = [];
    for (const e of entries) {
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        subdirs.push({ dir: full, rel });
      } else if (e.isFile()) {
        if (!pass(rel)) {
          skipped++;
          continue;
        }
        stats.push(async () => {
          const st = await lstat(full);
          files.push({ rel, path: full, size: st.size, mtimeMs: st.mtimeMs });
        });
      } else if (e.isSymbolicLink()) {
        stats.push(async () => {
          let target: string;
          try {
            target = await realpath(full);
          } catch {
            warnings.push(`skipped ${rel}: broken symlink`);
            skipped++;
            return;
          }
          if (!inside(realRoot, target)) {
            warnings.push(`skipped ${rel}: symlink to ${target}, outside the source tree`);
            skipped++;
            return;
          }
          const st = await stat(target);
          if (st.isDirectory()) {
            if (ancestors.has(target)) {
              warnings.push(`skipped ${rel}: symlink to a directory above it (a loop)`);
              skipped++;
            } else subdirs.push({ dir: target, rel });
          } else if (st.isFile()) {
            if (pass(rel)) files.push({ rel, path: target, size: st.size, mtimeMs: st.mtimeMs });
            else skipped++;
          }
        });
      } else {
        warnings.push(`skipped ${rel}: not a regular file`);
        skipped++;
      }
    }
    for (let i = 0; i < stats.length; i += STAT_BATCH) await Promise.all(stats.slice(i, i + STAT_BATCH).map((f) => f()));
    for (const sub of subdirs) {
      const real = await realpath(sub.dir);
      if (ancestors.has(real)) continue;
      await walk(sub.dir, sub.rel, new Set([...ancestors, real]));
    }
  };
  await walk(root, '', new Set([realRoot]));
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, skipped, warnings };
}

/** A prefix as a directory: '' stays the bucket root, anything else ends in '/'. */
export function dirPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

function emptyReport(): TransferReport {
  return { files: 0, bytes: 0, skipped: 0, failed: [], durationMs: 0, resumedBytes: 0, warnings: [] };
}

/**
 * Runs many tasks through a run's pool: a small one waits for a slot before it starts (so the
 * producer never gets far ahead), a large one for one of a few large-object places. The first
 * fatal error (no bucket, access denied, unreachable, cancelled) stops the rest and is thrown.
 */
async function runPool<J>(jobs: readonly J[], slots: Slots, isLarge: (j: J) => boolean, work: (j: J, holdsSlot: boolean) => Promise<void>, onError: (j: J, err: TransferError) => void): Promise<void> {
  const large = new Slots(LARGE_IN_FLIGHT);
  const pending = new Set<Promise<void>>();
  let fatal: TransferError | undefined;
  const track = (j: J, p: Promise<void>, release: () => void) => {
    const t = p
      .catch((err: unknown) => {
        const e = toTransferError(err);
        if (e.fatal) fatal ??= e;
        else onError(j, e);
      })
      .finally(() => {
        release();
        pending.delete(t);
      });
    pending.add(t);
  };
  // large objects first: their parts then interleave with the small ones
  const ordered = [...jobs.filter(isLarge), ...jobs.filter((j) => !isLarge(j))];
  for (const j of ordered) {
    if (fatal) break;
    if (isLarge(j)) {
      await large.acquire();
      track(j, work(j, false), () => large.release());
    } else {
      await slots.acquire();
      if (fatal) {
        slots.release();
        break;
      }
      track(j, work(j, true), () => slots.release());
    }
  }
  await Promise.all(pending);
  if (fatal) throw fatal;
}

export interface UploadJob {
  file: LocalFile;
  key: string;
}

/** Uploads the given files; per-file failures are collected, fatal ones thrown. */
export async function runUploads(client: S3Client, bucket: string, jobs: readonly UploadJob[], opts: TransferOptions, run: UploadRun = newUploadRun(client, opts)): Promise<TransferReport> {
  const started = Date.now();
  const report = emptyReport();
  run.meter.filesTotal += jobs.length;
  run.meter.bytesTotal += jobs.reduce((n, j) => n + j.file.size, 0);
  await runPool(
    jobs,
    run.slots,
    (j) => isMultipart(run, j.file.size),
    async (j) => {
      const src = { path: j.file.path, size: j.file.size, mtimeMs: j.file.mtimeMs, noFollow: true };
      const res = isMultipart(run, j.file.size) ? await putMultipart(run, src, { bucket, key: j.key }) : await putSingle(run, src, { bucket, key: j.key });
      report.files++;
      report.bytes += res.bytes;
      report.resumedBytes += res.resumedBytes;
      run.meter.fileDone();
    },
    (j, err) => report.failed.push({ path: j.file.rel, key: j.key, message: err.message }),
  );
  run.meter.tick(true);
  report.durationMs = Date.now() - started;
  return report;
}

/** Uploads every file under localDir to loc.key + '/' + relative path. */
export async function uploadTree(client: S3Client, localDir: string, loc: S3Location, opts: TransferOptions = {}): Promise<TransferReport> {
  const started = Date.now();
  let walked;
  try {
    const st = await stat(localDir);
    if (!st.isDirectory()) throw new TransferError('local', `${localDir} is not a directory`);
    walked = await walkLocalTree(localDir, opts);
  } catch (err) {
    throw toTransferError(err, { action: `read ${localDir}` });
  }
  const prefix = dirPrefix(loc.key);
  const report = await runUploads(client, loc.bucket, walked.files.map((file) => ({ file, key: prefix + file.rel })), opts);
  return { ...report, skipped: report.skipped + walked.skipped, warnings: [...walked.warnings, ...report.warnings], durationMs: Date.now() - started };
}

export interface RemoteFile {
  /** Key relative to the listed prefix. */
  rel: string;
  obj: ObjectInfo;
}

/**
 * Every object under a directory-like prefix, filtered by include/exclude, with directory markers
 * (zero-byte keys ending in '/') left out. When `root` is given every key must map to a path under
 * it; otherwise the whole listing is refused with TransferError 'unsafe-key' — before anything
 * is written.
 */
export async function listRemoteTree(client: S3Client, loc: S3Location, opts: Pick<TransferOptions, 'include' | 'exclude' | 'signal'> & { root?: string }): Promise<{ files: RemoteFile[]; skipped: number }> {
  const prefix = dirPrefix(loc.key);
  const pass = pathFilter(opts.include, opts.exclude);
  const files: RemoteFile[] = [];
  let skipped = 0;
  const unsafe: string[] = [];
  for await (const obj of listObjects(client, { bucket: loc.bucket, key: prefix }, { signal: opts.signal, parallel: 8 })) {
    const rel = obj.key.slice(prefix.length);
    const marker = obj.size === 0 && (rel === '' || (rel.endsWith('/') && unsafeKeyReason(rel.slice(0, -1)) === undefined));
    if (marker || !pass(rel)) {
      skipped++;
      continue;
    }
    if (opts.root !== undefined) {
      const mapped = localPathFor(opts.root, rel);
      if ('error' in mapped) {
        unsafe.push(mapped.error);
        continue;
      }
      if (rel.endsWith('/')) {
        unsafe.push(`refusing ${JSON.stringify(rel)}: a key ending in "/" with content cannot be a file`);
        continue;
      }
    }
    files.push({ rel, obj });
  }
  if (unsafe.length > 0) {
    const shown = unsafe.slice(0, 3).join('; ');
    throw new TransferError('unsafe-key', `s3://${loc.bucket}/${prefix}: ${unsafe.length} key${unsafe.length === 1 ? '' : 's'} would land outside ${opts.root}, nothing downloaded — ${shown}${unsafe.length > 3 ? '; …' : ''}`, 'keys with "..", absolute paths, backslashes or empty segments are never written; rename them on the server');
  }
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, skipped };
}

export interface DownloadJob {
  rel: string;
  src: DownloadSource;
  path: string;
}

/**
 * Creates (once each) the directories downloads go into and checks that each, resolved, is still
 * inside the real root: a symlinked directory in the target must not carry a write outside it.
 */
function directoryGuard(root: string): (dir: string) => Promise<void> {
  const made = new Map<string, Promise<void>>();
  let realRoot: Promise<string> | undefined;
  return (dir) => {
    let p = made.get(dir);
    if (!p) {
      p = (async () => {
        await mkdir(dir, { recursive: true });
        realRoot ??= realpath(root);
        const real = await realpath(dir);
        if (!inside(await realRoot, real)) throw new TransferError('unsafe-key', `refusing to write into ${dir}: it resolves to ${real}, outside ${root}`);
      })();
      made.set(dir, p);
    }
    return p;
  };
}

/** Downloads the given objects into their paths under root; per-file failures are collected. */
export async function runDownloads(client: S3Client, root: string, jobs: readonly DownloadJob[], opts: TransferOptions, run: DownloadRun = newDownloadRun(client, opts)): Promise<TransferReport> {
  const started = Date.now();
  const report = emptyReport();
  run.meter.filesTotal += jobs.length;
  run.meter.bytesTotal += jobs.reduce((n, j) => n + j.src.size, 0);
  const failures = conflicts(jobs);
  report.failed.push(...failures.failed);
  const ensureDir = directoryGuard(root);
  await mkdir(root, { recursive: true });
  // many small files: written by a thread of their own, so creating them overlaps the network
  const small = failures.ok.reduce((n, j) => n + (j.src.size < run.r.multipartThreshold ? 1 : 0), 0);
  const writer = small >= WRITER_THREAD_MIN ? await startWriterThread() : undefined;
  if (writer) run = { ...run, writer };
  try {
    await runPool(
      failures.ok,
      run.slots,
      (j) => j.src.size >= run.r.multipartThreshold,
      async (j, holdsSlot) => {
        await ensureDir(dirname(j.path));
        const src = { ...j.src };
        if (src.etag.includes('-') || (run.r.verify === 'sha256' && src.metadata === undefined)) {
          // a HEAD for what the listing lacks: part size for multipart ETags, metadata for sha256
          if (run.r.verify === 'sha256') {
            const head = await headObject(client, { bucket: src.bucket, key: src.key }, { signal: run.r.signal });
            if (head) src.metadata = head.metadata;
          }
          src.partSize = await knownPartSize(run, src);
        }
        // a small object's GET takes the slot its job already holds
        const bytes = holdsSlot ? await getObject({ ...run, slots: UNLIMITED }, src, j.path) : await getObject(run, src, j.path);
        report.files++;
        report.bytes += bytes;
        run.meter.fileDone();
      },
      (j, err) => report.failed.push({ path: j.rel, key: j.src.key, message: err.message }),
    );
  } finally {
    await writer?.close();
  }
  run.meter.tick(true);
  report.durationMs = Date.now() - started;
  return report;
}

/** From this many small files on, a download writes them on a thread of its own. */
const WRITER_THREAD_MIN = 64;

/** A pool that never waits: for work whose slot the caller already holds. */
const UNLIMITED = new Slots(Number.MAX_SAFE_INTEGER);

/** Keys that map to the same path, or to a path under another key's file, cannot both be written. */
function conflicts(jobs: readonly DownloadJob[]): { ok: DownloadJob[]; failed: TransferFailure[] } {
  const paths = new Set(jobs.map((j) => j.path));
  const seen = new Set<string>();
  const ok: DownloadJob[] = [];
  const failed: TransferFailure[] = [];
  for (const j of jobs) {
    let clash: string | undefined;
    if (seen.has(j.path)) clash = 'another key maps to the same path';
    for (let d = dirname(j.path); !clash && d !== dirname(d); d = dirname(d)) if (paths.has(d)) clash = `${d} is also a file`;
    seen.add(j.path);
    if (clash) failed.push({ path: j.rel, key: j.src.key, message: `cannot download s3://${j.src.bucket}/${j.src.key}: ${clash}` });
    else ok.push(j);
  }
  return { ok, failed };
}

/**
 * Downloads every object under the prefix loc.key (treated as a directory: 'a' lists 'a/') into
 * localDir. The whole listing is checked for unsafe keys before anything is written.
 */
export async function downloadTree(client: S3Client, loc: S3Location, localDir: string, opts: TransferOptions = {}): Promise<TransferReport> {
  const started = Date.now();
  const listed = await listRemoteTree(client, loc, { ...opts, root: localDir });
  const jobs = listed.files.map(({ rel, obj }) => ({ rel, src: { ...obj, bucket: loc.bucket }, path: (localPathFor(localDir, rel) as { path: string }).path }));
  const report = await runDownloads(client, localDir, jobs, opts);
  return { ...report, skipped: report.skipped + listed.skipped, durationMs: Date.now() - started };
}
