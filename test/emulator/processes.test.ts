// Process groups recorded for an instance are signalled only while a process of that instance still
// holds them: pids (and so group ids) are reused, here within minutes (pid_max is often 32768), and
// another test worker's process may by then lead a group with the same number.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, until } from './helpers.js';
import { INSTANCE_ENV, scanInstanceProcesses, signalInstances } from './processes.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function sleeper(env: Record<string, string>): number {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

describe('signalInstances', () => {
  it('leaves alone a recorded group that no process of the instance holds any more', () => {
    const stranger = sleeper({}); // leads its own group, as a reused pgid would
    expect(signalInstances(new Set(['i-gone']), [stranger], 'SIGKILL')).toBe(0);
    expect(alive(stranger)).toBe(true);
  });

  it('kills the processes of the instance and the groups they hold', async () => {
    const own = sleeper({ [INSTANCE_ENV]: 'i-mine' });
    const other = sleeper({ [INSTANCE_ENV]: 'i-other' });
    expect(scanInstanceProcesses(new Set(['i-mine'])).get('i-mine')).toEqual([own]);
    expect(signalInstances(new Set(['i-mine']), [own, other], 'SIGKILL')).toBe(1);
    await until(() => !alive(own), 'the instance process gone');
    expect(alive(other)).toBe(true);
  });
});
