// Finds and signals the processes of emulated instances. Each one carries
// TRAINCTL_EMULATOR_INSTANCE=<id> in its environment, which survives setsid and double forks (a
// process group does not), so /proc/*/environ is the one reliable way to find them all.
import { readdirSync, readFileSync } from 'node:fs';

export const INSTANCE_ENV = 'TRAINCTL_EMULATOR_INSTANCE';

/** Live pids (zombies have an empty environ and drop out) per instance id, for the ids asked about. */
export function scanInstanceProcesses(ids: ReadonlySet<string>): Map<string, number[]> {
  const found = new Map<string, number[]>();
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
      if (ids.has(id)) found.set(id, [...(found.get(id) ?? []), pid]);
      break;
    }
  }
  return found;
}

/** Signals every process of these instances and the process groups spawned for them; returns how many pids were found. */
export function signalInstances(ids: ReadonlySet<string>, groups: Iterable<number>, signal: NodeJS.Signals): number {
  for (const pgid of groups) trySignal(-pgid, signal);
  let n = 0;
  for (const pids of scanInstanceProcesses(ids).values()) {
    for (const pid of pids) {
      trySignal(pid, signal);
      n++;
    }
  }
  return n;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
