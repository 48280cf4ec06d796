// Shared test helpers: the real built CLI in a child process, temp dirs, store fixtures.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import type { AttemptRecord, TrialRecord } from '../src/core/observed.js';

export const repoRoot = resolve(import.meta.dirname, '..');
/** The built CLI; TRAINCTL_DIST_DIR (as for scripts/build.mjs) points at another build of it. */
export const distDir = resolve(repoRoot, process.env.TRAINCTL_DIST_DIR ?? 'dist');
export const binPath = join(distDir, 'bin.js');

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(process.execPath, [binPath, ...args], { cwd: opts.cwd ?? repoRoot, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

// Registered once per test file (this module is evaluated per file), so dirs made inside a test
// are removed too: an afterAll registered from within a running test would never run.
const madeDirs: string[] = [];
afterAll(() => {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir removed after the test file finishes. */
export function tempDir(prefix = 'trainctl-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

/** Writes a trial's records into a file:// store rooted at `root`, in the layout of DESIGN §4. */
export function writeTrialRecord(root: string, rec: Omit<TrialRecord, 'attempts'> & { attempts: Partial<AttemptRecord>[] }): void {
  const dir = join(root, rec.project, rec.job, rec.trial);
  writeFiles(dir, { 'spec.json': JSON.stringify({ trial: rec.trial, job: rec.job, project: rec.project, specHash: rec.specHash }) });
  for (const a of rec.attempts) {
    const full: AttemptRecord = { n: 1, specHash: rec.specHash, state: 'running', startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:10:00Z', costUSD: 0, ...a };
    writeFiles(dir, { [`attempts/${full.n}/status.json`]: JSON.stringify(full) });
  }
  if (rec.result) writeFiles(dir, { 'result.json': JSON.stringify(rec.result) });
  if (rec.checkpoint) {
    writeFiles(dir, {
      [`checkpoints/${rec.checkpoint.step}/model.pt`]: 'weights',
      [`checkpoints/${rec.checkpoint.step}/MANIFEST.json`]: JSON.stringify({ files: [{ path: 'model.pt', size: 7 }] }),
      'checkpoints/LATEST': String(rec.checkpoint.step),
    });
  }
}
