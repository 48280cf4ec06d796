// The local provider's write side: a node is a detached `node runner.js task.json` process in a
// private copy of the code. Launch claims the node record (exclusive create) before it spawns, so a
// re-run apply, or one that was killed half-way, never starts a node twice; terminate signals only
// the process whose start time the record holds.
import { spawn, execFile } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, openSync, closeSync, unlinkSync, writeFileSync, renameSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitError } from '../../core/errors.js';
import type { ObservedResource } from '../../core/observed.js';
import type { RunnerTask } from '../../runner/task.js';
import type { LaunchOutcome, LaunchRequest } from '../provider.js';
import {
  listNodeRecords, liveness, nodeRecordPath, nodesDir, processStartTime, readdirSafe, readNodeRecord, toResource, writeNodeRecord,
  type LocalNodeRecord,
} from './nodes.js';

/** Extra time after the grace period for the runner to upload the final checkpoint and exit. */
const TERMINATE_MARGIN_MS = 15_000;
/** How long terminate waits for a launch in flight to report its runner's pid. */
const PENDING_WAIT_MS = 10_000;
const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__']);

export function nodeId(req: Pick<LaunchRequest, 'project' | 'trial' | 'attempt'>, rank: number): string {
  // The project is part of the id: trial ids are unique within a project only.
  return `${req.project}.${req.trial}-a${req.attempt}-r${rank}`;
}

export function workDirOf(home: string, req: Pick<LaunchRequest, 'project' | 'trial' | 'attempt'>, rank: number): string {
  return join(home, 'local', 'work', req.project, req.trial, `a${req.attempt}`, `r${rank}`);
}

/**
 * The bundled runner: dist/runner.js beside the CLI's entry, found from this module's place in the
 * bundle (dist/chunks/*.js or dist/*.js). TRAINCTL_RUNNER overrides it (tests, development).
 */
export function runnerScript(env: NodeJS.ProcessEnv): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = env.TRAINCTL_RUNNER ? [env.TRAINCTL_RUNNER] : [join(here, 'runner.js'), join(here, '..', 'runner.js')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new ExitError(`the runner is missing (looked for ${candidates.at(-1)})`, 1, 'rebuild trainctl (`npm run build`), or set TRAINCTL_RUNNER to runner.js');
  return found;
}

/** GPU ids on this machine: TRAINCTL_LOCAL_GPUS ("0,1"), else nvidia-smi's list, else none. */
export async function machineGpus(env: NodeJS.ProcessEnv): Promise<number[]> {
  if (env.TRAINCTL_LOCAL_GPUS !== undefined) return parseGpuList(env.TRAINCTL_LOCAL_GPUS);
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? [] : parseGpuList(stdout));
    });
  });
}

function parseGpuList(text: string): number[] {
  return text.split(/[\s,]+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

export type GpuPick = { kind: 'picked'; gpus: number[] } | { kind: 'no-capacity'; message: string; permanent: boolean };

/** Which GPUs a node gets: a count from the free ones, or exactly the ids a list names. */
export function pickGpus(want: number | readonly number[], machine: readonly number[], held: ReadonlySet<number>): GpuPick {
  if (typeof want !== 'number') {
    const busy = want.filter((g) => held.has(g));
    if (busy.length) return { kind: 'no-capacity', message: `GPU ${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} held by another local node`, permanent: false };
    return { kind: 'picked', gpus: [...want] };
  }
  const needs = `needs ${want} GPU${want === 1 ? '' : 's'}`;
  if (machine.length < want) return { kind: 'no-capacity', message: `${needs}; this machine has ${machine.length}`, permanent: true };
  const free = machine.filter((g) => !held.has(g));
  if (free.length < want) return { kind: 'no-capacity', message: `${needs}; ${free.length} of ${machine.length} free`, permanent: false };
  return { kind: 'picked', gpus: free.slice(0, want) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      server.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// One claim phase at a time in this process: parallel launches must not hand out the same GPU.
let claimQueue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = claimQueue.then(fn, fn);
  claimQueue = run.catch(() => undefined);
  return run;
}

interface Claimed { rank: number; id: string; path: string; rec: LocalNodeRecord }

/**
 * Starts every node rank of one attempt that is not live yet. Order per rank: copy the code into a
 * staging dir (slow, unclaimed), claim the record, move the copy into place, write task.json,
 * spawn, record the pid. The claim comes late so the window in which a record has no pid is
 * short; the runner fills the pid in itself if this process dies inside that window.
 */
export async function launchLocal(home: string, req: LaunchRequest, env: NodeJS.ProcessEnv, pricePerHour = 0): Promise<LaunchOutcome> {
  if (req.compute.provider !== 'local') throw new Error(`local provider asked to launch ${req.compute.provider} compute`);
  const ranks = Array.from({ length: req.nodes }, (_, r) => r);
  const live = (rank: number) => {
    const rec = readNodeRecord(nodeRecordPath(home, nodeId(req, rank)));
    const state = rec ? liveness(rec, Date.now()) : 'gone';
    return rec && state !== 'gone' ? toResource(rec, state) : undefined;
  };
  const missing = ranks.filter((r) => !live(r));
  if (missing.length === 0) return { kind: 'launched', resources: ranks.map((r) => live(r)!) };

  const runner = runnerScript(env);
  const machine = typeof req.compute.gpus === 'number' && req.compute.gpus > 0 ? await machineGpus(env) : [];
  // a trial waiting for GPUs asks again on every pass: answer before copying its code
  const capacity = pickAll(req, missing, machine, heldGpus(home));
  if (capacity.kind === 'no-capacity') return capacity;
  mkdirSync(nodesDir(home), { recursive: true });
  const staged = new Map<number, string>();
  try {
    await Promise.all(missing.map(async (rank) => staged.set(rank, await stageCode(home, req, rank))));
    const claim = await serialized(() => claimNodes(home, req, missing, machine));
    if (claim.kind === 'no-capacity') return claim;
    await Promise.all(claim.claimed.map((c) => startNode(home, req, c, staged.get(c.rank)!, runner, env, pricePerHour)));
  } finally {
    await Promise.all([...staged.values()].map((dir) => rm(dir, { recursive: true, force: true })));
  }
  return { kind: 'launched', resources: ranks.map((r) => live(r)).filter((r): r is ObservedResource => r !== undefined) };
}

/** A fresh copy of the code for one node, outside the work dir until the node is claimed. */
async function stageCode(home: string, req: LaunchRequest, rank: number): Promise<string> {
  const parent = dirname(workDirOf(home, req, rank));
  mkdirSync(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.staging-r${rank}-`));
  const checkpointDir = normalize(req.task.checkpoint.dir).replace(/[\\/]+$/, '');
  await copyTree(req.codeDir, join(staging, 'code'), (src) => {
    const rel = relative(req.codeDir, src);
    // trainctl's own home inside the code dir (a run from ~ with ~/.trainctl) holds this very
    // copy and every other run: never part of the code
    if (src === resolve(home)) return false;
    // the checkpoint dir is the runner's to fill (from the store on resume), never the laptop's
    return !SKIPPED_NAMES.has(basename(src)) && rel !== checkpointDir && !rel.startsWith(`${checkpointDir}${sep}`);
  });
  return staging;
}

/**
 * Copies a directory tree, keeping modes and symlinks. Not fs.cp: it refuses a destination inside
 * the source even when the filter leaves that part out, which is the case for a home in the code.
 */
async function copyTree(src: string, dest: string, keep: (path: string) => boolean): Promise<void> {
  await mkdir(dest, { recursive: true });
  await Promise.all((await readdir(src, { withFileTypes: true })).map(async (e) => {
    const from = join(src, e.name);
    const to = join(dest, e.name);
    if (!keep(from)) return;
    if (e.isDirectory()) await copyTree(from, to, keep);
    else if (e.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (e.isFile()) await copyFile(from, to);
  }));
}

/** GPUs held by live (or starting) local nodes. */
function heldGpus(home: string): Set<number> {
  const now = Date.now();
  return new Set(listNodeRecords(home).filter(({ rec }) => liveness(rec, now) !== 'gone').flatMap(({ rec }) => rec.gpus ?? []));
}

function pickAll(req: LaunchRequest, ranks: readonly number[], machine: readonly number[], held: Set<number>):
  { kind: 'picked'; picks: Map<number, number[]> } | { kind: 'no-capacity'; message: string; permanent: boolean } {
  const want = (req.compute as { gpus: number | number[] }).gpus;
  const taken = new Set(held);
  const picks = new Map<number, number[]>();
  for (const rank of ranks) {
    const pick = pickGpus(want, machine, taken);
    if (pick.kind === 'no-capacity') return pick;
    for (const g of pick.gpus) taken.add(g);
    picks.set(rank, pick.gpus);
  }
  return { kind: 'picked', picks };
}

type ClaimResult = { kind: 'claimed'; claimed: Claimed[] } | { kind: 'no-capacity'; message: string; permanent: boolean };

/** Picks GPUs and a port, then claims each missing rank's record; ranks claimed meanwhile by another launcher are left to it. */
async function claimNodes(home: string, req: LaunchRequest, ranks: readonly number[], machine: readonly number[]): Promise<ClaimResult> {
  const now = Date.now();
  const all = listNodeRecords(home).map((r) => ({ ...r, state: liveness(r.rec, now) }));
  // records of this trial's ended nodes say nothing any more; the claims below replace their own
  for (const { path, rec, state } of all) if (state === 'gone' && rec.project === req.project && rec.trial === req.trial) rmIfSame(path, rec);
  const records = all.filter(({ state }) => state !== 'gone');
  const picked = pickAll(req, ranks, machine, new Set(records.flatMap(({ rec }) => rec.gpus ?? [])));
  if (picked.kind === 'no-capacity') return picked;
  const picks = picked.picks;
  // every rank of an attempt meets at one port: reuse the one a live rank already has
  const distributed = req.task.nodes > 1 || req.task.nprocPerNode > 1;
  const sibling = records.find(({ rec }) => rec.project === req.project && rec.trial === req.trial && rec.attempt === req.attempt && rec.masterPort);
  const masterPort = distributed ? req.distributed.masterPort ?? sibling?.rec.masterPort ?? await freePort() : undefined;
  const claimed: Claimed[] = [];
  for (const rank of ranks) {
    const id = nodeId(req, rank);
    const path = nodeRecordPath(home, id);
    const rec: LocalNodeRecord = {
      id, project: req.project, job: req.job, trial: req.trial, specHash: req.specHash, nodeRank: rank, attempt: req.attempt,
      launchedAt: new Date().toISOString(), claimedAt: new Date().toISOString(), claimedBy: self(), pid: null, pidStart: '',
      gpus: picks.get(rank)!, gracePeriodMs: req.task.checkpoint.gracePeriodMs, ...(masterPort !== undefined ? { masterPort } : {}),
    };
    if (claimRecord(path, rec)) claimed.push({ rank, id, path, rec });
  }
  return { kind: 'claimed', claimed };
}

/**
 * Exclusive create with the whole content at once (link of a written temp file), so no reader sees
 * a half-written claim. A record left by a node that is gone is cleared first.
 */
function claimRecord(path: string, rec: LocalNodeRecord): boolean {
  const old = readNodeRecord(path);
  if (old && liveness(old, Date.now()) !== 'gone') return false;
  if (old) rmIfSame(path, old);
  const tmp = `${path}.${process.pid}.claim.tmp`;
  writeFileSync(tmp, `${JSON.stringify(rec)}\n`);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Removes a record unless it changed since it was read (another launcher re-claimed it). */
function rmIfSame(path: string, seen: LocalNodeRecord): void {
  const now = readNodeRecord(path);
  if (now && (now.claimedAt !== seen.claimedAt || now.pid !== seen.pid)) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function startNode(home: string, req: LaunchRequest, c: Claimed, staging: string, runner: string, env: NodeJS.ProcessEnv, pricePerHour: number): Promise<void> {
  const dir = workDirOf(home, req, c.rank);
  const masterPort = c.rec.masterPort;
  try {
    // a launcher killed before spawning leaves its copies behind; this claim makes them ours to clear
    const leftovers = readdirSafe(dirname(dir)).filter((f) => f.startsWith(`.staging-r${c.rank}-`) && join(dirname(dir), f) !== staging);
    await Promise.all([dir, ...leftovers.map((f) => join(dirname(dir), f))].map((d) => rm(d, { recursive: true, force: true })));
    renameSync(staging, dir);
    const gpus = c.rec.gpus ?? [];
    const task: RunnerTask = {
      ...req.task,
      nodeRank: c.rank,
      workDir: join(dir, 'code'),
      ...(masterPort !== undefined ? {
        distributed: {
          backend: req.distributed.backend === 'auto' ? (gpus.length > 0 ? 'nccl' : 'gloo') : req.distributed.backend,
          masterAddr: '127.0.0.1',
          masterPort,
        },
      } : {}),
      gpus,
      pricePerHour,
    };
    const taskPath = join(dir, 'task.json');
    writeFileSync(taskPath, `${JSON.stringify(task, null, 2)}\n`);
    c.rec = { ...c.rec, spawnedAt: new Date().toISOString(), taskPath };
    writeNodeRecord(c.path, c.rec);
    const pid = await spawnRunner(runner, taskPath, join(dir, 'runner.log'), dir, { ...env, TRAINCTL_NODE_RECORD: c.path });
    // 'gone' never matches a real start time, so a pid reused after a runner that exited at once is not taken for it
    const pidStart = processStartTime(pid) ?? 'gone';
    const current = readNodeRecord(c.path);
    if (current?.pid == null) writeNodeRecord(c.path, { ...c.rec, pid, pidStart });
  } catch (err) {
    rmIfSame(c.path, c.rec);
    throw err;
  }
}

function spawnRunner(runner: string, taskPath: string, logPath: string, cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const log = openSync(logPath, 'a');
  try {
    // detached: its own session, so the runner outlives the CLI and a Ctrl-C in the terminal
    const child = spawn(process.execPath, [runner, taskPath], { cwd, env, detached: true, stdio: ['ignore', log, log] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    closeSync(log);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function self(): { pid: number; pidStart: string } {
  return { pid: process.pid, pidStart: processStartTime(process.pid) ?? '' };
}

/** Stops nodes: SIGTERM, wait out the grace period, then SIGKILL; the record goes once the process is gone. */
export async function terminateLocal(home: string, ids: readonly string[], opts: { marginMs?: number } = {}): Promise<void> {
  await Promise.all(ids.map((id) => terminateNode(home, id, opts.marginMs ?? TERMINATE_MARGIN_MS)));
}

async function terminateNode(home: string, id: string, marginMs: number): Promise<void> {
  const path = recordPathOf(home, id);
  if (!path) return;
  let rec = readNodeRecord(path);
  const waitUntil = Date.now() + PENDING_WAIT_MS;
  // a launch in flight: its runner reports a pid in a moment, and must be stopped, not orphaned
  while (rec && rec.pid == null && liveness(rec, Date.now()) === 'pending' && Date.now() < waitUntil) {
    await sleep(100);
    rec = readNodeRecord(path);
  }
  if (!rec) return;
  const isOurs = () => liveness(rec!, Date.now()) === 'running';
  if (rec.pid != null && isOurs()) {
    const pid = rec.pid;
    writeNodeRecord(path, { ...rec, stoppingSince: new Date().toISOString() });
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + (rec.gracePeriodMs ?? 60_000) + marginMs;
    while (isOurs() && Date.now() < deadline) await sleep(100);
    if (isOurs()) {
      // the runner's session holds the training processes too
      signal(-pid, 'SIGKILL');
      signal(pid, 'SIGKILL');
      const killDeadline = Date.now() + 5_000;
      while (isOurs() && Date.now() < killDeadline) await sleep(50);
    }
    if (isOurs()) throw new ExitError(`node ${id} (pid ${pid}) did not exit after SIGKILL`, 1, `it may be stuck in the kernel: see \`ps -o pid,stat,wchan -p ${pid}\``);
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function recordPathOf(home: string, id: string): string | undefined {
  const direct = nodeRecordPath(home, id);
  if (existsSync(direct)) return direct;
  return listNodeRecords(home).find(({ rec }) => rec.id === id)?.path;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
