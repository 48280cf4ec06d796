// The file:// store. Layout: <root>/<project>/<job>/<trial>/{spec.json, attempts/<n>/status.json,
// result.json, checkpoints/LATEST, checkpoints/<step>/MANIFEST.json}.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttemptRecord, TrialRecord } from '../core/observed.js';
import type { RunStoreReader } from './store.js';

export class FileStore implements RunStoreReader {
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
