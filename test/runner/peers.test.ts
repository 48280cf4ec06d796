// What a runner reads about its job from a real file:// store: the other attempts' spend (a
// running one carried forward to now at its own rate) and the objective curves of its peers.
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jobSpendExcept, objectiveCurves } from '../../src/runner/peers.js';
import { openRunStore } from '../../src/store/open.js';
import type { RunStore } from '../../src/store/store.js';
import { tempDir, writeFiles, writeTrialRecord } from '../helpers.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

async function store(root: string): Promise<RunStore> {
  const s = await openRunStore(pathToFileURL(root).href);
  if ('error' in s) throw new Error(s.error);
  return s;
}

describe('jobSpendExcept', () => {
  it('sums every trial and attempt of the job but the asking attempt, carrying running ones forward', async () => {
    const root = tempDir();
    // a: attempt 1 failed at $1, attempt 2 is the one asking (its own $5 is left out)
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-a', specHash: 'h', attempts: [{ n: 1, state: 'failed', costUSD: 1 }, { n: 2, state: 'running', costUSD: 5 }] });
    // b: running, $0.20 over its first 20 s ($0.01/s), last heartbeat at 20 s; asked at 23 s → +$0.03
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-b', specHash: 'h', attempts: [{ n: 1, state: 'running', startedAt: iso(0), updatedAt: iso(20), costUSD: 0.2 }] });
    // c: another job's trial does not count
    writeTrialRecord(root, { project: 'p', job: 'other', trial: 'other-c', specHash: 'h', attempts: [{ n: 1, state: 'succeeded', costUSD: 100 }] });
    const s = await store(root);
    const ref = { project: 'p', job: 'j', trial: 'j-a' };
    const at23 = await jobSpendExcept(s, ref, 2, new Date(T0 + 23_000), 6000);
    // 1 + 0.2 + 0.01 × 3
    expect(at23.usd).toBeCloseTo(1.23, 9);
    expect(at23.perMs).toBeCloseTo(0.01 / 1000, 12);
    // a heartbeat a minute old is carried forward at most 6 s: 1 + 0.2 + 0.06
    expect((await jobSpendExcept(s, ref, 2, new Date(T0 + 80_000), 6000)).usd).toBeCloseTo(1.26, 9);
  });
});

describe('objectiveCurves', () => {
  it('reads each peer\'s curve of its current spec, sorted by step, and this trial\'s own', async () => {
    const root = tempDir();
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-me', specHash: 'h', attempts: [{ n: 1, state: 'running' }] });
    // the peer was replaced: attempt 1 ran an old spec, attempt 2 the current one
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-peer', specHash: 'h2', attempts: [{ n: 1, specHash: 'old', state: 'stopped' }, { n: 2, specHash: 'h2', state: 'running' }] });
    const line = (attempt: number, step: number, loss: number) => JSON.stringify({ attempt, step, time: iso(step), loss });
    writeFiles(root, {
      'p/j/j-me/metrics.jsonl': `${[line(1, 1, 0.9), line(1, 2, 0.8)].join('\n')}\n`,
      'p/j/j-peer/metrics.jsonl': `${[line(1, 1, 50), line(2, 2, 0.7), line(2, 1, 0.75), JSON.stringify({ attempt: 2, step: 3, time: iso(3), acc: 1 })].join('\n')}\n`,
    });
    const { own, peers } = await objectiveCurves(await store(root), { project: 'p', job: 'j', trial: 'j-me' }, 'h', 'loss');
    expect(own).toEqual([{ step: 1, value: 0.9 }, { step: 2, value: 0.8 }]);
    expect(peers).toEqual([[{ step: 1, value: 0.75 }, { step: 2, value: 0.7 }]]);
  });
});
