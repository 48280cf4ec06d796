// Schedules, pure and table-driven: cron fire times over DST changes and month ends (through the
// real cron-parser), which slot is due, trial ids per slot, and the concurrency policies as the
// planner applies them.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { plan, type Desired, type DesiredTrial, type JobPolicy } from '../../src/core/plan.js';
import type { Observed, ObservedResource, TrialRecord } from '../../src/core/observed.js';
import { decideSchedule, latestFireTime, slotOf, slotOfTrialId, slotTime, type CronTimes, type ScheduleInput } from '../../src/core/schedule.js';
import { cronTimes, newestMatching } from '../../src/engine/schedule.js';
import { expandJob } from '../../src/spec/expand.js';
import { loadText } from '../../src/spec/load.js';
import { repoRoot } from '../helpers.js';

const iso = (d: Date | undefined) => d?.toISOString().replace('.000Z', 'Z');

describe('slots', () => {
  it('are the UTC minute, sortable, and round-trip', () => {
    expect(slotOf(new Date('2026-11-25T02:00:59.999Z'))).toBe('20261125t0200');
    expect(iso(slotTime('20261125t0200'))).toBe('2026-11-25T02:00:00Z');
    expect(['20261125t0200', '20261124t2359', '20270101t0000'].sort()).toEqual(['20261124t2359', '20261125t0200', '20270101t0000']);
  });

  it.each([
    ['nightly', 'nightly-0446f601-20261125t0200', '20261125t0200'],
    ['nightly', 'nightly-0446f601', undefined],                   // unscheduled id
    ['nightly', 'other-0446f601-20261125t0200', undefined],       // another job
    ['night', 'nightly-0446f601-20261125t0200', undefined],       // a job whose name is a prefix
    ['a-20261125t0200', 'a-20261125t0200-0446f601', undefined],  // a job name that looks like a slot
  ])('slotOfTrialId(%s, %s) = %s', (job, id, slot) => {
    expect(slotOfTrialId(job, id)).toBe(slot);
  });
});

describe('latest cron fire time at or before now', () => {
  it.each([
    // spring forward in New York (2026-03-08): 02:00 does not exist, the 02:00 run fires at 03:00 EDT
    ['0 2 * * *', 'America/New_York', '2026-03-08T12:00:00Z', '2026-03-08T07:00:00Z'],
    ['0 2 * * *', 'America/New_York', '2026-03-08T06:59:00Z', '2026-03-07T07:00:00Z'],
    ['0 2 * * *', 'America/New_York', '2026-03-09T12:00:00Z', '2026-03-09T06:00:00Z'],
    ['30 2 * * *', 'America/New_York', '2026-03-08T08:00:00Z', '2026-03-08T07:30:00Z'],
    // fall back (2026-11-01): 02:00 happens once, in EST
    ['0 2 * * *', 'America/New_York', '2026-11-01T12:00:00Z', '2026-11-01T07:00:00Z'],
    ['0 2 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-10-31T06:00:00Z'],
    // 01:30 happens twice on fall-back day; the job fires at the first (EDT) only
    ['30 1 * * *', 'America/New_York', '2026-11-01T05:40:00Z', '2026-11-01T05:30:00Z'],
    ['30 1 * * *', 'America/New_York', '2026-11-01T06:45:00Z', '2026-11-01T05:30:00Z'],
    ['30 1 * * *', 'America/New_York', '2026-11-02T07:00:00Z', '2026-11-02T06:30:00Z'],
    // Europe: spring forward 2026-03-29 (02:15 → 03:15 CEST), fall back 2026-10-25
    ['15 2 * * *', 'Europe/Berlin', '2026-03-29T02:00:00Z', '2026-03-29T01:15:00Z'],
    ['30 2 * * *', 'Europe/Berlin', '2026-10-25T03:00:00Z', '2026-10-25T00:30:00Z'],
    // month ends: the 31st skips short months; L is the last day, leap years included
    ['0 0 31 * *', 'UTC', '2026-04-15T00:00:00Z', '2026-03-31T00:00:00Z'],
    ['0 0 31 * *', 'UTC', '2026-07-01T00:00:00Z', '2026-05-31T00:00:00Z'],
    ['0 0 L * *', 'UTC', '2026-03-15T00:00:00Z', '2026-02-28T00:00:00Z'],
    ['0 0 L * *', 'UTC', '2024-03-15T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['0 0 L * *', 'Europe/Berlin', '2026-03-15T00:00:00Z', '2026-02-27T23:00:00Z'],
    // a leap day only: found in the widest window
    ['0 0 29 2 *', 'UTC', '2027-06-01T00:00:00Z', '2024-02-29T00:00:00Z'],
    // every minute; a now exactly on a tick counts it
    ['* * * * *', 'UTC', '2026-11-25T12:34:56Z', '2026-11-25T12:34:00Z'],
    ['0 2 * * *', 'UTC', '2026-11-25T02:00:00Z', '2026-11-25T02:00:00Z'],
    ['0 2 * * 1-5', 'UTC', '2026-11-29T12:00:00Z', '2026-11-27T02:00:00Z'], // Sunday → Friday
  ])('%s in %s at %s → %s', async (cron, tz, now, expected) => {
    expect(iso(latestFireTime(await cronTimes(cron, tz), new Date(now)))).toBe(expected);
  });
});

/** A fake cron for decision tests: fires at the given times. */
function fires(...times: string[]): CronTimes {
  const ts = times.map((t) => new Date(t).getTime()).sort((a, b) => a - b);
  return { nextAfter: (t) => { const n = ts.find((x) => x > t.getTime()); return n === undefined ? undefined : new Date(n); } };
}
const DAILY = fires('2026-11-23T02:00:00Z', '2026-11-24T02:00:00Z', '2026-11-25T02:00:00Z', '2026-11-26T02:00:00Z');
const H = 3_600_000;

describe('which slot is due', () => {
  const base = (over: Partial<ScheduleInput>): ScheduleInput => ({ now: new Date('2026-11-25T02:05:00Z'), cron: { times: DAILY }, ran: [], live: [], ...over });

  it.each<[string, Partial<ScheduleInput>, { due?: string; by?: string; slots: string[]; missed?: string }]>([
    ['a new job runs its latest slot within the deadline', { cron: { times: DAILY, startingDeadlineMs: H } }, { due: '20261125t0200', by: 'cron', slots: ['20261125t0200'] }],
    ['a slot past its deadline is skipped, not run late', { now: new Date('2026-11-25T04:00:00Z'), cron: { times: DAILY, startingDeadlineMs: H } }, { slots: [], missed: '20261125t0200' }],
    ['with no deadline the latest slot runs until the next tick', { now: new Date('2026-11-26T01:59:00Z') }, { due: '20261125t0200', by: 'cron', slots: ['20261125t0200'] }],
    ['three missed ticks run once: the latest', { now: new Date('2026-11-25T03:00:00Z'), ran: ['20261122t0200'] }, { due: '20261125t0200', by: 'cron', slots: ['20261122t0200', '20261125t0200'] }],
    ['a slot that ran is not due again', { ran: ['20261125t0200'] }, { slots: ['20261125t0200'] }],
    ['older missed slots never run once a later one has', { now: new Date('2026-11-25T03:00:00Z'), ran: ['20261125t0200'], cron: { times: DAILY, startingDeadlineMs: 48 * H } }, { slots: ['20261125t0200'] }],
    ['a run after the tick (new data at 02:03) stands for it', { ran: ['20261125t0203'] }, { slots: ['20261125t0203'] }],
    ['live older runs stay wanted beside the due one', { live: ['20261123t0200', '20261124t0200'], ran: ['20261123t0200', '20261124t0200'] }, { due: '20261125t0200', by: 'cron', slots: ['20261123t0200', '20261124t0200', '20261125t0200'] }],
    ['new data after the last run is due, in the minute it landed',
      { cron: undefined, trigger: { newest: { key: 's3://b/in/day2.csv', etag: 'e2', lastModified: new Date('2026-11-25T01:30:42Z') } }, ran: ['20261124t0900'] },
      { due: '20261125t0130', by: 's3', slots: ['20261124t0900', '20261125t0130'] }],
    ['data older than the last run starts nothing',
      { cron: undefined, trigger: { newest: { key: 's3://b/in/day1.csv', etag: 'e1', lastModified: new Date('2026-11-24T08:59:00Z') } }, ran: ['20261124t0900'] },
      { slots: ['20261124t0900'] }],
    ['an empty prefix starts nothing', { cron: undefined, trigger: {} }, { slots: [] }],
    ['cron and new data both due: one run, in the later slot',
      { trigger: { newest: { key: 's3://b/x', etag: 'e', lastModified: new Date('2026-11-25T02:04:00Z') } } },
      { due: '20261125t0204', by: 's3', slots: ['20261125t0204'] }],
  ])('%s', (_name, over, want) => {
    const d = decideSchedule(base(over));
    expect(d.due?.slot).toBe(want.due);
    expect(d.due?.by).toBe(want.by);
    expect(d.slots).toEqual(want.slots);
    expect(d.missed?.slot).toBe(want.missed);
  });

  it('gives the next tick', () => {
    expect(iso(decideSchedule(base({})).next)).toBe('2026-11-26T02:00:00Z');
  });

  it('runs the fall-back day once with a real cron (30 1 * * * in New York)', async () => {
    const times = await cronTimes('30 1 * * *', 'America/New_York');
    const first = decideSchedule({ now: new Date('2026-11-01T05:31:00Z'), cron: { times }, ran: ['20261031t0530'], live: [] });
    expect(first.due?.slot).toBe('20261101t0530');
    const second = decideSchedule({ now: new Date('2026-11-01T06:31:00Z'), cron: { times }, ran: ['20261031t0530', '20261101t0530'], live: [] });
    expect(second.due).toBeUndefined();
  });

  it('runs the spring-forward day at 03:00 with a real cron (0 2 * * * in New York)', async () => {
    const times = await cronTimes('0 2 * * *', 'America/New_York');
    const d = decideSchedule({ now: new Date('2026-03-08T07:01:00Z'), cron: { times, startingDeadlineMs: 10 * 60_000 }, ran: ['20260307t0700'], live: [] });
    expect(d.due?.slot).toBe('20260308t0700');
  });
});

describe('trigger objects', () => {
  const at = (s: string) => new Date(s);
  it('picks the newest object matching the pattern, relative to the prefix', () => {
    const listed = [
      { rel: 'day1/data.csv', etag: 'a', lastModified: at('2026-11-24T01:00:00Z') },
      { rel: 'day2/data.csv', etag: 'b', lastModified: at('2026-11-25T01:00:00Z') },
      { rel: 'day2/_SUCCESS.tmp', etag: 'c', lastModified: at('2026-11-25T03:00:00Z') },
    ];
    expect(newestMatching(listed, '**/*.csv', 's3://bucket/in')).toEqual({ key: 's3://bucket/in/day2/data.csv', etag: 'b', lastModified: at('2026-11-25T01:00:00Z') });
    expect(newestMatching(listed, '**', 's3://bucket/in/')?.key).toBe('s3://bucket/in/day2/_SUCCESS.tmp');
    expect(newestMatching(listed, '*.parquet', 's3://bucket/in/')).toBeUndefined();
  });
});

describe('trials per slot', () => {
  const job = (name: string, schedule: boolean) => {
    const text = stringify({
      apiVersion: 'trainctl.dev/v1', kind: 'TrainJob', metadata: { name, project: 'lab' },
      spec: { code: { path: '.', command: 'python3 train.py --lr {lr}' }, hyperparameters: { parameters: { lr: [0.1, 0.01] } }, ...(schedule ? { schedule: { cron: '0 2 * * *' } } : {}) },
    });
    const { jobs, diagnostics } = loadText(text, 'job.yaml', { cwd: repoRoot, dir: repoRoot, defaultOutputUri: 'file:///tmp/trainctl-runs/' });
    expect(diagnostics).toEqual([]);
    return jobs[0]!;
  };

  it('repeat the job per slot with the slot in the id, the same specHash, slot-major order', () => {
    const plain = expandJob(job('nightly', false)).trials;
    const runs = expandJob(job('nightly', true), ['20261125t0200', '20261124t0200']).trials;
    expect(runs.map((t) => [t.id, t.index, t.slot])).toEqual([
      [`${plain[0]!.id}-20261124t0200`, 0, '20261124t0200'], [`${plain[1]!.id}-20261124t0200`, 1, '20261124t0200'],
      [`${plain[0]!.id}-20261125t0200`, 2, '20261125t0200'], [`${plain[1]!.id}-20261125t0200`, 3, '20261125t0200'],
    ]);
    expect(new Set(runs.map((t) => t.specHash))).toEqual(new Set(plain.map((t) => t.specHash)));
  });

  it('keep unscheduled ids unchanged, and a scheduled job with no slot wants nothing', () => {
    expect(expandJob(job('plain', false), ['20261125t0200']).trials.map((t) => t.id)).toEqual(expandJob(job('plain', false)).trials.map((t) => t.id));
    expect(expandJob(job('nightly', true)).trials).toEqual([]);
  });

  it('fit 63 characters and a store path component for the longest job name', () => {
    const name = `a${'b'.repeat(38)}c`;
    const [t] = expandJob(job(name, true), ['20261125t0200']).trials;
    expect(t!.id.length).toBeLessThanOrEqual(63);
    expect(t!.id).toMatch(/^[a-z0-9-]+$/);
    expect(slotOfTrialId(name, t!.id)).toBe('20261125t0200');
  });
});

describe('concurrency policies in the planner', () => {
  const at = '2026-11-25T02:00:00Z';
  const now = new Date('2026-11-25T02:05:00Z');
  const OLD = '20261124t0200';
  const NEW = '20261125t0200';
  const policy = (over: Partial<JobPolicy> = {}): JobPolicy => ({
    project: 'lab', job: 'nightly', maxParallel: 4, stopOnFailure: false, retryOnFailure: 0, retryOnInterruption: 3, resume: 'auto', onExceed: 'stop', ...over,
  });
  const trial = (slot: string, i: number): DesiredTrial => ({ id: `nightly-0000000${i}-${slot}`, job: 'nightly', project: 'lab', index: (slot === OLD ? 0 : 2) + i, parameters: { lr: i }, specHash: 'h', slot });
  const live = (slot: string, i: number): ObservedResource => ({ provider: 'local', id: `local-${i}-${slot}`, project: 'lab', job: 'nightly', trial: `nightly-0000000${i}-${slot}`, specHash: 'h', nodeRank: 0, attempt: 1, state: 'running', launchedAt: at });
  const record = (slot: string, i: number, state: 'running' | 'succeeded' | 'failed' | 'interrupted'): TrialRecord => ({
    project: 'lab', job: 'nightly', trial: `nightly-0000000${i}-${slot}`, specHash: 'h',
    attempts: [{ n: 1, specHash: 'h', state, startedAt: at, updatedAt: at, costUSD: 0 }],
    ...(state === 'succeeded' ? { result: { state, specHash: 'h', finishedAt: at } } : {}),
  });
  const run = (p: JobPolicy, observed: Observed) => {
    const desired: Desired = { jobs: [p], trials: [trial(OLD, 0), trial(OLD, 1), trial(NEW, 0), trial(NEW, 1)] };
    return plan(desired, observed, { prune: false }, now).actions.map((a) => `${a.trial.slice(-13) === OLD ? 'old' : 'new'}${a.trial.slice(15, 16)} ${a.kind} ${a.reason}`);
  };
  const sched = (concurrencyPolicy: 'Allow' | 'Forbid' | 'Replace') => ({ schedule: { concurrencyPolicy, due: { slot: NEW, by: 'cron' as const } } });
  // the older run: trial 0 still running, trial 1 interrupted without a checkpoint
  const going: Observed = { resources: [live(OLD, 0)], records: [record(OLD, 0, 'running'), record(OLD, 1, 'interrupted')] };

  it.each<[string, JobPolicy, Observed, string[]]>([
    ['Allow: both runs go on', policy(sched('Allow')), going,
      ['old0 noop running', 'old1 retry interrupted-no-checkpoint', 'new0 create new', 'new1 create new']],
    ['Forbid: the new run waits while the old one goes', policy(sched('Forbid')), going,
      ['old0 noop running', 'old1 retry interrupted-no-checkpoint', 'new0 wait schedule-forbid', 'new1 wait schedule-forbid']],
    ['Forbid: the new run starts once the old one is done', policy(sched('Forbid')), { resources: [], records: [record(OLD, 0, 'succeeded'), record(OLD, 1, 'succeeded')] },
      ['old0 noop finished', 'old1 noop finished', 'new0 create new', 'new1 create new']],
    ['Replace: the old run is stopped and its pending launches dropped', policy(sched('Replace')), going,
      ['old0 stop schedule-replaced', 'old1 noop schedule-replaced', 'new0 create new', 'new1 create new']],
    ['Replace: a stopped run frees its maxParallel slot', policy({ ...sched('Replace'), maxParallel: 1 }), going,
      ['old0 stop schedule-replaced', 'old1 noop schedule-replaced', 'new0 create new', 'new1 wait max-parallel']],
    ['stopOnFailure: an older run\'s failure does not halt the new one', policy({ ...sched('Allow'), stopOnFailure: true }), { resources: [], records: [record(OLD, 0, 'failed'), record(OLD, 1, 'succeeded')] },
      ['old0 noop retries-exhausted', 'old1 noop finished', 'new0 create new', 'new1 create new']],
  ])('%s', (_name, p, observed, want) => {
    expect(run(p, observed)).toEqual(want);
  });

  it('carries the schedule into the job summary', () => {
    const p = plan({ jobs: [policy(sched('Forbid'))], trials: [trial(NEW, 0)] }, { resources: [], records: [] }, { prune: false }, now);
    expect(p.jobs[0]!.schedule).toEqual({ concurrencyPolicy: 'Forbid', due: { slot: NEW, by: 'cron' } });
  });
});
