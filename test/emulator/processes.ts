// Finds and signals the processes of emulated instances. Each one carries
// TRAINCTL_EMULATOR_INSTANCE=<id> in its environment, which survives setsid and double forks (a
// process group does not), so /proc/*/environ is the one reliable way to find them all.
import { readdirSync, readFileSync } from 'node:fs';

export const INSTANCE_ENV = 'TRAINCTL_EMULATOR_INSTANCE';

/** A live process of an emulated instance: its pid and its process group. */
interface InstanceProcess { pid: number; pgid: number }

/** Live processes (zombies have an empty environ and drop out) per instance id, for the ids asked about. */
function scan(ids: ReadonlySet<string>): Map<string, InstanceProcess[]> {
  const found = new Map<string, InstanceProcess[]>();
  if (ids.size === 0) return found;
  const prefix = `${INSTANCE_ENV}=`;
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone, or another user's process
    }
    for (const entry of environ.split('\0')) {
      if (!entry.startsWith(prefix)) continue;
      const id = entry.slice(prefix.length);
      if (ids.has(id)) found.set(id, [...(found.get(id) ?? []), { pid, pgid: processGroup(pid) }]);
      break;
    }
  }
  return found;
}

/** The process group of a pid (field 5 of /proc/<pid>/stat), or 0 when it is gone. */
function processGroup(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) || 0;
  } catch {
    return 0;
  }
}

/** Live pids per instance id, for the ids asked about. */
export function scanInstanceProcesses(ids: ReadonlySet<string>): Map<string, number[]> {
  return new Map([...scan(ids)].map(([id, procs]) => [id, procs.map((p) => p.pid)]));
}

/**
 * Signals every process of these instances, and the process groups spawned for them that still
 * hold one of those processes; returns how many pids were found. A group whose members are all gone
 * is skipped: its number may already belong to somebody else's process (another test worker's).
 */
export function signalInstances(ids: ReadonlySet<string>, groups: Iterable<number>, signal: NodeJS.Signals): number {
  const procs = [...scan(ids).values()].flat();
  const held = new Set(procs.map((p) => p.pgid));
  for (const pgid of groups) if (held.has(pgid)) trySignal(-pgid, signal);
  for (const { pid } of procs) trySignal(pid, signal);
  return procs.length;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
