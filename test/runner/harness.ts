// Runner test harness: a temp store and per-node work dirs holding the Python fixtures, task files
// as a launcher writes them, and the bundled runner in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onTestFinished } from 'vitest';
import { processStartTime } from '../../src/providers/local/nodes.js';
import type { RunnerTask } from '../../src/runner/task.js';
import { FileStore } from '../../src/store/file.js';
import type { TrialRef } from '../../src/store/store.js';
import { distDir, repoRoot } from '../helpers.js';

export const PY = '/usr/bin/python3';
export const fixturesDir = join(repoRoot, 'test', 'fixtures', 'train');
export const runnerPath = join(distDir, 'runner.js');

export interface Sandbox {
  root: string;
  storeUri: string;
  store: FileStore;
  ref: TrialRef;
  /** <store>/<project>/<job>/<trial> */
  trialDir: string;
}

/** A temp dir for the running test, removed when it finishes (afterAll would not run from inside a test). */
export function scratchDir(prefix = 'trainctl-runner-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sandbox(trial = 'fit-0a1b2c3d', root = scratchDir()): Sandbox {
  const storeUri = pathToFileURL(join(root, 'store')).href;
  const ref = { project: 'lab', job: 'fit', trial };
  return { root, storeUri, store: new FileStore(storeUri), ref, trialDir: join(root, 'store', ref.project, ref.job, ref.trial) };
}

export type TaskOverrides = Partial<Omit<RunnerTask, 'checkpoint' | 'metrics' | 'limits'>> & {
  checkpoint?: Partial<RunnerTask['checkpoint']>;
  metrics?: Partial<RunnerTask['metrics']>;
  limits?: Partial<RunnerTask['limits']>;
};

/** A task for node `nodeRank` of `attempt`; without a workDir, a fresh copy of the fixtures is one. */
export function makeTask(sb: Pick<Sandbox, 'root' | 'storeUri' | 'ref'>, o: TaskOverrides = {}): RunnerTask {
  const attempt = o.attempt ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  const workDir = o.workDir ?? join(sb.root, `work-a${attempt}-r${nodeRank}`);
  if (o.workDir === undefined && !existsSync(workDir)) cpSync(fixturesDir, workDir, { recursive: true });
  return {
    formatVersion: 1,
    project: sb.ref.project, job: sb.ref.job, trial: sb.ref.trial, specHash: 'spec-1',
    attempt, nodeRank, nodes: 1, nprocPerNode: 1,
    parameters: {},
    command: `${PY} train.py`,
    env: {},
    workDir,
    storeUri: sb.storeUri,
    pricePerHour: 1.5,
    heartbeatMs: 150,
    ...o,
    checkpoint: { dir: 'checkpoints', pattern: '*.json', keepLastN: 3, upload: 'on-save', resumeArg: '--resume {path}', gracePeriodMs: 5000, ...o.checkpoint },
    metrics: { patterns: {}, ...o.metrics },
    limits: { onExceed: 'stop', ...o.limits },
  };
}

export interface RunningRunner {
  child: ChildProcess;
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function startRunner(task: RunnerTask | string, opts: { runner?: string; cwd?: string; env?: Record<string, string> } = {}): RunningRunner {
  let taskPath: string;
  if (typeof task === 'string') {
    taskPath = task;
  } else {
    taskPath = join(task.workDir, '..', `task-a${task.attempt}-r${task.nodeRank}.json`);
    writeFileSync(taskPath, JSON.stringify(task));
  }
  const child = spawn(process.execPath, [opts.runner ?? runnerPath, taskPath], {
    cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, pid: child.pid!, done };
}

export async function runToEnd(task: RunnerTask, opts?: Parameters<typeof startRunner>[1]) {
  return startRunner(task, opts).done;
}

export async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function readJson<T = Record<string, unknown>>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function status(sb: Sandbox, attempt = 1) {
  return readJson<Record<string, unknown> & { state: string; step: number }>(join(sb.trialDir, 'attempts', String(attempt), 'status.json'));
}

export function metricRows(sb: Sandbox): Record<string, number | string>[] {
  const path = join(sb.trialDir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number | string>);
}

export function logText(sb: Sandbox, attempt = 1, rank = 0): string {
  const path = join(sb.trialDir, 'attempts', String(attempt), 'logs', `${rank}.log`);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  return processStartTime(pid) !== undefined;
}
