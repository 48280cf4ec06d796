// The file:// store. Layout: <root>/<project>/<job>/<trial>/{spec.json, attempts/<n>/status.json,
// result.json, checkpoints/LATEST, checkpoints/<step>/MANIFEST.json}. Every file that is replaced
// is written to a temp name and renamed, so a reader never sees half a record.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseMetricPoint } from '../core/metrics.js';
import type { AttemptRecord, TrialRecord } from '../core/observed.js';
import {
  CheckpointError, type CheckpointManifest, type MetricPoint, type RunStore, type TrialRef, type TrialResult, type TrialSpecRecord,
} from './store.js';

export class FileStore implements RunStore {
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

  async putCheckpoint(ref: TrialRef, step: number, attempt: number, localDir: string, files: readonly string[]): Promise<CheckpointManifest> {
    const dir = this.checkpointDir(ref, step);
    for (const f of files) if (!isSafeRelative(f)) throw new CheckpointError(`refusing checkpoint file path ${JSON.stringify(f)}: not inside the checkpoint dir`);
    await mkdir(dir, { recursive: true });
    // re-putting a step: it stops being complete until its new MANIFEST lands
    await rm(join(dir, 'MANIFEST.json'), { force: true });
    const entries: CheckpointManifest['files'] = [];
    for (const f of files) {
      const dest = join(dir, f);
      await mkdir(dirname(dest), { recursive: true });
      const tmp = tempName(dest);
      const { size, sha256 } = await copyHashing(join(localDir, f), tmp);
      await rename(tmp, dest);
      entries.push({ path: f, size, sha256 });
    }
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
    // MANIFEST first: a checkpoint half-deleted by a crash is then merely incomplete
    await rm(join(dir, 'MANIFEST.json'), { force: true });
    await rm(dir, { recursive: true, force: true });
    const latestPath = join(this.trialDir(ref), 'checkpoints', 'LATEST');
    if (readText(latestPath) !== String(step)) return;
    const remaining = await this.listCheckpoints(ref);
    const newest = remaining.at(-1);
    if (newest === undefined) await rm(latestPath, { force: true });
    else await writeAtomic(latestPath, `${newest}\n`);
  }

  async fetchCheckpoint(ref: TrialRef, step: number, destDir: string): Promise<CheckpointManifest> {
    const dir = this.checkpointDir(ref, step);
    const manifest = readManifest(dir);
    if (!manifest) throw new CheckpointError(`checkpoint ${step} of ${ref.trial} is incomplete: no valid MANIFEST.json`);
    const root = resolve(destDir);
    for (const f of manifest.files) {
      const target = resolve(root, f.path);
      if (!isSafeRelative(f.path) || !target.startsWith(root + sep)) {
        throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: refusing manifest path ${JSON.stringify(f.path)}`);
      }
    }
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
          got = await copyHashing(join(dir, f.path), tmp);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path} is missing`);
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

  private trialDir(ref: TrialRef): string {
    for (const part of [ref.project, ref.job, ref.trial]) {
      if (!part || part === '.' || part === '..' || /[/\\\0]/.test(part)) throw new Error(`bug: invalid store path component ${JSON.stringify(part)}`);
    }
    return join(this.root, ref.project, ref.job, ref.trial);
  }

  private checkpointDir(ref: TrialRef, step: number): string {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`bug: invalid checkpoint step ${step}`);
    return join(this.trialDir(ref), 'checkpoints', String(step));
  }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

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

/** Streams src to dest, hashing the bytes written, so the digest describes the copy exactly. */
async function copyHashing(src: string, dest: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    createReadStream(src),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(dest, { flush: true }),
  );
  return { size, sha256: hash.digest('hex') };
}

/** Relative, '/'-separated, and never climbing out: what a manifest may name. */
function isSafeRelative(path: string): boolean {
  if (!path || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

function readManifest(dir: string): CheckpointManifest | undefined {
  const m = readJson<CheckpointManifest>(join(dir, 'MANIFEST.json'));
  if (!m || !Array.isArray(m.files)) return undefined;
  const wellFormed = m.files.every((f) => f && typeof f.path === 'string' && typeof f.size === 'number' && typeof f.sha256 === 'string');
  return wellFormed ? m : undefined;
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

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
