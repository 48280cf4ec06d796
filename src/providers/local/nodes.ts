// Local node records: one JSON file per runner process under $TRAINCTL_HOME/local/nodes. A record
// is the node's identity (pid + process start time), so a reused pid is never taken for a node.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ObservedResource } from '../../core/observed.js';

/**
 * What the local launcher writes for each node it starts. The launcher claims the record with
 * `pid: null` before it spawns the runner, then fills in pid and pidStart; the runner fills them
 * in itself when it finds them null (the CLI may have died between spawn and write).
 */
export interface LocalNodeRecord extends Omit<ObservedResource, 'provider' | 'state'> {
  pid: number | null;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22); '' where unknown. */
  pidStart: string;
  /** When the launcher claimed the record; a record whose pid is still null counts from here. */
  claimedAt?: string;
  /** The launching CLI process: a claim whose launcher died before spawning anything is void. */
  claimedBy?: { pid: number; pidStart: string };
  /** Set just before the runner is spawned: from here on a runner may exist that has no pid recorded yet. */
  spawnedAt?: string;
  /** The runner's task file, which is on its command line: finds a runner that has no pid recorded. */
  taskPath?: string;
  /** GPU ids this node holds (CUDA_VISIBLE_DEVICES); other nodes may not take them. */
  gpus?: number[];
  /** How long the runner may take to finish after SIGTERM before it is killed. */
  gracePeriodMs?: number;
  /** Rendezvous port every rank of a distributed attempt meets at. */
  masterPort?: number;
  /** Set by terminate: the node was asked to stop. */
  stoppingSince?: string;
}

/**
 * A claimed record whose runner has not reported its pid is a launch in flight for this long;
 * after that its launcher is taken to have died before spawning, and the record means nothing.
 */
export const PENDING_CLAIM_MS = 60_000;

export function nodesDir(home: string): string {
  return join(home, 'local', 'nodes');
}

export function nodeRecordPath(home: string, id: string): string {
  return join(nodesDir(home), `${id}.json`);
}

/** Start time of a process, '' when /proc is unavailable, undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after it start past the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return fields[19] ?? '';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    try {
      process.kill(pid, 0);
    } catch {
      return undefined;
    }
    return readdirSafe('/proc').length === 0 ? '' : undefined;
  }
}

export function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The record at `path`, or undefined when it is missing or not (yet) valid JSON. */
export function readNodeRecord(path: string): LocalNodeRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(path, 'utf8')) as LocalNodeRecord;
    return rec && typeof rec === 'object' && typeof rec.id === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function writeNodeRecord(path: string, rec: LocalNodeRecord): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(rec)}\n`);
  renameSync(tmp, path);
}

export type NodeLiveness = 'running' | 'pending' | 'gone';

/** Whether the record describes a node that exists now (or is being started). */
export function liveness(rec: LocalNodeRecord, now: number): NodeLiveness {
  if (rec.pid === null || rec.pid === undefined) {
    const claimed = Date.parse(rec.claimedAt ?? '');
    if (!Number.isFinite(claimed) || now - claimed >= PENDING_CLAIM_MS) return 'gone';
    if (!rec.claimedBy || isRunning(rec.claimedBy.pid, rec.claimedBy.pidStart)) return 'pending';
    // The launcher died. Before spawning: no runner will ever fill this record in. After: the
    // runner is on its way if a process has its task file on the command line.
    if (!rec.spawnedAt) return 'gone';
    const found = rec.taskPath ? processWithArgument(rec.taskPath) : undefined;
    return found === false ? 'gone' : 'pending';
  }
  if (typeof rec.pid !== 'number') return 'gone';
  return isRunning(rec.pid, rec.pidStart) ? 'running' : 'gone';
}

/** Whether pid is the process that started at pidStart ('' when unknown: any process with the pid). */
export function isRunning(pid: number, pidStart: string): boolean {
  const start = processStartTime(pid);
  return start !== undefined && (pidStart === '' || start === '' || start === pidStart);
}

/**
 * Whether some process has `arg` as one of its arguments (/proc/<pid>/cmdline); undefined where
 * /proc cannot tell.
 */
export function processWithArgument(arg: string): boolean | undefined {
  const pids = readdirSafe('/proc').filter((f) => /^\d+$/.test(f));
  if (pids.length === 0) return undefined;
  for (const pid of pids) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.split('\0').includes(arg)) return true;
  }
  return false;
}

/** Every parseable record, with its file path. */
export function listNodeRecords(home: string): { path: string; rec: LocalNodeRecord }[] {
  const dir = nodesDir(home);
  const out: { path: string; rec: LocalNodeRecord }[] = [];
  for (const file of readdirSafe(dir).filter((f) => f.endsWith('.json')).sort()) {
    const rec = readNodeRecord(join(dir, file));
    if (rec) out.push({ path: join(dir, file), rec });
  }
  return out;
}

export function toResource(rec: LocalNodeRecord, state: ObservedResource['state']): ObservedResource {
  return {
    provider: 'local', id: rec.id, project: rec.project, job: rec.job, trial: rec.trial, specHash: rec.specHash,
    nodeRank: rec.nodeRank, attempt: rec.attempt, state, launchedAt: rec.launchedAt,
  };
}
