// Where the `checkpoint` commands (and `s3 cleanup`) find checkpoints: a trial's directory in an
// output store or its checkpoints/ dir (checkpoints/<step>/ + MANIFEST.json + LATEST), or any
// directory or prefix of checkpoint files whose names carry the step (step-000050.pt,
// checkpoint-500/), local or on S3. One listing, parsed once into a CheckpointSet.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExitError } from '../core/errors.js';
import type { RetentionItem } from '../core/retention.js';
import { stepFromPath } from '../runner/checkpoints.js';
import { parseManifest } from '../store/manifest.js';
import { openRunStore } from '../store/open.js';
import type { CheckpointManifest, RunStore, TrialRef } from '../store/store.js';
import { downloadObject, formatS3Uri, listObjects, TransferError } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { dirPrefix, existingPath, isS3Uri, s3Client, s3Location, type S3Client } from './s3-shared.js';

/** A stored file, '/'-separated and relative to the set's base. */
export interface StoredFile { rel: string; size: number; modifiedMs: number }

export interface CheckpointEntry extends RetentionItem {
  step?: number;
  /** Files (relative to the base) as stored. */
  files: StoredFile[];
  /** Top-level names under the base that make up this checkpoint (a step dir, or files sharing a step). */
  parts: string[];
  manifest?: CheckpointManifest;
  /** MANIFEST.json is present but not a manifest (damaged, half-written). */
  manifestDamaged?: boolean;
  latest?: boolean;
}

export type Base = { kind: 'local'; dir: string } | { kind: 's3'; client: S3Client; bucket: string; prefix: string };

export interface CheckpointSet {
  /** As the user wrote it. */
  shown: string;
  /** store: a trial's checkpoints/ (LATEST, <step>/MANIFEST.json); files: anything else. */
  layout: 'store' | 'files';
  /** The checkpoints dir (store) or the plain directory / prefix. */
  base: Base;
  /** The trial's store and ref, when the layout is a store's. */
  store?: { uri: string; ref: TrialRef };
  latest?: number;
  /** Ascending by step. */
  entries: CheckpointEntry[];
  /** Top-level names that are no checkpoint (no step in the name). */
  ignored: string[];
  /** Every file under the target, relative to it (for callers that look at more than checkpoints). */
  all: StoredFile[];
}

export const baseText = (b: Base, rel = ''): string => (b.kind === 'local' ? join(b.dir, ...rel.split('/').filter(Boolean)) : `s3://${b.bucket}/${b.prefix}${rel}`);

async function walk(root: string): Promise<StoredFile[]> {
  const out: StoredFile[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await visit(full);
      else if (e.isFile()) {
        const st = await stat(full);
        out.push({ rel: relative(root, full).split(sep).join('/'), size: st.size, modifiedMs: st.mtimeMs });
      }
      // symlinks and special files are neither followed nor counted
    }
  };
  await visit(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** A small object's text, or undefined when it does not exist. */
export async function readS3Text(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'trainctl-read-'));
  try {
    await downloadObject(client, { bucket, key }, join(dir, 'object'));
    return await readFile(join(dir, 'object'), 'utf8');
  } catch (err) {
    if (err instanceof TransferError && err.kind === 'not-found') return undefined;
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function readBaseText(base: Base, rel: string): Promise<string | undefined> {
  if (base.kind === 's3') return readS3Text(base.client, base.bucket, base.prefix + rel);
  try {
    return await readFile(join(base.dir, ...rel.split('/')), 'utf8');
  } catch {
    return undefined;
  }
}

const NUMERIC = /^\d+$/;
const firstSegment = (rel: string) => rel.split('/')[0]!;

/** Whether the files (relative to some dir) are a store's checkpoints/ dir. */
function looksLikeCheckpointsDir(files: readonly StoredFile[]): boolean {
  return files.some((f) => f.rel === 'LATEST' || /^\d+\/MANIFEST\.json$/.test(f.rel));
}

/**
 * Lists <target> once and parses it. `client` is made on demand for s3:// targets. A local target
 * that is missing, or a file, is an ExitError.
 */
export async function readCheckpointSet(ctx: CommandContext, target: string): Promise<CheckpointSet> {
  let all: StoredFile[];
  let base: Base;
  if (isS3Uri(target)) {
    const loc = s3Location(target);
    const client = s3Client(ctx);
    const prefix = dirPrefix(loc.key);
    all = [];
    for await (const o of listObjects(client, { bucket: loc.bucket, key: prefix }, { parallel: 8 })) {
      const rel = o.key.slice(prefix.length);
      if (rel && !rel.endsWith('/')) all.push({ rel, size: o.size, modifiedMs: o.lastModified.getTime() });
    }
    all.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    base = { kind: 's3', client, bucket: loc.bucket, prefix };
  } else {
    const p = existingPath(ctx, target);
    if (!p.stat.isDirectory()) throw new ExitError(`${target} is a file, not a directory of checkpoints`, 1, `for one checkpoint file use \`trainctl checkpoint info ${target}\``);
    all = await walk(p.path);
    base = { kind: 'local', dir: p.path };
  }

  // a trial's directory, or its checkpoints/ dir
  const under = all.filter((f) => f.rel.startsWith('checkpoints/')).map((f) => ({ ...f, rel: f.rel.slice('checkpoints/'.length) }));
  let layout: 'store' | 'files' = 'files';
  let files = all;
  let trialPath: string | undefined;
  if (looksLikeCheckpointsDir(under)) {
    layout = 'store';
    files = under;
    trialPath = base.kind === 'local' ? base.dir : base.prefix;
    base = base.kind === 'local' ? { kind: 'local', dir: join(base.dir, 'checkpoints') } : { ...base, prefix: `${base.prefix}checkpoints/` };
  } else if (looksLikeCheckpointsDir(all)) {
    layout = 'store';
    // only a dir named checkpoints/ sits where the store looks for it; a copy elsewhere is handled as files
    const named = base.kind === 'local' ? basename(base.dir) === 'checkpoints' : base.prefix.endsWith('checkpoints/') && (base.prefix === 'checkpoints/' || base.prefix.endsWith('/checkpoints/'));
    if (named) trialPath = base.kind === 'local' ? dirname(base.dir) : base.prefix.slice(0, -'checkpoints/'.length);
  }

  const entries: CheckpointEntry[] = [];
  const ignored: string[] = [];
  const groups = new Map<number, { parts: Set<string>; files: StoredFile[] }>();
  for (const f of files) {
    const seg = firstSegment(f.rel);
    if (seg.startsWith('.')) continue; // temp files of atomic writes
    const isDir = f.rel.includes('/');
    const step = layout === 'store' ? (isDir && NUMERIC.test(seg) ? Number(seg) : undefined) : stepFromPath(seg);
    if (step === undefined) {
      if (!ignored.includes(seg) && !(layout === 'store' && seg === 'LATEST')) ignored.push(seg);
      continue;
    }
    const g = groups.get(step) ?? { parts: new Set<string>(), files: [] };
    g.parts.add(seg);
    g.files.push(f);
    groups.set(step, g);
  }
  const latestText = layout === 'store' ? (await readBaseText(base, 'LATEST'))?.trim() : undefined;
  const latest = latestText && NUMERIC.test(latestText) ? Number(latestText) : undefined;
  await Promise.all([...groups].map(async ([step, g]) => {
    const parts = [...g.parts].sort();
    const onlyDir = parts.length === 1 && g.files.every((f) => f.rel.startsWith(`${parts[0]}/`));
    const manifestRel = onlyDir ? `${parts[0]}/MANIFEST.json` : undefined;
    const hasManifest = manifestRel !== undefined && g.files.some((f) => f.rel === manifestRel);
    const manifest = hasManifest ? parseManifest(await readBaseText(base, manifestRel!)) : undefined;
    const stored = g.files.reduce((s, f) => s + f.size, 0);
    entries.push({
      name: parts.length === 1 ? parts[0]! : `${parts[0]} (+${parts.length - 1})`,
      step,
      files: g.files,
      parts,
      size: manifest ? manifest.files.reduce((s, f) => s + f.size, 0) : stored,
      modifiedMs: Math.max(...g.files.map((f) => f.modifiedMs)),
      ...(layout === 'store' || hasManifest ? { complete: manifest !== undefined } : {}),
      ...(manifest ? { manifest } : {}),
      ...(hasManifest && !manifest ? { manifestDamaged: true } : {}),
      ...(latest === step ? { latest: true } : {}),
    });
  }));
  entries.sort((a, b) => a.step! - b.step!);

  const set: CheckpointSet = { shown: target, layout, base, entries, ignored, all, ...(latest !== undefined ? { latest } : {}) };
  if (layout === 'store' && trialPath !== undefined) {
    const store = storeOf(base, trialPath);
    if (store) set.store = store;
  }
  return set;
}

/** The output store and trial a trial directory belongs to: <root>/<project>/<job>/<trial>. */
function storeOf(base: Base, trialPath: string): { uri: string; ref: TrialRef } | undefined {
  if (base.kind === 'local') {
    const trial = basename(trialPath);
    const job = basename(dirname(trialPath));
    const project = basename(dirname(dirname(trialPath)));
    const root = dirname(dirname(dirname(trialPath)));
    if (!trial || !job || !project || root === dirname(trialPath)) return undefined;
    return { uri: pathToFileURL(root).href, ref: { project, job, trial } };
  }
  const segs = trialPath.split('/').filter(Boolean);
  if (segs.length < 3) return undefined;
  const [project, job, trial] = segs.slice(-3) as [string, string, string];
  const root = segs.slice(0, -3).join('/');
  return { uri: `s3://${base.bucket}/${root ? `${root}/` : ''}`, ref: { project, job, trial } };
}

/** The run store at `uri`, as the engine opens it; with --endpoint-url, an S3 store on that endpoint. */
export async function openStore(ctx: CommandContext, uri: string): Promise<RunStore> {
  const endpoint = ctx.values['endpoint-url'] as string | undefined;
  if (uri.startsWith('s3://') && endpoint) {
    const { S3Store } = await import('../store/s3.js');
    return new S3Store(uri, s3Client(ctx), { endpoint });
  }
  const store = await openRunStore(uri);
  // checked by type, not by `'error' in`: a store object may have a method of that name
  if (typeof (store as { error?: unknown }).error === 'string') {
    const failed = store as { error: string; hint?: string };
    throw new ExitError(failed.error, 1, failed.hint);
  }
  return store as RunStore;
}

export const setText = (set: CheckpointSet): string => (set.base.kind === 's3' ? formatS3Uri({ bucket: set.base.bucket, key: set.base.prefix }) : set.base.dir);
