// Drift in the planner (pure): a gone node is drift only while its trial's record says the attempt
// it ran never ended and nothing of the trial is live; the action that repairs it carries it.
import { describe, expect, it } from 'vitest';
import type { GoneResource, Observed } from '../../src/core/observed.js';
import { observedDigest, plan } from '../../src/core/plan.js';
import { att, NOW, policy, rec, res, trial } from './world.js';

const gone = (trialId: string, over: Partial<GoneResource> = {}): GoneResource => ({
  provider: 'local', id: `lab.${trialId}-a1-r0`, project: 'lab', job: 'sweep', trial: trialId, specHash: 'h1', nodeRank: 0, attempt: 1, detail: 'process 4242 not running', ...over,
});
const planOf = (observed: Observed, maxParallel = 10) => plan({ jobs: [policy({ maxParallel })], trials: [trial('a', 0), trial('b', 1)] }, observed, { prune: false }, NOW);

describe('drift', () => {
  it('a gone node of a running attempt: resume from the checkpoint, or retry without one, says which node and why', () => {
    const p = planOf({
      resources: [],
      records: [rec('sweep-a', [att(1, 'running')], { checkpoint: { step: 40 } }), rec('sweep-b', [att(1, 'running')])],
      gone: [gone('sweep-a'), gone('sweep-b', { id: 'i-0b', provider: 'aws', detail: 'instance i-0b terminated: Client.UserInitiatedShutdown' })],
    });
    expect(p.actions.map((a) => [a.trial, a.kind, a.reason, a.drift])).toEqual([
      ['sweep-a', 'resume', 'node-lost', ['node lab.sweep-a-a1-r0 is gone (process 4242 not running)']],
      ['sweep-b', 'retry', 'node-lost', ['node i-0b is gone (instance i-0b terminated: Client.UserInitiatedShutdown)']],
    ]);
  });

  it('is not drift when the attempt ended, the node is of an older attempt, or the trial is live', () => {
    const ended = planOf({ resources: [], records: [rec('sweep-a', [att(1, 'succeeded')]), rec('sweep-b', [att(1, 'interrupted')], { checkpoint: { step: 20 } })], gone: [gone('sweep-a'), gone('sweep-b')] });
    expect(ended.actions.map((a) => a.drift)).toEqual([undefined, undefined]);
    const older = planOf({ resources: [], records: [rec('sweep-a', [att(1, 'interrupted'), att(2, 'running')])], gone: [gone('sweep-a')] });
    expect(older.actions[0]).toMatchObject({ kind: 'retry', reason: 'node-lost' });
    expect(older.actions[0]!.drift).toBeUndefined();
    // one rank of two gone, the other still live: the trial is live, not lost
    const live = planOf({ resources: [res('sweep-a', { nodeRank: 1 })], records: [rec('sweep-a', [att(1, 'running')])], gone: [gone('sweep-a')] });
    expect(live.actions[0]).toMatchObject({ kind: 'noop', reason: 'running' });
    expect(live.actions[0]!.drift).toBeUndefined();
  });

  it('every gone rank is named, in rank order; a trial held back for a slot keeps its drift', () => {
    const p = planOf({
      resources: [res('sweep-b')],
      records: [rec('sweep-a', [att(1, 'running')]), rec('sweep-b', [att(1, 'running')])],
      gone: [gone('sweep-a', { id: 'r1', nodeRank: 1 }), gone('sweep-a', { id: 'r0', nodeRank: 0 })],
    }, 1);
    expect(p.actions[0]).toMatchObject({ kind: 'wait', reason: 'max-parallel', drift: ['node r0 is gone (process 4242 not running)', 'node r1 is gone (process 4242 not running)'] });
  });

  it('gone nodes do not change the observed digest: a saved plan is not stale for them', () => {
    const base: Observed = { resources: [], records: [rec('sweep-a', [att(1, 'running')])] };
    expect(observedDigest({ ...base, gone: [gone('sweep-a')] })).toBe(observedDigest(base));
  });
});
