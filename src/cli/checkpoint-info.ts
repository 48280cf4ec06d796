// `trainctl checkpoint info <path|s3uri>`: one checkpoint's step, files, sizes and manifest, every
// file checked against MANIFEST.json by size and sha256 (a store's checkpoint is restored through
// the store into a temp dir, which also follows references to earlier checkpoints and undoes
// compression), and what torch says is inside.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { ExitError } from '../core/errors.js';
import { formatBytes } from '../render/bytes.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { stepFromPath } from '../runner/checkpoints.js';
import { parseManifest } from '../store/manifest.js';
import { CheckpointError, type CheckpointManifest } from '../store/store.js';
import { downloadObject, downloadTree, headObject, localPathFor } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { baseText, openStore, readCheckpointSet, readS3Text, type CheckpointEntry, type CheckpointSet } from './checkpoint-source.js';
import { outputFormat } from './shared.js';
import { existingPath, isS3Uri, positionals, s3Client, s3Location } from './s3-shared.js';
import { inspectTorch, TORCH_MAX_BYTES, TORCH_SUFFIXES, type TorchInspection } from './torch-inspect.js';

export type FileStatus = 'verified' | 'size-mismatch' | 'sha256-mismatch' | 'missing' | 'not-in-manifest' | 'unverified';

export interface InfoFile { path: string; size: number; sha256?: string; status: FileStatus }

export interface CheckpointInfo {
  location: string;
  step?: number;
  latest?: boolean;
  manifest: { status: 'complete' | 'missing' | 'damaged' | 'none'; createdAt?: string; attempt?: number };
  files: InfoFile[];
  totalBytes: number;
  /** false when a file does not match the manifest (or the store refused the checkpoint). */
  verified: boolean;
  problem?: string;
  torch?: TorchInspection;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/** Files of a local directory (relative, '/'-separated), MANIFEST.json left out. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) visit(full);
      else if (e.isFile() && !e.name.startsWith('.')) out.push(relative(dir, full).split('\\').join('/'));
    }
  };
  visit(dir);
  return out.filter((f) => f !== 'MANIFEST.json').sort();
}

/** Checks the files of `dir` against `manifest` in place (sha256 of each file as it is); `only` limits which. */
async function verifyInPlace(dir: string, manifest: CheckpointManifest | undefined, only?: ReadonlySet<string>): Promise<InfoFile[]> {
  const wanted = (rel: string) => !only || only.has(rel);
  const present = filesUnder(dir).filter(wanted);
  const out: InfoFile[] = [];
  const listed = new Set<string>();
  for (const f of (manifest?.files ?? []).filter((x) => wanted(x.path))) {
    listed.add(f.path);
    const p = join(dir, ...f.path.split('/'));
    if (f.object !== undefined || f.encoding !== undefined) {
      out.push({ path: f.path, size: f.size, sha256: f.sha256, status: 'unverified' });
      continue;
    }
    if (!existsSync(p)) {
      out.push({ path: f.path, size: f.size, sha256: f.sha256, status: 'missing' });
      continue;
    }
    const size = statSync(p).size;
    const digest = size === f.size ? await sha256(p) : undefined;
    out.push({ path: f.path, size, ...(digest ? { sha256: digest } : {}), status: size !== f.size ? 'size-mismatch' : digest !== f.sha256 ? 'sha256-mismatch' : 'verified' });
  }
  for (const rel of present) {
    if (listed.has(rel)) continue;
    const p = join(dir, ...rel.split('/'));
    out.push({ path: rel, size: statSync(p).size, sha256: await sha256(p), status: manifest ? 'not-in-manifest' : 'unverified' });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

const BAD: ReadonlySet<FileStatus> = new Set(['size-mismatch', 'sha256-mismatch', 'missing']);

function manifestStatus(dir: string): { manifest?: CheckpointManifest; status: CheckpointInfo['manifest']['status'] } {
  const path = join(dir, 'MANIFEST.json');
  if (!existsSync(path)) return { status: 'missing' };
  const manifest = parseManifest(readFileSync(path, 'utf8'));
  return manifest ? { manifest, status: 'complete' } : { status: 'damaged' };
}

function manifestFields(m: CheckpointManifest | undefined, status: CheckpointInfo['manifest']['status']): CheckpointInfo['manifest'] {
  return { status, ...(m?.createdAt ? { createdAt: m.createdAt } : {}), ...(m?.attempt !== undefined ? { attempt: m.attempt } : {}) };
}

/** Torch on the files that look like torch checkpoints, with paths reported relative to root. */
async function torchOf(ctx: CommandContext, root: string, files: readonly InfoFile[]): Promise<TorchInspection | undefined> {
  const candidates = files.filter((f) => TORCH_SUFFIXES.test(f.path) && f.status !== 'missing' && existsSync(join(root, ...f.path.split('/'))));
  if (candidates.length === 0) return undefined;
  const small = candidates.filter((f) => f.size <= TORCH_MAX_BYTES);
  const result = await inspectTorch(small.map((f) => join(root, ...f.path.split('/'))), ctx.env);
  if (!result.available) return result;
  const files2 = result.files.map((t) => ({ ...t, path: relative(root, t.path).split('\\').join('/') }));
  for (const f of candidates) if (f.size > TORCH_MAX_BYTES) files2.push({ path: f.path, error: `not loaded: larger than ${formatBytes(TORCH_MAX_BYTES)}` });
  return { available: true, files: files2 };
}

/** A store checkpoint: restored and verified by the store into a temp dir, then inspected there. */
async function storeCheckpointInfo(ctx: CommandContext, set: CheckpointSet, entry: CheckpointEntry): Promise<CheckpointInfo> {
  const location = baseText(set.base, String(entry.step));
  const info = (files: InfoFile[], rest: Partial<CheckpointInfo>): CheckpointInfo => ({
    location, step: entry.step!, ...(entry.latest ? { latest: true } : {}), manifest: manifestFields(entry.manifest, entry.manifest ? 'complete' : entry.manifestDamaged ? 'damaged' : 'missing'),
    files, totalBytes: files.reduce((s, f) => s + f.size, 0), verified: true, ...rest,
  });
  if (!entry.manifest || !set.store) {
    // nothing to verify against (incomplete), or not where the store would find it: look at the files as stored
    return withLocalCopy(ctx, set, entry, async (dir) => {
      const { manifest, status } = manifestStatus(dir);
      const files = await verifyInPlace(dir, manifest);
      const bad = files.filter((f) => BAD.has(f.status));
      return { ...info(files, {}), manifest: manifestFields(manifest, status), verified: bad.length === 0, ...(bad.length ? { problem: `${bad.map((f) => `${f.path}: ${f.status}`).join(', ')}` } : {}), torch: await torchOf(ctx, dir, files) };
    });
  }
  const store = await openStore(ctx, set.store.uri);
  const tmp = await mkdtemp(join(tmpdir(), 'trainctl-ckpt-'));
  try {
    const manifest = entry.manifest;
    try {
      await store.fetchCheckpoint(set.store.ref, entry.step!, tmp);
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      // the store says no; a local checkpoint can also say which file is wrong
      const files = set.base.kind === 'local'
        ? await verifyInPlace(join(set.base.dir, String(entry.step)), manifest)
        : manifest.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, status: 'unverified' as const }));
      return info(files, { verified: false, problem: err.message.replace(/^checkpoint \d+ of [^:]+: /, '') });
    }
    const files: InfoFile[] = manifest.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, status: 'verified' }));
    return info(files, { torch: await torchOf(ctx, tmp, files) });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs fn on a local directory holding the entry's files: the directory itself, or a download. */
async function withLocalCopy<T>(ctx: CommandContext, set: CheckpointSet, entry: CheckpointEntry, fn: (dir: string) => Promise<T>): Promise<T> {
  const root = entry.parts.length === 1 && entry.files.every((f) => f.rel.startsWith(`${entry.parts[0]}/`)) ? entry.parts[0]! : undefined;
  if (set.base.kind === 'local') return fn(root ? join(set.base.dir, root) : set.base.dir);
  const tmp = await mkdtemp(join(tmpdir(), 'trainctl-ckpt-'));
  try {
    const { client, bucket, prefix } = set.base;
    if (root) await downloadTree(client, { bucket, key: prefix + root }, tmp);
    else {
      for (const f of entry.files) {
        // a listed key is not trusted to stay inside the temp dir
        const to = localPathFor(tmp, f.rel);
        if ('error' in to) throw new ExitError(`s3://${bucket}/${prefix}${f.rel}: ${to.error}`, 1, 'keys with "..", absolute paths or backslashes are never written');
        await downloadObject(client, { bucket, key: prefix + f.rel }, to.path);
      }
    }
    return await fn(tmp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A checkpoint given as a plain file (or a group of files sharing a step): sizes, sha256, torch. */
async function fileInfo(ctx: CommandContext, dir: string, rels: readonly string[], location: string, step: number | undefined): Promise<CheckpointInfo> {
  // a file inside a checkpoint dir is checked against that dir's manifest
  const { manifest, status } = rels.length === 1 && existsSync(join(dir, 'MANIFEST.json')) ? manifestStatus(dir) : { manifest: undefined, status: 'none' as const };
  const files = await verifyInPlace(dir, manifest, new Set(rels));
  const bad = files.filter((f) => BAD.has(f.status));
  return {
    location, ...(step !== undefined ? { step } : {}), manifest: manifestFields(manifest, status), files,
    totalBytes: files.reduce((s, f) => s + f.size, 0), verified: bad.length === 0,
    ...(bad.length ? { problem: bad.map((f) => `${f.path}: ${f.status}`).join(', ') } : {}), torch: await torchOf(ctx, dir, files),
  };
}

/** The entry `info` shows for a set: LATEST, else the newest complete, else the newest. */
function chosenEntry(set: CheckpointSet): CheckpointEntry {
  const e = set.entries.find((x) => x.latest) ?? [...set.entries].reverse().find((x) => x.complete) ?? set.entries.at(-1);
  if (!e) throw new ExitError(`no checkpoints in ${set.shown}`, 1, 'see `trainctl checkpoint list`');
  return e;
}

/** One checkpoint directory that is not (or not found as) a store checkpoint: checked in place. */
async function dirInfo(ctx: CommandContext, dir: string, location: string, step: number | undefined): Promise<CheckpointInfo> {
  const { manifest, status } = manifestStatus(dir);
  const files = await verifyInPlace(dir, manifest);
  const bad = files.filter((f) => BAD.has(f.status));
  return {
    location, ...(step !== undefined ? { step } : {}),
    // a numbered dir is a store checkpoint whose manifest is missing; any other dir simply has none
    manifest: manifestFields(manifest, status === 'missing' && step === undefined ? 'none' : status),
    files, totalBytes: files.reduce((s, f) => s + f.size, 0), verified: bad.length === 0,
    ...(bad.length ? { problem: bad.map((f) => `${f.path}: ${f.status}`).join(', ') } : {}), torch: await torchOf(ctx, dir, files),
  };
}

async function infoForSet(ctx: CommandContext, set: CheckpointSet): Promise<CheckpointInfo> {
  const entry = chosenEntry(set);
  if (set.layout === 'store') return storeCheckpointInfo(ctx, set, entry);
  const location = baseText(set.base, entry.name);
  const isDir = entry.parts.length === 1 && entry.files.every((f) => f.rel.startsWith(`${entry.parts[0]}/`));
  return withLocalCopy(ctx, set, entry, (dir) => (isDir ? dirInfo(ctx, dir, location, entry.step) : fileInfo(ctx, dir, entry.files.map((f) => f.rel), location, entry.step)));
}

async function locate(ctx: CommandContext, target: string): Promise<CheckpointInfo> {
  if (isS3Uri(target)) {
    const loc = s3Location(target);
    if (loc.key && !loc.key.endsWith('/')) {
      const client = s3Client(ctx);
      const head = await headObject(client, loc);
      if (head) {
        const tmp = await mkdtemp(join(tmpdir(), 'trainctl-ckpt-'));
        try {
          const name = basename(loc.key);
          const to = localPathFor(tmp, name);
          if ('error' in to) throw new ExitError(`${target}: ${to.error}`, 1, 'name a checkpoint object or a prefix');
          await downloadObject(client, loc, to.path);
          // a file of a checkpoint directory is checked against that directory's manifest
          const manifest = await readS3Text(client, loc.bucket, `${dirname(loc.key)}/MANIFEST.json`);
          if (manifest !== undefined && name !== 'MANIFEST.json') writeFileSync(join(tmp, 'MANIFEST.json'), manifest);
          return await fileInfo(ctx, tmp, [name], target, stepFromPath(name) ?? stepOfDir(dirname(loc.key)));
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      }
    }
    return checkpointDirOrSet(ctx, target);
  }
  const p = existingPath(ctx, target);
  if (p.stat.isFile()) return fileInfo(ctx, dirname(p.path), [basename(p.path)], p.path, stepFromPath(basename(p.path)) ?? stepOfDir(dirname(p.path)));
  return checkpointDirOrSet(ctx, target);
}

const stepOfDir = (dir: string): number | undefined => (/^\d+$/.test(basename(dir)) ? Number(basename(dir)) : undefined);

/** A checkpoint directory itself (…/checkpoints/<step>, checkpoint-500/), or a set to pick one from. */
async function checkpointDirOrSet(ctx: CommandContext, target: string): Promise<CheckpointInfo> {
  const trimmed = target.replace(/\/+$/, '');
  const step = stepOfDir(trimmed);
  if (step !== undefined) {
    // read as its parent's entry, so that a store checkpoint is verified by the store
    const parent = isS3Uri(trimmed) ? trimmed.replace(/[^/]*$/, '') : dirname(resolve(ctx.cwd, trimmed));
    const parentSet = await readCheckpointSet(ctx, parent);
    const entry = parentSet.layout === 'store' ? parentSet.entries.find((e) => e.step === step) : undefined;
    if (entry) return storeCheckpointInfo(ctx, parentSet, entry);
  }
  const set = await readCheckpointSet(ctx, target);
  if (set.all.some((f) => f.rel === 'MANIFEST.json') || (set.entries.length === 0 && set.all.length > 0)) {
    const whole: CheckpointEntry = { name: '', files: set.all, parts: [], size: 0, modifiedMs: 0 };
    return withLocalCopy(ctx, set, whole, (dir) => dirInfo(ctx, dir, baseText(set.base), step ?? stepFromPath(basename(trimmed))));
  }
  return infoForSet(ctx, set);
}

export async function info(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [target] = positionals(ctx, ['path|s3uri'], 'trainctl checkpoint info <path|s3uri>');
  const result = await locate(ctx, target!);
  if (format === 'json') ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, ...result }, null, 2)}\n`);
  else ctx.stdout.write(renderInfo(result, palette(colorEnabled(ctx.stdout, ctx.env))));
  if (!result.verified) {
    ctx.stderr.write(`error: checkpoint ${result.step ?? ''} at ${result.location} does not match its MANIFEST.json: ${result.problem}\n`.replace('checkpoint  at', 'checkpoint at'));
    return 1;
  }
  return 0;
}

const STATUS_WORDS: Record<FileStatus, string> = {
  verified: 'verified', 'size-mismatch': 'SIZE MISMATCH', 'sha256-mismatch': 'SHA256 MISMATCH', missing: 'MISSING', 'not-in-manifest': 'not in manifest', unverified: '-',
};

export function renderInfo(i: CheckpointInfo, c: Palette): string {
  const out: string[] = [];
  out.push(c.bold(`Checkpoint${i.step !== undefined ? ` step ${i.step}` : ''}`) + ` — ${i.location}${i.latest ? ' (LATEST)' : ''}`);
  const m = i.manifest;
  const manifestText = m.status === 'complete' ? c.green(`complete${m.createdAt ? `, written ${m.createdAt}` : ''}${m.attempt !== undefined ? ` by attempt ${m.attempt}` : ''}`)
    : m.status === 'missing' ? c.yellow('missing — incomplete, never resumed from')
      : m.status === 'damaged' ? c.red('damaged — incomplete, never resumed from')
        : 'none (a plain checkpoint file)';
  out.push(`Manifest: ${manifestText}`);
  const color = (s: FileStatus) => (s === 'verified' ? c.green : BAD.has(s) ? c.red : c.dim);
  out.push(renderTable(i.files, [
    { header: 'PATH', value: (f) => f.path, max: 60 },
    { header: 'SIZE', value: (f) => formatBytes(f.size), align: 'right' },
    { header: 'SHA256', value: (f) => (f.sha256 ? f.sha256.slice(0, 16) : '-') },
    { header: 'STATUS', value: (f) => color(f.status)(STATUS_WORDS[f.status]) },
  ], { header: c.bold }).trimEnd());
  const summary = `${i.files.length} file${i.files.length === 1 ? '' : 's'}, ${formatBytes(i.totalBytes)}`;
  if (!i.verified) out.push(`${summary}; ${c.red(`does not match MANIFEST.json: ${i.problem}`)}`);
  else if (m.status === 'complete') out.push(`${summary}; every file matches MANIFEST.json (size and sha256).`);
  else out.push(`${summary}.`);
  const t = i.torch;
  if (t && !t.available) out.push('', c.dim(`Tensor keys not shown: ${t.reason}.`));
  for (const f of t && t.available ? t.files : []) {
    out.push('');
    if (f.error) {
      out.push(`${f.path}: ${c.yellow(`not read by torch: ${f.error}`)}`);
      continue;
    }
    const facts = [
      `torch ${f.type ?? 'object'}`,
      f.epoch !== undefined ? `epoch ${f.epoch}` : '',
      f.step !== undefined ? `step ${f.step}` : '',
      `${f.tensors ?? 0} tensor${f.tensors === 1 ? '' : 's'}`,
      `${(f.parameters ?? 0).toLocaleString('en-US')} values`,
    ].filter(Boolean);
    out.push(`${f.path}: ${facts.join(', ')}`);
    if (f.keys?.length) out.push(`  keys: ${f.keys.join(', ')}`);
    if (f.stateDict) {
      const sample = f.stateDict.sample.map((s) => `${s.name} [${s.shape.join(', ')}] ${s.dtype}`).join(', ');
      out.push(`  ${f.stateDict.key || 'state dict'}: ${f.stateDict.entries} entr${f.stateDict.entries === 1 ? 'y' : 'ies'} — ${sample}${f.stateDict.entries > f.stateDict.sample.length ? ', …' : ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}
