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
