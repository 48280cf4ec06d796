// Shared test helpers: the real built CLI in a child process, temp dirs, store fixtures.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import type { AttemptRecord, TrialRecord } from '../src/core/observed.js';
import { processStartTime } from '../src/providers/local/nodes.js';

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

/**
 * Polls `probe` until it returns something other than undefined/false and returns that; throws
 * naming `what` (and `detail()`, what the test saw) after `ms`. The one way tests wait for another
 * process to get somewhere.
 */
export async function until<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 30_000, detail?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

/** Runner pids of a TRAINCTL_HOME's local nodes, by trial, as `ps` sees them (not what records claim). */
export function runners(home: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const re = new RegExp(`^\\s*(\\d+) +(\\d+) .*runner\\.js ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/local/work/[^/]+/([^/]+)/a\\d+/r\\d+/task\\.json$`);
  const found = ps.split('\n').map((line) => re.exec(line)).filter((m): m is RegExpExecArray => m !== null && processStartTime(Number(m[1])) !== undefined);
  // a runner starting its training process forks first: until the exec, the child shows the runner's command line
  const pids = new Set(found.map((m) => m[1]));
  for (const m of found) if (!pids.has(m[2]!)) out.set(m[3]!, [...(out.get(m[3]!) ?? []), Number(m[1])]);
  return out;
}

/** A process as it was seen: its pid and start time (as node records keep them). */
export interface SeenProcess { pid: number; pidStart: string }

/** The process now running as `pid`, to be signalled later only if it is still that one. */
export function seenProcess(pid: number): SeenProcess | undefined {
  const pidStart = processStartTime(pid);
  return pidStart === undefined ? undefined : { pid, pidStart };
}

const isSame = (p: SeenProcess) => processStartTime(p.pid) === p.pidStart;

/**
 * A test's clean-up: SIGTERM each process (its group with `group`) that is still the one seen,
 * SIGKILL what is left after `graceMs`. A pid that has ended is never signalled: pids come back
 * within minutes where pid_max is 32768, and by then it may be another test worker's process.
 */
export async function stopProcesses(seen: Iterable<{ pid?: number | null; pidStart: string } | undefined>, opts: { group?: boolean; graceMs?: number } = {}): Promise<void> {
  const procs = [...seen].filter((p): p is SeenProcess => typeof p?.pid === 'number' && p.pid > 0);
  const signal = (sig: NodeJS.Signals) => {
    for (const p of procs.filter(isSame)) {
      try {
        process.kill(opts.group ? -p.pid : p.pid, sig);
      } catch {
        // gone
      }
    }
  };
  signal('SIGTERM');
  const end = Date.now() + (opts.graceMs ?? 15_000);
  while (procs.some(isSame) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (!procs.some(isSame)) return;
  signal('SIGKILL');
  await until(() => !procs.some(isSame), 'processes to die after SIGKILL', 5_000).catch(() => undefined);
}
