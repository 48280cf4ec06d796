// The local provider's read side: node records under $TRAINCTL_HOME/local/nodes, one JSON file per
// runner process. A record is live only while its pid runs with the same process start time, so a
// reused pid is never mistaken for a node.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ObservedResource } from '../../core/observed.js';
import type { PriceQuote, ProviderObserver } from '../provider.js';

/** What the local launcher writes for each node it starts. */
export interface LocalNodeRecord extends Omit<ObservedResource, 'provider' | 'state'> {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22); '' where unknown. */
  pidStart: string;
}

export function nodesDir(home: string): string {
  return join(home, 'local', 'nodes');
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

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class LocalProvider implements ProviderObserver {
  readonly name = 'local' as const;
  constructor(private readonly home: string) {}

  async observe(project: string): Promise<ObservedResource[]> {
    const dir = nodesDir(this.home);
    const out: ObservedResource[] = [];
    for (const file of readdirSafe(dir).filter((f) => f.endsWith('.json')).sort()) {
      let rec: LocalNodeRecord;
      try {
        rec = JSON.parse(readFileSync(join(dir, file), 'utf8')) as LocalNodeRecord;
      } catch {
        continue; // being written, or damaged: it describes no live node we could manage
      }
      if (rec.project !== project || typeof rec.pid !== 'number') continue;
      const start = processStartTime(rec.pid);
      if (start === undefined || (rec.pidStart !== '' && start !== '' && start !== rec.pidStart)) continue;
      const { pid: _pid, pidStart: _start, ...resource } = rec;
      out.push({ ...resource, provider: 'local', state: 'running' });
    }
    return out;
  }

  async price(): Promise<PriceQuote> {
    return { usdPerHour: 0, source: 'free', asOf: '' };
  }
}
