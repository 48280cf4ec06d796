// The file:// store. Layout: <root>/<project>/<job>/<trial>/{spec.json, attempts/<n>/status.json,
// result.json, checkpoints/LATEST, checkpoints/<step>/MANIFEST.json}. Every file that is replaced
// is written to a temp name and renamed, so a reader never sees half a record.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapBounded } from '../core/bounded.js';
import { parseMetricPoint } from '../core/metrics.js';
import type { AttemptRecord, TrialRecord } from '../core/observed.js';
import { parseLease, type LeaseRecord, type LeaseStore } from './lock.js';
import { assertManifestSafe, checkpointGarbage, copyDecodingHashing, homeStep, isSafeObject, isSafeRelative, objectOf, parseManifest } from './manifest.js';
import {
  CheckpointError, checkComponents, recordJson as json, type CheckpointManifest, type MetricPoint, type PutCheckpointOptions, type RunStore, type TrialRef, type TrialResult, type TrialSpecRecord,
} from './store.js';

export class FileStore implements RunStore, LeaseStore {
  readonly root: string;
  constructor(readonly uri: string) {
    this.root = fileURLToPath(uri);
  }

  async readRecords(project: string): Promise<TrialRecord[]> {
    const out: TrialRecord[] = [];
    const projectDir = join(this.root, project);
    for (const job of dirs(projectDir)) {
      for (const trial of dirs(join(projectDir, job))) {
        const rec = readTrial(join(projectDir, job, trial), project, job, trial);
        if (rec) out.push(rec);
      }
    }
    return out;
  }

  async readTrial(ref: TrialRef): Promise<TrialRecord | undefined> {
    return readTrial(this.trialDir(ref), ref.project, ref.job, ref.trial);
  }

  async claimAttempt(ref: TrialRef, attempt: number, rank: number, holder: string): Promise<boolean> {
    const dir = join(this.trialDir(ref), 'attempts', String(attempt));
    await mkdir(dir, { recursive: true });
    try {
      await writeFile(join(dir, `claim-rank${rank}`), `${holder}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async noteInterruption(ref: TrialRef, attempt: number, rank: number): Promise<void> {
    const dir = join(this.trialDir(ref), 'attempts', String(attempt));
    await mkdir(dir, { recursive: true });
    await writeAtomic(join(dir, `interrupt-rank${rank}`), `${new Date().toISOString()}\n`);
  }

  async interruptedRanks(ref: TrialRef, attempt: number): Promise<number[]> {
    const names = await readdir(join(this.trialDir(ref), 'attempts', String(attempt))).catch(() => [] as string[]);
    return names.flatMap((n) => /^interrupt-rank(\d+)$/.exec(n)?.[1] ?? []).map(Number).sort((a, b) => a - b);
  }

  async writeSpec(ref: TrialRef, spec: TrialSpecRecord): Promise<void> {
    await writeAtomic(join(this.trialDir(ref), 'spec.json'), json(spec));
  }

  async writeStatus(ref: TrialRef, status: AttemptRecord & Record<string, unknown>): Promise<void> {
    await writeAtomic(join(this.trialDir(ref), 'attempts', String(status.n), 'status.json'), json(status));
  }

  async writeResult(ref: TrialRef, result: TrialResult): Promise<void> {
    await writeAtomic(join(this.trialDir(ref), 'result.json'), json(result));
  }

  async appendMetrics(ref: TrialRef, jsonLines: string): Promise<void> {
    const dir = this.trialDir(ref);
    await mkdir(dir, { recursive: true });
    await appendFile(join(dir, 'metrics.jsonl'), jsonLines);
  }

  async readMetrics(ref: TrialRef): Promise<MetricPoint[]> {
    let text: string;
    try {
      text = await readFile(join(this.trialDir(ref), 'metrics.jsonl'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return text.split('\n').flatMap((line) => parseMetricPoint(line) ?? []);
  }

  async appendLog(ref: TrialRef, attempt: number, rank: number, chunk: string | Uint8Array): Promise<void> {
    const dir = join(this.trialDir(ref), 'attempts', String(attempt), 'logs');
    await mkdir(dir, { recursive: true });
    await appendFile(join(dir, `${rank}.log`), chunk);
  }

  async readLog(ref: TrialRef, attempt: number, rank: number, fromOffset = 0): Promise<Buffer | undefined> {
    const path = join(this.trialDir(ref), 'attempts', String(attempt), 'logs', `${rank}.log`);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const { size } = await fh.stat();
      const start = Math.min(Math.max(0, fromOffset), size);
      const buf = Buffer.alloc(size - start);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  /** Copies the files as they are: `compress` saves upload bandwidth, which a local copy does not use. */
  async putCheckpoint(ref: TrialRef, step: number, attempt: number, localDir: string, files: readonly string[], _opts?: PutCheckpointOptions): Promise<CheckpointManifest> {
    const dir = this.checkpointDir(ref, step);
    for (const f of files) if (!isSafeRelative(f)) throw new CheckpointError(`refusing checkpoint file path ${JSON.stringify(f)}: not inside the checkpoint dir`);
    await mkdir(dir, { recursive: true });
    // re-putting a step: it stops being complete until its new MANIFEST lands
    await rm(join(dir, 'MANIFEST.json'), { force: true });
    // a few files at a time: one file's fsync overlaps the others' copying and hashing
    const entries: CheckpointManifest['files'] = await mapBounded(files, PARALLEL_COPIES, async (f) => {
      const dest = join(dir, f);
      await mkdir(dirname(dest), { recursive: true });
      const tmp = tempName(dest);
      const { size, sha256 } = await copyHashing(join(localDir, f), tmp);
      await rename(tmp, dest);
      return { path: f, size, sha256 };
    });
    const manifest: CheckpointManifest = { step, createdAt: new Date().toISOString(), attempt, files: entries };
    await writeAtomic(join(dir, 'MANIFEST.json'), json(manifest));
    await writeAtomic(join(this.trialDir(ref), 'checkpoints', 'LATEST'), `${step}\n`);
    return manifest;
  }

  async listCheckpoints(ref: TrialRef): Promise<number[]> {
    const dir = join(this.trialDir(ref), 'checkpoints');
    return dirs(dir)
      .filter((name) => /^\d+$/.test(name) && readManifest(join(dir, name)) !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  async deleteCheckpoint(ref: TrialRef, step: number): Promise<void> {
    const dir = this.checkpointDir(ref, step);
    const deleted = readManifest(dir);
    // MANIFEST first: a checkpoint half-deleted by a crash is then merely incomplete
    await rm(join(dir, 'MANIFEST.json'), { force: true });
    const checkpointsDir = join(this.trialDir(ref), 'checkpoints');
    const remaining = dirs(checkpointsDir).filter((n) => /^\d+$/.test(n) && Number(n) !== step).flatMap((n) => readManifest(join(checkpointsDir, n)) ?? []);
    const referenced = (m: CheckpointManifest) => m.files.some((f) => f.object !== undefined);
    if (!remaining.some(referenced) && !(deleted && referenced(deleted))) {
      await rm(dir, { recursive: true, force: true });
    } else {
      // another checkpoint stores some files as references into this one (or this one into others)
      const under = filesUnder(dir).map((rel) => `checkpoints/${step}/${rel}`);
      const garbage = checkpointGarbage(step, deleted, remaining, under).filter(isSafeObject);
      for (const key of garbage) await rm(join(this.trialDir(ref), ...key.split('/')), { force: true });
      // directories left with no file (this one, or an earlier one whose last kept file just went)
      for (const home of new Set([step, ...garbage.map(homeStep)])) {
        const d = join(checkpointsDir, String(home));
        if (home !== undefined && existsSync(d) && filesUnder(d).length === 0) await rm(d, { recursive: true, force: true });
      }
    }
    const latestPath = join(checkpointsDir, 'LATEST');
    if (readText(latestPath) !== String(step)) return;
    const rest = await this.listCheckpoints(ref);
    const newest = rest.at(-1);
    if (newest === undefined) await rm(latestPath, { force: true });
    else await writeAtomic(latestPath, `${newest}\n`);
  }

  async fetchCheckpoint(ref: TrialRef, step: number, destDir: string): Promise<CheckpointManifest> {
    const dir = this.checkpointDir(ref, step);
    const manifest = readManifest(dir);
    if (!manifest) throw new CheckpointError(`checkpoint ${step} of ${ref.trial} is incomplete: no valid MANIFEST.json`);
    assertManifestSafe(manifest, ref, step, destDir);
    const root = resolve(destDir);
    // every file is copied and verified before any replaces what destDir holds
    const staged: { tmp: string; dest: string }[] = [];
    try {
      for (const f of manifest.files) {
        const dest = join(root, f.path);
        await mkdir(dirname(dest), { recursive: true });
        const tmp = tempName(dest);
        staged.push({ tmp, dest });
        let got: { size: number; sha256: string };
        try {
          got = await copyDecodingHashing(join(this.trialDir(ref), ...objectOf(step, f).split('/')), tmp, f.encoding);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path} is missing`);
          if (err instanceof CheckpointError) throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path}: ${err.message}`);
          throw err;
        }
        if (got.size !== f.size || got.sha256 !== f.sha256) {
          throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path} does not match its MANIFEST (sha256 ${got.sha256.slice(0, 12)}…, expected ${f.sha256.slice(0, 12)}…)`);
        }
      }
      for (const s of staged) await rename(s.tmp, s.dest);
    } catch (err) {
      await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
      throw err;
    }
    return manifest;
  }

  async readLease(project: string): Promise<{ lease: LeaseRecord; version: string } | undefined> {
    const text = readText(this.leasePath(project), false);
    if (text === undefined) return undefined;
    return { lease: parseLease(text) ?? DAMAGED_LEASE, version: digest(text) };
  }

  async createLease(project: string, lease: LeaseRecord): Promise<string | undefined> {
    const path = this.leasePath(project);
    const text = json(lease);
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempName(path);
    await writeFile(tmp, text, { flush: true });
    try {
      // link(2) is an exclusive create of a file that is complete from its first moment
      await link(tmp, path);
      return digest(text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async replaceLease(project: string, version: string, lease: LeaseRecord): Promise<string | undefined> {
    const path = this.leasePath(project);
    const guard = `${path}.cas`;
    if (!(await takeGuard(guard))) return undefined;
    try {
      const text = readText(path, false);
      if (text === undefined || digest(text) !== version) return undefined;
      const next = json(lease);
      await writeAtomic(path, next);
      return digest(next);
    } finally {
      await rm(guard, { force: true });
    }
  }

  private leasePath(project: string): string {
    checkComponents([project]);
    return join(this.root, project, '.lock');
  }

  private trialDir(ref: TrialRef): string {
    checkComponents([ref.project, ref.job, ref.trial]);
    return join(this.root, ref.project, ref.job, ref.trial);
  }

  private checkpointDir(ref: TrialRef, step: number): string {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`bug: invalid checkpoint step ${step}`);
    return join(this.trialDir(ref), 'checkpoints', String(step));
  }
}


let tempSeq = 0;
/** A sibling name no reader looks at (dot-prefixed, never `.json`) and no other writer uses. */
function tempName(path: string): string {
  return join(dirname(path), `.${relative(dirname(path), path)}.tmp-${process.pid}-${++tempSeq}`);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Checkpoint files putCheckpoint copies at once. */
const PARALLEL_COPIES = 4;
const COPY_CHUNK = 1024 * 1024;

/**
 * Copies src to dest and fsyncs it, hashing the bytes written, so the digest describes the copy
 * exactly. Two reused 1 MiB buffers: the next chunk is read while the current one is hashed and
 * written (a stream pipeline allocates, and page-faults in, a fresh buffer for every chunk).
 */
async function copyHashing(src: string, dest: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const buffers = [Buffer.allocUnsafe(COPY_CHUNK), Buffer.allocUnsafe(COPY_CHUNK)] as const;
  const input = await open(src, 'r');
  let reading: Promise<{ bytesRead: number }> | undefined;
  try {
    const output = await open(dest, 'w');
    try {
      let current = 0;
      reading = input.read(buffers[0], 0, COPY_CHUNK, null);
      for (;;) {
        const { bytesRead } = await reading;
        reading = undefined;
        if (bytesRead === 0) break;
        const chunk = buffers[current]!.subarray(0, bytesRead);
        current = 1 - current;
        reading = input.read(buffers[current]!, 0, COPY_CHUNK, null);
        hash.update(chunk);
        size += bytesRead;
        for (let done = 0; done < bytesRead;) done += (await output.write(chunk, done, bytesRead - done)).bytesWritten;
      }
      await output.sync();
    } finally {
      await output.close();
    }
  } finally {
    // a read still under way when writing failed must settle before its file closes
    await reading?.catch(() => undefined);
    await input.close();
  }
  return { size, sha256: hash.digest('hex') };
}


function readManifest(dir: string): CheckpointManifest | undefined {
  return parseManifest(readText(join(dir, 'MANIFEST.json'), false));
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** A `.lock` that is not a lease (damaged by hand): free, so the next acquire replaces it. */
const DAMAGED_LEASE: LeaseRecord = { holder: 'a damaged lease', token: '', acquiredAt: new Date(0).toISOString(), expiresAt: new Date(0).toISOString() };

/** A guard held for the few milliseconds of a compare-and-swap; one left by a crash is taken after 10 s. */
async function takeGuard(path: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > 10_000) await unlink(path).catch(() => {});
    else await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Files under a directory, '/'-separated and relative to it; none when it is missing. */
function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true }) as string[])
      .filter((p) => statSync(join(dir, p)).isFile())
      .map((p) => p.split(sep).join('/'));
  } catch {
    return [];
  }
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function readTrial(dir: string, project: string, job: string, trial: string): TrialRecord | undefined {
  const spec = readJson<{ specHash?: string }>(join(dir, 'spec.json'));
  if (!spec?.specHash) return undefined;
  const attempts: AttemptRecord[] = [];
  for (const n of dirs(join(dir, 'attempts'))) {
    const a = readJson<AttemptRecord>(join(dir, 'attempts', n, 'status.json'));
    if (a && Number.isInteger(a.n)) attempts.push({ ...a, costUSD: a.costUSD ?? 0 });
  }
  attempts.sort((a, b) => a.n - b.n);
  const rec: TrialRecord = { project, job, trial, specHash: spec.specHash, attempts };
  const result = readJson<TrialRecord['result']>(join(dir, 'result.json'));
  if (result?.state) rec.result = result;
  const latest = readText(join(dir, 'checkpoints', 'LATEST'));
  // a checkpoint counts only with its MANIFEST, which is written last
  if (latest && existsSync(join(dir, 'checkpoints', latest, 'MANIFEST.json'))) rec.checkpoint = { step: Number(latest) };
  return rec;
}

function readText(path: string, trim = true): string | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    return trim ? text.trim() || undefined : text;
  } catch {
    return undefined;
  }
}
