// The planner, table-driven: each row is a small desired/observed world and the (trial → kind,
// reason) the plan must give, with the summary counts. Then determinism, purity, the observed
// digest and hasChanges.
import { describe, expect, it } from 'vitest';
import type { Observed, ObservedResource, TrialRecord } from '../../src/core/observed.js';
import {
  ACTION_KINDS, ACTION_REASONS, hasChanges, observedDigest, plan,
  type Action, type ActionKind, type ActionReason, type Desired, type DesiredTrial, type JobPolicy, type Plan,
} from '../../src/core/plan.js';
import { ago, att, NOW, policy, rec, res, trial } from './world.js';

/** trial → "kind reason"; trials outside project lab are keyed `<project>/<trial>`. */
const byTrial = (p: Plan) => Object.fromEntries(p.actions.map((a) => [a.project === 'lab' ? a.trial : `${a.project}/${a.trial}`, `${a.kind} ${a.reason}`]));
const action = (p: Plan, trialId: string): Action => {
  const found = p.actions.filter((a) => a.trial === trialId);
  expect(found, `one action for ${trialId}`).toHaveLength(1);
  return found[0]!;
};

interface Row {
  name: string;
  jobs?: JobPolicy[];
  trials: DesiredTrial[];
  resources?: ObservedResource[];
  records?: TrialRecord[];
  prune?: boolean;
  /** trial id → "kind reason" */
  expect: Record<string, `${ActionKind} ${ActionReason}`>;
  summary: Partial<Record<ActionKind, number>>;
  check?: (p: Plan) => void;
}

const T0 = trial('a', 0);
const T1 = trial('b', 1);
const T2 = trial('c', 2);
const T3 = trial('d', 3);
const T4 = trial('e', 4);

const rows: Row[] = [
  // --- create / noop -------------------------------------------------------------------------
  {
    name: 'nothing live, no record → create new, attempt 1',
    trials: [T0],
    expect: { 'sweep-a': 'create new' },
    summary: { create: 1 },
    check: (p) => {
      const a = action(p, 'sweep-a');
      expect(a).toMatchObject({ attempt: 1, specHash: 'h1', project: 'lab', job: 'sweep', parameters: { lr: 0 } });
      expect(a.resources).toBeUndefined();
      expect(a.previousSpecHash).toBeUndefined();
    },
  },
  {
    name: 'spec.json written but no attempt ever recorded → create new',
    trials: [T0],
    records: [rec('sweep-a', [])],
    expect: { 'sweep-a': 'create new' },
    summary: { create: 1 },
    check: (p) => expect(action(p, 'sweep-a').attempt).toBe(1),
  },
  {
    name: 'live with the same specHash → noop running, keeping its resources',
    trials: [T0],
    resources: [res('sweep-a')],
    records: [rec('sweep-a', [att(1, 'running')])],
    expect: { 'sweep-a': 'noop running' },
    summary: { noop: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a').resources).toEqual(['i-sweep-a-0']);
      expect(action(p, 'sweep-a').attempt).toBeUndefined();
    },
  },
  {
    name: 'live but not yet in the store (pending) → noop running',
    trials: [T0],
    resources: [res('sweep-a', { state: 'pending' })],
    expect: { 'sweep-a': 'noop running' },
    summary: { noop: 1 },
  },
  {
    name: 'result.json says succeeded → noop finished',
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'succeeded')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(80) } })],
    expect: { 'sweep-a': 'noop finished' },
    summary: { noop: 1 },
  },
  {
    name: 'result succeeded written after the runner died mid-heartbeat (attempt still "running") → noop finished',
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'running')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(80) } })],
    expect: { 'sweep-a': 'noop finished' },
    summary: { noop: 1 },
  },
  {
    name: 'stopped / early-stopped results and a succeeded attempt without result.json → noop finished',
    trials: [T0, T1, T2],
    records: [
      rec('sweep-a', [att(1, 'stopped')], { result: { state: 'stopped', specHash: 'h1', finishedAt: ago(80) } }),
      rec('sweep-b', [att(1, 'early-stopped')], { result: { state: 'early-stopped', specHash: 'h1', finishedAt: ago(80) } }),
      rec('sweep-c', [att(1, 'succeeded')]),
    ],
    expect: { 'sweep-a': 'noop finished', 'sweep-b': 'noop finished', 'sweep-c': 'noop finished' },
    summary: { noop: 3 },
  },
  // --- replace -------------------------------------------------------------------------------
  {
    name: 'live with another specHash → replace spec-changed, next attempt, keeps the ids to stop',
    trials: [trial('a', 0, { specHash: 'h2' })],
    resources: [res('sweep-a', { attempt: 2 })],
    records: [rec('sweep-a', [att(1, 'interrupted'), att(2, 'running')])],
    expect: { 'sweep-a': 'replace spec-changed' },
    summary: { replace: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ previousSpecHash: 'h1', specHash: 'h2', attempt: 3, resources: ['i-sweep-a-0'] }),
  },
  {
    name: 'finished trial with a changed specHash → replace',
    trials: [trial('a', 0, { specHash: 'h2' })],
    records: [rec('sweep-a', [att(1, 'succeeded')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(80) } })],
    expect: { 'sweep-a': 'replace spec-changed' },
    summary: { replace: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a')).toMatchObject({ previousSpecHash: 'h1', attempt: 2 });
      expect(action(p, 'sweep-a').resources).toBeUndefined();
    },
  },
  {
    name: 'interrupted trial whose spec changed → replace, not resume',
    trials: [trial('a', 0, { specHash: 'h2' })],
    records: [rec('sweep-a', [att(1, 'interrupted', { step: 40 })], { checkpoint: { step: 40 } })],
    expect: { 'sweep-a': 'replace spec-changed' },
    summary: { replace: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a')).toMatchObject({ previousSpecHash: 'h1', attempt: 2 });
      expect(action(p, 'sweep-a').resumeFromStep).toBeUndefined();
    },
  },
  {
    name: 'failed trial whose spec changed → replace, not retry',
    trials: [trial('a', 0, { specHash: 'h2' })],
    records: [rec('sweep-a', [att(1, 'failed'), att(2, 'failed')])],
    expect: { 'sweep-a': 'replace spec-changed' },
    summary: { replace: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ previousSpecHash: 'h1', attempt: 3 }),
  },
  {
    // apply rewrote spec.json for h2, then the launch never produced an attempt: the last run is
    // still h1's, and its checkpoint must not be resumed under h2
    name: 'spec.json already rewritten but the last attempt ran another spec → replace',
    trials: [trial('a', 0, { specHash: 'h2' })],
    records: [rec('sweep-a', [att(1, 'interrupted')], { specHash: 'h2', checkpoint: { step: 10 } })],
    expect: { 'sweep-a': 'replace spec-changed' },
    summary: { replace: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ previousSpecHash: 'h1', attempt: 2 }),
  },
  // --- resume / retry ------------------------------------------------------------------------
  {
    name: 'interrupted with a complete checkpoint → resume from its step, next attempt',
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'interrupted'), att(2, 'interrupted', { step: 300 })], { checkpoint: { step: 250 } })],
    expect: { 'sweep-a': 'resume interrupted' },
    summary: { resume: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ attempt: 3, resumeFromStep: 250 }),
  },
  {
    name: 'interrupted without a checkpoint → retry interrupted-no-checkpoint',
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'interrupted', { step: 20 })])],
    expect: { 'sweep-a': 'retry interrupted-no-checkpoint' },
    summary: { retry: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a').attempt).toBe(2);
      expect(action(p, 'sweep-a').resumeFromStep).toBeUndefined();
    },
  },
  {
    name: 'interrupted with a checkpoint but checkpoint.resume never → retry from scratch',
    jobs: [policy({ resume: 'never' })],
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'interrupted')], { checkpoint: { step: 100 } })],
    expect: { 'sweep-a': 'retry interrupted-no-checkpoint' },
    summary: { retry: 1 },
    check: (p) => expect(action(p, 'sweep-a').resumeFromStep).toBeUndefined(),
  },
  {
    name: 'attempt still "running" in the store, nothing live → node-lost (resume with a checkpoint, retry without)',
    trials: [T0, T1, T2],
    records: [
      rec('sweep-a', [att(1, 'running')], { checkpoint: { step: 70 } }),
      rec('sweep-b', [att(1, 'failed'), att(2, 'starting')]),
      rec('sweep-c', [att(1, 'running')], { checkpoint: { step: 70 } }),
    ],
    jobs: [policy()],
    expect: { 'sweep-a': 'resume node-lost', 'sweep-b': 'retry node-lost', 'sweep-c': 'resume node-lost' },
    summary: { resume: 2, retry: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a')).toMatchObject({ attempt: 2, resumeFromStep: 70 });
      expect(action(p, 'sweep-b').attempt).toBe(3);
    },
  },
  {
    name: 'failed with retries left → retry failed; one more failure than retry.onFailure → retries-exhausted',
    jobs: [policy({ retryOnFailure: 1 })],
    trials: [T0, T1],
    records: [
      rec('sweep-a', [att(1, 'failed', { exitCode: 1 })]),
      rec('sweep-b', [att(1, 'failed'), att(2, 'failed')]),
    ],
    expect: { 'sweep-a': 'retry failed', 'sweep-b': 'noop retries-exhausted' },
    summary: { retry: 1, noop: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a').attempt).toBe(2);
      expect(action(p, 'sweep-b').attempt).toBeUndefined();
    },
  },
  {
    name: 'retry.onFailure 0: the first failure is final',
    jobs: [policy({ retryOnFailure: 0 })],
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'failed')], { result: { state: 'failed', specHash: 'h1', finishedAt: ago(80), exitCode: 2 } })],
    expect: { 'sweep-a': 'noop retries-exhausted' },
    summary: { noop: 1 },
  },
  {
    name: 'failures under an older spec do not use up the new spec\'s retries',
    jobs: [policy({ retryOnFailure: 1 })],
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'failed', { specHash: 'h0' }), att(2, 'failed', { specHash: 'h0' }), att(3, 'failed')])],
    expect: { 'sweep-a': 'retry failed' },
    summary: { retry: 1 },
    check: (p) => expect(action(p, 'sweep-a').attempt).toBe(4),
  },
  {
    name: 'a failed result.json over a status.json that never said so counts as a failure',
    jobs: [policy({ retryOnFailure: 1 })],
    trials: [T0, T1],
    records: [
      rec('sweep-a', [att(1, 'running')], { result: { state: 'failed', specHash: 'h1', finishedAt: ago(80) } }),
      rec('sweep-b', [att(1, 'failed'), att(2, 'running')], { result: { state: 'failed', specHash: 'h1', finishedAt: ago(70) } }),
    ],
    expect: { 'sweep-a': 'retry failed', 'sweep-b': 'noop retries-exhausted' },
    summary: { retry: 1, noop: 1 },
  },
  {
    // a failed result.json from attempt 1 stays after the retry; attempt 2 was then interrupted
    name: 'a result.json written before the last attempt started is history → resume',
    jobs: [policy({ retryOnFailure: 1 })],
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'failed'), att(2, 'interrupted')], { result: { state: 'failed', specHash: 'h1', finishedAt: ago(88) }, checkpoint: { step: 5 } })],
    expect: { 'sweep-a': 'resume interrupted' },
    summary: { resume: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ attempt: 3, resumeFromStep: 5 }),
  },
  {
    // finished under h1, replaced by h2 (result.json of h1 kept), h2's attempt interrupted
    name: 'a result.json of an older spec does not make the replaced run look changed again → resume',
    trials: [trial('a', 0, { specHash: 'h2' })],
    records: [rec('sweep-a', [att(1, 'succeeded'), att(2, 'interrupted', { specHash: 'h2' })], {
      specHash: 'h2', result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(85) }, checkpoint: { step: 9 },
    })],
    expect: { 'sweep-a': 'resume interrupted' },
    summary: { resume: 1 },
    check: (p) => expect(action(p, 'sweep-a')).toMatchObject({ attempt: 3, resumeFromStep: 9 }),
  },
  {
    name: 'interrupted more often than retry.onSpotInterruption → noop interruptions-exhausted',
    jobs: [policy({ retryOnInterruption: 2 })],
    trials: [T0, T1],
    records: [
      rec('sweep-a', [att(1, 'interrupted'), att(2, 'interrupted'), att(3, 'interrupted')], { checkpoint: { step: 1 } }),
      // exactly at the limit: one more resume is allowed
      rec('sweep-b', [att(1, 'interrupted'), att(2, 'interrupted')], { checkpoint: { step: 1 } }),
    ],
    expect: { 'sweep-a': 'noop interruptions-exhausted', 'sweep-b': 'resume interrupted' },
    summary: { noop: 1, resume: 1 },
  },
  {
    name: 'node losses count as interruptions',
    jobs: [policy({ retryOnInterruption: 1 })],
    trials: [T0],
    records: [rec('sweep-a', [att(1, 'interrupted'), att(2, 'running')])],
    expect: { 'sweep-a': 'noop interruptions-exhausted' },
    summary: { noop: 1 },
  },
  // --- stop ----------------------------------------------------------------------------------
  {
    name: 'early-stopped by its runner while still live → stop early-stopped',
    trials: [T0, T1],
    resources: [res('sweep-a', { attempt: 2 }), res('sweep-b')],
    records: [
      rec('sweep-a', [att(1, 'interrupted'), att(2, 'early-stopped')]),
      rec('sweep-b', [att(1, 'running')], { result: { state: 'early-stopped', specHash: 'h1', finishedAt: ago(1) } }),
    ],
    expect: { 'sweep-a': 'stop early-stopped', 'sweep-b': 'stop early-stopped' },
    summary: { stop: 2 },
    check: (p) => {
      expect(action(p, 'sweep-a').resources).toEqual(['i-sweep-a-0']);
      expect(action(p, 'sweep-a').attempt).toBeUndefined();
    },
  },
  {
    // a's node outlived its finished attempt by 10 minutes; b's attempt ended a minute ago (its node
    // is powering off); c's node is already going
    name: 'a machine that outlived its attempt by more than IDLE_AFTER_MS → stop idle',
    trials: [T0, T1, trial('c', 2)],
    resources: [res('sweep-a'), res('sweep-b'), res('sweep-c', { state: 'stopping' })],
    records: [
      rec('sweep-a', [att(1, 'succeeded', { updatedAt: ago(10) })], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(10) } }),
      rec('sweep-b', [att(1, 'succeeded', { updatedAt: ago(1) })], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(1) } }),
      rec('sweep-c', [att(1, 'interrupted', { updatedAt: ago(10) })]),
    ],
    expect: { 'sweep-a': 'stop idle', 'sweep-b': 'noop running', 'sweep-c': 'noop running' },
    summary: { stop: 1, noop: 2 },
  },
  {
    // h1 was early-stopped, then the spec changed and h2's attempt 2 is live before it wrote status
    name: 'an early-stopped record from before a replace does not stop the new run',
    trials: [trial('a', 0, { specHash: 'h2' })],
    resources: [res('sweep-a', { specHash: 'h2', attempt: 2, launchedAt: ago(2) })],
    records: [rec('sweep-a', [att(1, 'early-stopped')], { specHash: 'h2', result: { state: 'early-stopped', specHash: 'h1', finishedAt: ago(85) } })],
    expect: { 'sweep-a': 'noop running' },
    summary: { noop: 1 },
  },
  {
    name: 'live past limits.maxDuration (over all attempts of this spec) with onExceed stop → stop max-duration',
    jobs: [policy({ maxDurationMs: 60 * 60_000 })],
    trials: [T0, T1],
    // a: 40 min now + 25 min in attempt 1 = 65 min; b: 40 min now, an old spec's 25 min do not count
    resources: [res('sweep-a', { attempt: 2, launchedAt: ago(40) }), res('sweep-b', { attempt: 2, launchedAt: ago(40) })],
    records: [
      rec('sweep-a', [att(1, 'interrupted', { startedAt: ago(90), updatedAt: ago(65) }), att(2, 'running', { startedAt: ago(40), updatedAt: ago(1) })]),
      rec('sweep-b', [att(1, 'succeeded', { specHash: 'h0', startedAt: ago(90), updatedAt: ago(65) }), att(2, 'running', { startedAt: ago(40), updatedAt: ago(1) })]),
    ],
    expect: { 'sweep-a': 'stop max-duration', 'sweep-b': 'noop running' },
    summary: { stop: 1, noop: 1 },
    check: (p) => expect(action(p, 'sweep-a').resources).toEqual(['i-sweep-a-0']),
  },
  {
    name: 'past maxDuration with onExceed warn → keeps running, warning only',
    jobs: [policy({ maxDurationMs: 60 * 60_000, onExceed: 'warn' })],
    trials: [T0],
    resources: [res('sweep-a', { launchedAt: ago(61) })],
    records: [rec('sweep-a', [att(1, 'running', { startedAt: ago(61) })])],
    expect: { 'sweep-a': 'noop running' },
    summary: { noop: 1 },
    check: (p) => expect(p.warnings).toEqual([expect.stringMatching(/sweep-a has run longer than its maxDuration \(onExceed: warn\)/)]),
  },
  {
    // stopping it for time comes back as an interrupted attempt: resuming would only be stopped again
    name: 'not live, its whole maxDuration used → noop max-duration instead of resume (warn: resume with a warning)',
    jobs: [policy({ maxDurationMs: 60 * 60_000 }), policy({ job: 'warned', maxDurationMs: 60 * 60_000, onExceed: 'warn' })],
    trials: [T0, trial('a', 0, { job: 'warned' })],
    records: [
      rec('sweep-a', [att(1, 'interrupted', { startedAt: ago(70), updatedAt: ago(5) })], { checkpoint: { step: 3 } }),
      rec('warned-a', [att(1, 'interrupted', { startedAt: ago(70), updatedAt: ago(5) })], { checkpoint: { step: 3 } }),
    ],
    expect: { 'sweep-a': 'noop max-duration', 'warned-a': 'resume interrupted' },
    summary: { noop: 1, resume: 1 },
    check: (p) => expect(p.warnings).toEqual([expect.stringContaining('warned-a has run longer than its maxDuration')]),
  },
  {
    // the new spec is a new run with its own time, and replace stops the old one anyway
    name: 'live with a changed spec and also early-stopped / over maxDuration → replace',
    jobs: [policy({ maxDurationMs: 60 * 60_000 })],
    trials: [trial('a', 0, { specHash: 'h2' }), trial('b', 1, { specHash: 'h2' })],
    resources: [res('sweep-a', { launchedAt: ago(90) }), res('sweep-b')],
    records: [rec('sweep-a', [att(1, 'running')]), rec('sweep-b', [att(1, 'early-stopped')])],
    expect: { 'sweep-a': 'replace spec-changed', 'sweep-b': 'replace spec-changed' },
    summary: { replace: 2 },
  },
  {
    name: 'stopOnFailure: a trial out of retries halts the sweep (live → stop, unlaunched → noop halted)',
    jobs: [policy({ stopOnFailure: true, retryOnFailure: 0 })],
    trials: [T0, T1, T2, T3, trial('e', 4, { specHash: 'h2' }), trial('f', 5)],
    resources: [res('sweep-b'), res('sweep-e', { launchedAt: ago(5) })],
    records: [
      rec('sweep-a', [att(1, 'failed')]),
      rec('sweep-b', [att(1, 'running')]),
      rec('sweep-d', [att(1, 'interrupted')], { checkpoint: { step: 4 } }),
      rec('sweep-f', [att(1, 'succeeded')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(5) } }),
    ],
    expect: {
      'sweep-a': 'noop retries-exhausted', 'sweep-b': 'stop stop-on-failure', 'sweep-c': 'noop halted-on-failure',
      'sweep-d': 'noop halted-on-failure', 'sweep-e': 'stop stop-on-failure', 'sweep-f': 'noop finished',
    },
    summary: { noop: 4, stop: 2 },
    check: (p) => {
      expect(action(p, 'sweep-e').resources).toEqual(['i-sweep-e-0']);
      expect(action(p, 'sweep-e').previousSpecHash).toBeUndefined();
      expect(action(p, 'sweep-e').attempt).toBeUndefined();
      // a halted trial launches nothing, so it shows no attempt or checkpoint
      expect(action(p, 'sweep-d').attempt).toBeUndefined();
      expect(action(p, 'sweep-d').resumeFromStep).toBeUndefined();
    },
  },
  {
    name: 'without stopOnFailure an exhausted trial halts nothing',
    jobs: [policy({ stopOnFailure: false, retryOnFailure: 0 })],
    trials: [T0, T1, T2],
    resources: [res('sweep-b')],
    records: [rec('sweep-a', [att(1, 'failed')]), rec('sweep-b', [att(1, 'running')])],
    expect: { 'sweep-a': 'noop retries-exhausted', 'sweep-b': 'noop running', 'sweep-c': 'create new' },
    summary: { noop: 2, create: 1 },
  },
  {
    name: 'stopOnFailure with a failure that still has retries: no halt',
    jobs: [policy({ stopOnFailure: true, retryOnFailure: 1 })],
    trials: [T0, T1],
    records: [rec('sweep-a', [att(1, 'failed')])],
    expect: { 'sweep-a': 'retry failed', 'sweep-b': 'create new' },
    summary: { retry: 1, create: 1 },
  },
  // --- maxParallel ---------------------------------------------------------------------------
  {
    name: 'maxParallel: running trials hold slots, launches beyond the free slots wait (in index order)',
    jobs: [policy({ maxParallel: 3 })],
    trials: [T0, T1, T2, T3, T4],
    resources: [res('sweep-a'), res('sweep-c')],
    records: [rec('sweep-d', [att(1, 'interrupted')], { checkpoint: { step: 8 } })],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'create new', 'sweep-c': 'noop running', 'sweep-d': 'wait max-parallel', 'sweep-e': 'wait max-parallel' },
    summary: { noop: 2, create: 1, wait: 2 },
    check: (p) => {
      // a waiting launch keeps what it will do once a slot frees
      expect(action(p, 'sweep-d')).toMatchObject({ attempt: 2, resumeFromStep: 8 });
      expect(action(p, 'sweep-e').attempt).toBe(1);
    },
  },
  {
    name: 'maxParallel: replacing a live trial keeps its slot; finished and exhausted trials hold none',
    jobs: [policy({ maxParallel: 2, retryOnFailure: 0 })],
    trials: [trial('a', 0, { specHash: 'h2' }), T1, T2, T3, T4],
    resources: [res('sweep-a')],
    records: [
      rec('sweep-b', [att(1, 'succeeded')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(5) } }),
      rec('sweep-c', [att(1, 'failed')]),
    ],
    expect: { 'sweep-a': 'replace spec-changed', 'sweep-b': 'noop finished', 'sweep-c': 'noop retries-exhausted', 'sweep-d': 'create new', 'sweep-e': 'wait max-parallel' },
    summary: { replace: 1, noop: 2, create: 1, wait: 1 },
  },
  {
    name: 'maxParallel: a replace of a non-live (finished) trial needs a free slot',
    jobs: [policy({ maxParallel: 1 })],
    trials: [T0, trial('b', 1, { specHash: 'h2' })],
    resources: [res('sweep-a')],
    records: [rec('sweep-b', [att(1, 'succeeded')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(5) } })],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'wait max-parallel' },
    summary: { noop: 1, wait: 1 },
    check: (p) => expect(action(p, 'sweep-b')).toMatchObject({ previousSpecHash: 'h1', attempt: 2 }),
  },
  {
    name: 'maxParallel: a trial being stopped frees its slot in the same pass',
    jobs: [policy({ maxParallel: 1 })],
    trials: [T0, T1],
    resources: [res('sweep-a')],
    records: [rec('sweep-a', [att(1, 'early-stopped')])],
    expect: { 'sweep-a': 'stop early-stopped', 'sweep-b': 'create new' },
    summary: { stop: 1, create: 1 },
  },
  {
    name: 'maxParallel: already over the limit (maxParallel lowered) keeps the live ones, launches nothing',
    jobs: [policy({ maxParallel: 1 })],
    trials: [T0, T1, T2],
    resources: [res('sweep-a'), res('sweep-b')],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'noop running', 'sweep-c': 'wait max-parallel' },
    summary: { noop: 2, wait: 1 },
  },
  {
    name: 'several jobs, each with its own maxParallel',
    jobs: [policy({ job: 'one', maxParallel: 1 }), policy({ job: 'two', maxParallel: 2 }), policy({ project: 'other', job: 'one', maxParallel: 3 })],
    trials: [
      trial('a', 0, { job: 'one' }), trial('b', 1, { job: 'one' }),
      trial('a', 0, { job: 'two' }), trial('b', 1, { job: 'two' }), trial('c', 2, { job: 'two' }),
      trial('a', 0, { job: 'one', project: 'other' }), trial('b', 1, { job: 'one', project: 'other' }),
    ],
    resources: [res('two-a')],
    // the same job name in another project is another job, with its own slots
    expect: {
      'one-a': 'create new', 'one-b': 'wait max-parallel', 'two-a': 'noop running', 'two-b': 'create new', 'two-c': 'wait max-parallel',
      'other/one-a': 'create new', 'other/one-b': 'create new',
    },
    summary: { create: 4, wait: 2, noop: 1 },
    check: (p) => {
      expect(p.jobs.map((j) => `${j.project}/${j.job}:${j.trials}`)).toEqual(['lab/one:2', 'lab/two:3', 'other/one:2']);
    },
  },
  // --- cost limit ----------------------------------------------------------------------------
  {
    name: 'cost limit reached: live trials stop (a stale one too, not replace), launches wait cost-limit',
    jobs: [policy({ costLimitUSD: 10 })],
    trials: [T0, trial('b', 1, { specHash: 'h2' }), T2, T3, T4],
    resources: [res('sweep-a'), res('sweep-b')],
    records: [
      rec('sweep-a', [att(1, 'running', { costUSD: 4 })]),
      rec('sweep-b', [att(1, 'running', { costUSD: 3.5 })]),
      rec('sweep-c', [att(1, 'interrupted', { costUSD: 2.5 })], { checkpoint: { step: 1 } }),
      rec('sweep-d', [att(1, 'succeeded', { costUSD: 0 })], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(5) } }),
    ],
    expect: { 'sweep-a': 'stop cost-limit', 'sweep-b': 'stop cost-limit', 'sweep-c': 'wait cost-limit', 'sweep-d': 'noop finished', 'sweep-e': 'wait cost-limit' },
    summary: { stop: 2, wait: 2, noop: 1 },
    check: (p) => {
      expect(action(p, 'sweep-b')).toMatchObject({ specHash: 'h2', resources: ['i-sweep-b-0'] });
      expect(action(p, 'sweep-b').previousSpecHash).toBeUndefined();
      expect(action(p, 'sweep-b').attempt).toBeUndefined();
      expect(p.jobs).toEqual([{ project: 'lab', job: 'sweep', trials: 5, spentUSD: 10, costLimitUSD: 10 }]);
      expect(p.warnings).toEqual(['job sweep: spent $10.00 of its $10.00 limit']);
    },
  },
  {
    name: 'cost limit with onExceed warn: nothing stops, launches go on, one warning',
    jobs: [policy({ costLimitUSD: 5, onExceed: 'warn' })],
    trials: [T0, T1],
    resources: [res('sweep-a')],
    records: [rec('sweep-a', [att(1, 'running', { costUSD: 7 })])],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'create new' },
    summary: { noop: 1, create: 1 },
    check: (p) => expect(p.warnings).toEqual(['job sweep: spent $7.00 of its $5.00 limit (onExceed: warn, nothing is stopped)']),
  },
  {
    name: 'under the cost limit: spend of every attempt counts, nothing stops',
    jobs: [policy({ costLimitUSD: 10 })],
    trials: [T0, T1],
    resources: [res('sweep-a', { attempt: 2 })],
    records: [rec('sweep-a', [att(1, 'interrupted', { costUSD: 3, specHash: 'h0' }), att(2, 'running', { costUSD: 2 })])],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'create new' },
    summary: { noop: 1, create: 1 },
    check: (p) => {
      expect(p.jobs[0]!.spentUSD).toBe(5);
      expect(p.warnings).toEqual([]);
    },
  },
  // --- orphans -------------------------------------------------------------------------------
  {
    name: 'orphaned resources with --prune → one delete per trial listing all its ids; other projects untouched',
    prune: true,
    trials: [T0],
    resources: [
      res('sweep-zz', { id: 'i-9', nodeRank: 1, specHash: 'h7' }), res('sweep-zz', { id: 'i-10', nodeRank: 0, specHash: 'h7' }),
      res('oldjob-x', { id: 'i-5' }),
      res('sweep-a', { project: 'elsewhere', id: 'i-foreign' }), res('sweep-q', { project: 'elsewhere', id: 'i-foreign-2' }),
    ],
    expect: { 'sweep-a': 'create new', 'sweep-zz': 'delete orphaned', 'oldjob-x': 'delete orphaned' },
    summary: { create: 1, delete: 2 },
    check: (p) => {
      expect(p.actions.filter((a) => a.kind === 'delete')).toEqual([
        { kind: 'delete', reason: 'orphaned', project: 'lab', job: 'oldjob', trial: 'oldjob-x', parameters: {}, specHash: 'h1', resources: ['i-5'] },
        { kind: 'delete', reason: 'orphaned', project: 'lab', job: 'sweep', trial: 'sweep-zz', parameters: {}, specHash: 'h7', resources: ['i-10', 'i-9'] },
      ]);
      expect(p.actions.every((a) => a.project === 'lab')).toBe(true);
      expect(p.warnings).toEqual([]);
    },
  },
  {
    name: 'orphaned resources without --prune → no action, a warning each',
    trials: [T0],
    resources: [res('sweep-zz'), res('sweep-zz', { nodeRank: 1 }), res('sweep-q', { project: 'elsewhere' })],
    expect: { 'sweep-a': 'create new' },
    summary: { create: 1 },
    check: (p) => expect(p.warnings).toEqual(['trial sweep-zz (job sweep) is running but in no spec; plan with --prune to delete it']),
  },
  {
    name: 'an orphan left running (no --prune) holds a slot of its job; pruned, it frees it',
    jobs: [policy({ maxParallel: 2 })],
    trials: [T0, T1, T2],
    resources: [res('sweep-a'), res('sweep-old')],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'wait max-parallel', 'sweep-c': 'wait max-parallel' },
    summary: { noop: 1, wait: 2 },
  },
  {
    name: 'an orphan deleted with --prune frees its slot',
    prune: true,
    jobs: [policy({ maxParallel: 2 })],
    trials: [T0, T1, T2],
    resources: [res('sweep-a'), res('sweep-old')],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'create new', 'sweep-c': 'wait max-parallel', 'sweep-old': 'delete orphaned' },
    summary: { noop: 1, create: 1, wait: 1, delete: 1 },
  },
  // --- multi-node ----------------------------------------------------------------------------
  {
    name: 'multi-node trials: several resources of one trial → one action listing all ids sorted',
    jobs: [policy({ maxParallel: 2 })],
    trials: [T0, trial('b', 1, { specHash: 'h2' }), T2],
    resources: [
      res('sweep-a', { id: 'i-a3', nodeRank: 2 }), res('sweep-a', { id: 'i-a1', nodeRank: 0 }), res('sweep-a', { id: 'i-a2', nodeRank: 1 }),
      res('sweep-b', { id: 'i-b2', nodeRank: 1, attempt: 4 }), res('sweep-b', { id: 'i-b1', nodeRank: 0, attempt: 4 }),
    ],
    records: [rec('sweep-b', [att(1, 'interrupted'), att(2, 'interrupted'), att(3, 'interrupted')])],
    expect: { 'sweep-a': 'noop running', 'sweep-b': 'replace spec-changed', 'sweep-c': 'wait max-parallel' },
    summary: { noop: 1, replace: 1, wait: 1 },
    check: (p) => {
      expect(action(p, 'sweep-a').resources).toEqual(['i-a1', 'i-a2', 'i-a3']);
      // the live attempt 4 has not written its status yet: the replacement is attempt 5, not 4
      expect(action(p, 'sweep-b')).toMatchObject({ resources: ['i-b1', 'i-b2'], attempt: 5, previousSpecHash: 'h1' });
    },
  },
  // --- schedules (the planner sees each trial's slot; older slots are older runs) ------------
  {
    name: 'concurrencyPolicy Forbid: the new run waits while the older one still runs',
    jobs: [policy({ schedule: { concurrencyPolicy: 'Forbid', due: { slot: '20260301t1200', by: 'cron' } } })],
    trials: [trial('old', 0, { slot: '20260228t1200' }), trial('new', 1, { slot: '20260301t1200' })],
    resources: [res('sweep-old')],
    records: [rec('sweep-old', [att(1, 'running')])],
    expect: { 'sweep-old': 'noop running', 'sweep-new': 'wait schedule-forbid' },
    summary: { noop: 1, wait: 1 },
  },
  {
    name: 'concurrencyPolicy Replace: the older run is stopped, the new one created',
    jobs: [policy({ schedule: { concurrencyPolicy: 'Replace', due: { slot: '20260301t1200', by: 'cron' } } })],
    trials: [trial('old', 0, { slot: '20260228t1200' }), trial('new', 1, { slot: '20260301t1200' })],
    resources: [res('sweep-old')],
    records: [rec('sweep-old', [att(1, 'running')])],
    expect: { 'sweep-old': 'stop schedule-replaced', 'sweep-new': 'create new' },
    summary: { stop: 1, create: 1 },
  },
];

describe('plan(): table', () => {
  it.each(rows)('$name', (row) => {
    const desired: Desired = { jobs: row.jobs ?? [policy()], trials: row.trials };
    const observed: Observed = { resources: row.resources ?? [], records: row.records ?? [] };
    const p = plan(desired, observed, { prune: row.prune ?? false }, NOW);
    expect(byTrial(p)).toEqual(row.expect);
    expect(p.actions).toHaveLength(Object.keys(row.expect).length);
    const summary = Object.fromEntries(ACTION_KINDS.map((k) => [k, row.summary[k] ?? 0]));
    expect(p.summary).toEqual(summary);
    expect(p.createdAt).toBe(NOW.toISOString());
    expect(p.formatVersion).toBe(1);
    expect(p.options).toEqual({ prune: row.prune ?? false });
    expect(hasChanges(p)).toBe(p.actions.some((a) => !['noop', 'wait'].includes(a.kind)));
    row.check?.(p);
  });

  it('covers every action kind and every reason', () => {
    const seen = new Set(rows.flatMap((r) => Object.values(r.expect)));
    for (const k of ACTION_KINDS) expect([...seen].some((s) => s.startsWith(`${k} `)), k).toBe(true);
    // `destroyed` comes from `trainctl destroy`, never from the planner
    for (const r of ACTION_REASONS.filter((x) => x !== 'destroyed')) expect([...seen].some((s) => s.endsWith(` ${r}`)), r).toBe(true);
  });
});

/** A world with something of everything, for the whole-plan properties. */
function busyWorld(): { desired: Desired; observed: Observed } {
  const jobs = [policy({ maxParallel: 3, costLimitUSD: 100 }), policy({ job: 'other', maxParallel: 1, stopOnFailure: true, retryOnFailure: 0 })];
  const trials = [T0, T1, trial('c', 2, { specHash: 'h2' }), T3, T4, trial('a', 0, { job: 'other' }), trial('b', 1, { job: 'other' })];
  const resources = [
    res('sweep-a', { id: 'i-a1', nodeRank: 1 }), res('sweep-a', { id: 'i-a0' }), res('sweep-c'), res('sweep-gone'),
    res('other-b'), res('x-y', { project: 'elsewhere' }),
  ];
  const records = [
    rec('sweep-a', [att(1, 'running', { step: 10, costUSD: 1.25 })]),
    rec('sweep-b', [att(1, 'interrupted', { costUSD: 2 })], { checkpoint: { step: 3 } }),
    rec('sweep-c', [att(1, 'running', { costUSD: 0.5 })]),
    rec('sweep-d', [att(1, 'failed', { costUSD: 0.25 })]),
    rec('other-a', [att(1, 'failed')]),
    rec('other-b', [att(1, 'running')]),
  ];
  return { desired: { jobs, trials }, observed: { resources, records } };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('plan(): pure and deterministic', () => {
  it('gives deep-equal plans for the same inputs and does not mutate them', () => {
    const { desired, observed } = busyWorld();
    const before = structuredClone({ desired, observed });
    deepFreeze(desired);
    deepFreeze(observed);
    const a = plan(desired, observed, { prune: true }, NOW);
    const b = plan(desired, observed, { prune: true }, NOW);
    expect(a).toEqual(b);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect({ desired, observed }).toEqual(before);
    // mutating a plan does not reach the inputs or a later plan
    a.actions[0]!.parameters = { changed: true };
    expect(plan(desired, observed, { prune: true }, NOW)).toEqual(b);
    expect(byTrial(a)).toEqual({
      'sweep-a': 'noop running', 'sweep-b': 'resume interrupted', 'sweep-c': 'replace spec-changed', 'sweep-d': 'wait max-parallel',
      'sweep-e': 'wait max-parallel', 'other-a': 'noop retries-exhausted', 'other-b': 'stop stop-on-failure', 'sweep-gone': 'delete orphaned',
    });
  });

  it('does not depend on the order of the observed world or the desired trials', () => {
    const { desired, observed } = busyWorld();
    const base = plan(desired, observed, { prune: false }, NOW);
    for (let seed = 1; seed <= 20; seed++) {
      const d: Desired = { jobs: desired.jobs, trials: shuffled(desired.trials, seed) };
      const o: Observed = { resources: shuffled(observed.resources, seed + 100), records: shuffled(observed.records, seed + 200) };
      expect(plan(d, o, { prune: false }, NOW)).toEqual(base);
    }
  });

  it('depends on the clock only through durations and createdAt', () => {
    const { desired, observed } = busyWorld();
    const a = plan(desired, observed, { prune: false }, NOW);
    const b = plan(desired, observed, { prune: false }, new Date(NOW.getTime() + 3_600_000));
    expect({ ...b, createdAt: a.createdAt }).toEqual(a);
  });
});

describe('observedDigest', () => {
  const { observed } = busyWorld();
  const digest = observedDigest(observed);

  it('is a short hex digest that ignores order', () => {
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    for (let seed = 1; seed <= 10; seed++) {
      expect(observedDigest({ resources: shuffled(observed.resources, seed), records: shuffled(observed.records, seed + 7) })).toBe(digest);
    }
    expect(plan(busyWorld().desired, observed, { prune: false }, NOW).observedDigest).toBe(digest);
  });

  it('ignores heartbeat churn: step, updatedAt, cost, pending → running, the checkpoint step', () => {
    const churned = structuredClone(observed);
    for (const r of churned.records) {
      for (const a of r.attempts) { a.step = (a.step ?? 0) + 500; a.updatedAt = NOW.toISOString(); a.costUSD += 3.75; }
      if (r.checkpoint) r.checkpoint.step += 100;
    }
    churned.resources[0]!.state = 'pending';
    expect(observedDigest(churned)).toBe(digest);
  });

  it('changes when a resource appears, goes, or starts stopping', () => {
    const more = structuredClone(observed);
    more.resources.push(res('sweep-d'));
    expect(observedDigest(more)).not.toBe(digest);
    const fewer = structuredClone(observed);
    fewer.resources.pop();
    expect(observedDigest(fewer)).not.toBe(digest);
    const stopping = structuredClone(observed);
    stopping.resources[0]!.state = 'stopping';
    expect(observedDigest(stopping)).not.toBe(digest);
  });

  it('changes when an attempt changes state or appears, a result or a checkpoint appears, or spec.json changes', () => {
    const variants: ((o: Observed) => void)[] = [
      (o) => { o.records[0]!.attempts[0]!.state = 'interrupted'; },
      (o) => { o.records[0]!.attempts.push(att(2, 'starting')); },
      (o) => { o.records[0]!.result = { state: 'succeeded', specHash: 'h1', finishedAt: ago(0) }; },
      (o) => { o.records[0]!.checkpoint = { step: 1 }; },
      (o) => { o.records[0]!.specHash = 'h9'; },
      (o) => { o.records.push(rec('sweep-e', [att(1, 'starting')])); },
    ];
    const seen = new Set([digest]);
    for (const change of variants) {
      const o = structuredClone(observed);
      change(o);
      const d = observedDigest(o);
      expect(seen.has(d)).toBe(false);
      seen.add(d);
    }
  });
});

describe('hasChanges', () => {
  const world = (over: Partial<Row>) => plan({ jobs: [policy({ maxParallel: 1 })], trials: over.trials ?? [] }, { resources: over.resources ?? [], records: over.records ?? [] }, { prune: over.prune ?? false }, NOW);

  it('is false when every action is noop or wait', () => {
    const p = world({ trials: [T0, T1], resources: [res('sweep-a'), res('sweep-orphan')] });
    expect(p.actions.map((a) => a.kind)).toEqual(['noop', 'wait']);
    expect(hasChanges(p)).toBe(false);
    expect(hasChanges(world({}))).toBe(false);
  });

  it('is true for each changing kind', () => {
    expect(hasChanges(world({ trials: [T0] }))).toBe(true);
    expect(hasChanges(world({ trials: [T0], resources: [res('sweep-a'), res('sweep-orphan')], prune: true }))).toBe(true);
    expect(hasChanges(world({ trials: [T0], records: [rec('sweep-a', [att(1, 'interrupted')], { checkpoint: { step: 1 } })] }))).toBe(true);
    expect(hasChanges(world({ trials: [trial('a', 0, { specHash: 'h2' })], resources: [res('sweep-a')] }))).toBe(true);
  });
});
