// Sync: compare a source and a destination tree (size, then modification time), plan uploads or
// downloads and, with delete, removals; the plan is pure, and what is carried out is exactly it.
import { rm, stat } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { deleteObjects } from './delete.js';
import { TransferError, toTransferError } from './errors.js';
import { dirPrefix, listRemoteTree, runDownloads, runUploads, walkLocalTree, type LocalFile } from './tree.js';
import { localPathFor, type S3Location } from './uri.js';
import type { SyncAction, SyncOptions, SyncReport } from './types.js';

export interface SyncEntry {
  size: number;
  mtimeMs: number;
}

/** Whole seconds: S3's LastModified has no finer grain, and a download sets a file's mtime to it. */
const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * What a sync does, from the two listings keyed by relative path. A file is sent when the
 * destination lacks it, its size differs, or the source is newer (whole seconds). With `delete`,
 * what the destination has and the source lacks is removed. `locate` turns a relative path into
 * the destination's key or local path (and the source's, for the other direction).
 */
export function planSync(
  direction: 'up' | 'down',
  src: ReadonlyMap<string, SyncEntry>,
  dst: ReadonlyMap<string, SyncEntry>,
  opts: { delete?: boolean; key: (rel: string) => string; path: (rel: string) => string },
): SyncAction[] {
  const actions: SyncAction[] = [];
  const rels = [...src.keys()].sort();
  for (const rel of rels) {
    const s = src.get(rel)!;
    const d = dst.get(rel);
    const reason = !d ? 'missing' : d.size !== s.size ? 'size' : seconds(s.mtimeMs) > seconds(d.mtimeMs) ? 'newer' : undefined;
    if (!reason) continue;
    if (direction === 'up') actions.push({ kind: 'upload', path: opts.path(rel), key: opts.key(rel), size: s.size, reason });
    else actions.push({ kind: 'download', key: opts.key(rel), path: opts.path(rel), size: s.size, reason });
  }
  if (opts.delete) {
    for (const rel of [...dst.keys()].sort()) {
      if (src.has(rel)) continue;
      const size = dst.get(rel)!.size;
      actions.push(direction === 'up' ? { kind: 'delete-object', key: opts.key(rel), size } : { kind: 'delete-file', path: opts.path(rel), size });
    }
  }
  return actions;
}

/**
 * Syncs opts.src to opts.dst: one a local directory, the other an S3 location (the order gives the
 * direction). With dryRun, returns the plan and changes nothing.
 */
export async function syncTree(client: S3Client, opts: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const { src, dst } = opts;
  if (typeof src === 'string' && typeof dst !== 'string') return syncUp(client, src, dst, opts, started);
  if (typeof src !== 'string' && typeof dst === 'string') return syncDown(client, src, dst, opts, started);
  throw new TransferError('other', 'sync needs one local directory and one s3:// location', 'e.g. trainctl s3 sync ./data s3://bucket/data/');
}

async function localTree(dir: string, opts: SyncOptions): Promise<{ files: LocalFile[]; skipped: number; warnings: string[] }> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new TransferError('local', `${dir} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], skipped: 0, warnings: [] };
    throw toTransferError(err, { action: `read ${dir}` });
  }
  return walkLocalTree(dir, opts);
}

function baseReport(actions: SyncAction[], started: number): SyncReport {
  return { files: 0, bytes: 0, skipped: 0, failed: [], durationMs: Date.now() - started, resumedBytes: 0, warnings: [], actions, deleted: 0 };
}

async function syncUp(client: S3Client, dir: string, loc: S3Location, opts: SyncOptions, started: number): Promise<SyncReport> {
  const local = await localTree(dir, opts);
  const remote = await listRemoteTree(client, loc, opts);
  const prefix = dirPrefix(loc.key);
  const byRel = new Map(local.files.map((f) => [f.rel, f]));
  const actions = planSync(
    'up',
    new Map(local.files.map((f) => [f.rel, { size: f.size, mtimeMs: f.mtimeMs }])),
    new Map(remote.files.map((r) => [r.rel, { size: r.obj.size, mtimeMs: r.obj.lastModified.getTime() }])),
    { delete: opts.delete, key: (rel) => prefix + rel, path: (rel) => byRel.get(rel)?.path ?? rel },
  );
  const report = baseReport(actions, started);
  report.warnings.push(...local.warnings);
  const uploads = actions.filter((a) => a.kind === 'upload');
  report.skipped = local.skipped + local.files.length - uploads.length;
  if (opts.dryRun) return report;
  const rels = new Map(local.files.map((f) => [prefix + f.rel, f]));
  const up = await runUploads(client, loc.bucket, uploads.map((a) => ({ file: rels.get(a.key)!, key: a.key })), opts);
  const deletes = actions.flatMap((a) => (a.kind === 'delete-object' ? [a.key] : []));
  const del = deletes.length > 0 ? await deleteObjects(client, loc.bucket, deletes, { signal: opts.signal }) : { deleted: [], failed: [] };
  return { ...report, files: up.files, bytes: up.bytes, resumedBytes: up.resumedBytes, failed: [...up.failed, ...del.failed], deleted: del.deleted.length, durationMs: Date.now() - started };
}

async function syncDown(client: S3Client, loc: S3Location, dir: string, opts: SyncOptions, started: number): Promise<SyncReport> {
  // the whole listing is checked for unsafe keys before anything is written or deleted
  const remote = await listRemoteTree(client, loc, { ...opts, root: dir });
  const local = await localTree(dir, opts);
  const byRel = new Map(remote.files.map((r) => [r.rel, r.obj]));
  const actions = planSync(
    'down',
    new Map(remote.files.map((r) => [r.rel, { size: r.obj.size, mtimeMs: r.obj.lastModified.getTime() }])),
    new Map(local.files.map((f) => [f.rel, { size: f.size, mtimeMs: f.mtimeMs }])),
    {
      delete: opts.delete,
      key: (rel) => byRel.get(rel)?.key ?? dirPrefix(loc.key) + rel,
      path: (rel) => {
        const mapped = localPathFor(dir, rel);
        return 'path' in mapped ? mapped.path : rel;
      },
    },
  );
  const report = baseReport(actions, started);
  report.warnings.push(...local.warnings);
  const downloads = actions.filter((a) => a.kind === 'download');
  report.skipped = remote.skipped + remote.files.length - downloads.length;
  if (opts.dryRun) return report;
  const relOf = new Map(remote.files.map((r) => [r.obj.key, r.rel]));
  const down = await runDownloads(
    client,
    dir,
    downloads.map((a) => ({ rel: relOf.get(a.key)!, src: { ...byRel.get(relOf.get(a.key)!)!, bucket: loc.bucket }, path: a.path })),
    opts,
  );
  let deleted = 0;
  const failed = [...down.failed];
  for (const a of actions) {
    if (a.kind !== 'delete-file') continue;
    try {
      await rm(a.path);
      deleted++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') deleted++;
      else failed.push({ path: a.path, key: '', message: toTransferError(err, { action: `delete ${a.path}` }).message });
    }
  }
  return { ...report, files: down.files, bytes: down.bytes, failed, deleted, durationMs: Date.now() - started };
}
