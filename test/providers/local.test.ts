// The local provider's observation: node records are live only while their exact process runs.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LocalProvider, processStartTime } from '../../src/providers/local/index.js';
import { tempDir, writeFiles } from '../helpers.js';

const record = (over: Record<string, unknown>) => JSON.stringify({
  id: 'n1', project: 'p', job: 'j', trial: 'j-1', specHash: 'h', nodeRank: 0, attempt: 1, launchedAt: '2026-01-01T00:00:00Z', pid: process.pid, pidStart: processStartTime(process.pid), ...over,
});

describe('LocalProvider.observe', () => {
  it('returns live nodes of the project only', async () => {
    const home = tempDir();
    writeFiles(home, {
      'local/nodes/n1.json': record({}),
      'local/nodes/n2.json': record({ id: 'n2', project: 'other' }),
    });
    const found = await new LocalProvider(home).observe('p');
    expect(found).toEqual([{ provider: 'local', id: 'n1', project: 'p', job: 'j', trial: 'j-1', specHash: 'h', nodeRank: 0, attempt: 1, launchedAt: '2026-01-01T00:00:00Z', state: 'running' }]);
  });

  it('drops nodes whose process exited, and a reused pid with another start time', async () => {
    const home = tempDir();
    const child = spawn('true');
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    writeFiles(home, {
      'local/nodes/dead.json': record({ id: 'dead', pid, pidStart: '' }),
      'local/nodes/reused.json': record({ id: 'reused', pidStart: '12345' }),
      'local/nodes/broken.json': '{',
      'local/nodes/notes.txt': 'ignored',
    });
    expect(await new LocalProvider(home).observe('p')).toEqual([]);
  });

  it('counts a claim without a pid as a pending node for a minute, then ignores it', async () => {
    const home = tempDir();
    const now = Date.now();
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const deadLauncher = { pid: dead.pid, pidStart: '' };
    writeFiles(home, {
      // its launcher died before spawning a runner: nothing will ever fill it in
      'local/nodes/orphan-claim.json': record({ id: 'orphan-claim', pid: null, pidStart: '', claimedAt: new Date(now).toISOString(), claimedBy: deadLauncher }),
      // … but once it had spawned one, the runner may still be starting
      'local/nodes/spawned.json': record({ id: 'spawned', pid: null, pidStart: '', claimedAt: new Date(now).toISOString(), claimedBy: deadLauncher, spawnedAt: new Date(now).toISOString() }),
      'local/nodes/fresh.json': record({ id: 'fresh', pid: null, pidStart: '', claimedAt: new Date(now - 5_000).toISOString() }),
      'local/nodes/old.json': record({ id: 'old', pid: null, pidStart: '', claimedAt: new Date(now - 61_000).toISOString() }),
      'local/nodes/unclaimed.json': record({ id: 'unclaimed', pid: null, pidStart: '' }),
      'local/nodes/stopping.json': record({ id: 'stopping', stoppingSince: new Date(now).toISOString() }),
    });
    const found = await new LocalProvider(home).observe('p');
    expect(found.map((r) => [r.id, r.state])).toEqual([['fresh', 'pending'], ['spawned', 'pending'], ['stopping', 'stopping']]);
  });

  it('finds a runner its dead launcher spawned but never recorded, by its task file', async () => {
    const home = tempDir();
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const taskPath = `${home}/local/work/p/j-1/a1/r0/task.json`;
    const runner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', taskPath], { stdio: 'ignore' });
    await new Promise((r) => runner.once('spawn', r));
    const claim = { pid: null, pidStart: '', claimedAt: new Date().toISOString(), claimedBy: { pid: dead.pid, pidStart: '' }, spawnedAt: new Date().toISOString() };
    writeFiles(home, {
      'local/nodes/starting.json': record({ ...claim, id: 'starting', taskPath }),
      'local/nodes/never-started.json': record({ ...claim, id: 'never-started', taskPath: `${taskPath}.other` }),
    });
    try {
      expect((await new LocalProvider(home).observe('p')).map((r) => [r.id, r.state])).toEqual([['starting', 'pending']]);
    } finally {
      runner.kill();
    }
  });

  it('an empty or missing home is an empty world', async () => {
    expect(await new LocalProvider(`${tempDir()}/missing`).observe('p')).toEqual([]);
  });

  it('reads start times from /proc that differ between processes', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(processStartTime(1)).not.toBe(mine);
    expect(processStartTime(2 ** 22 + 12345)).toBeUndefined();
  });

  it('prices local compute at zero', async () => {
    expect(await new LocalProvider(tempDir()).price()).toEqual({ usdPerHour: 0, source: 'free', asOf: '' });
  });
});
