// The pure side of `trainctl resources`: spend per instance, the roll-ups, and the classification
// into zombies, orphans, idle GPUs and untagged training instances — a table of cases, clock given.
import { describe, expect, it } from 'vitest';
import {
  classifyInstances, inventoryRow, inventoryRows, isGpuInstanceType, summarize, trialKey,
  type FindingKind, type FindingReason, type InventoryInstance, type TrialKnowledge,
} from '../../src/core/insights.js';
import type { AttemptRecord, TrialRecord } from '../../src/core/observed.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

const managed = (id: string, trial: string, extra: Partial<InventoryInstance> = {}): InventoryInstance => ({
  id, region: 'us-east-1', state: 'running', instanceType: 'g5.xlarge', market: 'spot', launchedAt: ago(2 * HOUR),
  managed: true, project: 'vision', job: 'sweep', trial, specHash: 'h1', rank: 0, attempt: 1, ...extra,
});
const untagged = (id: string, extra: Partial<InventoryInstance> = {}): InventoryInstance => ({
  id, region: 'us-east-1', state: 'running', instanceType: 't3.micro', market: 'on-demand', launchedAt: ago(3 * HOUR), managed: false, ...extra,
});
const attempt = (n: number, state: AttemptRecord['state'], updatedAgo: number): AttemptRecord => ({
  n, specHash: 'h1', state, startedAt: ago(3 * HOUR), updatedAt: ago(updatedAgo), costUSD: 0,
});
const record = (trial: string, attempts: AttemptRecord[], extra: Partial<TrialRecord> = {}): TrialRecord => ({
  project: 'vision', job: 'sweep', trial, specHash: 'h1', attempts, ...extra,
});

/** Specs given for vision/sweep wanting t1…t3; the records given. */
function knowledge(records: TrialRecord[], opts: { specs?: boolean } = {}): TrialKnowledge {
  const specs = opts.specs ?? true;
  return {
    projects: new Set(specs ? ['vision'] : []),
    jobs: new Set(specs ? ['vision/sweep'] : []),
    trials: new Set(specs ? ['t1', 't2', 't3'].map((t) => trialKey('vision', 'sweep', t)) : []),
    records: new Map(records.map((r) => [trialKey(r.project, r.job, r.trial), r])),
  };
}

type Case = {
  name: string;
  instance: InventoryInstance;
  records?: TrialRecord[];
  specs?: boolean;
  expect: [FindingKind, FindingReason, string][];
};

const CASES: Case[] = [
  { name: 'a running trial with a fresh heartbeat is fine', instance: managed('i-1', 't1'), records: [record('t1', [attempt(1, 'running', 2 * MIN)])], expect: [] },
  {
    name: 'no heartbeat for 40 minutes is a zombie', instance: managed('i-1', 't1'), records: [record('t1', [attempt(1, 'running', 40 * MIN)])],
    expect: [['zombie', 'no-heartbeat', 'no heartbeat for 40m00s (last 2026-06-01T11:20:00.000Z; limit 15m00s)']],
  },
  {
    name: 'the latest attempt counts, not the first', instance: managed('i-1', 't1', { attempt: 2 }),
    records: [record('t1', [attempt(1, 'interrupted', 90 * MIN), attempt(2, 'running', 1 * MIN)])], expect: [],
  },
  {
    name: 'a heartbeat older than the launch: the launch starts the clock (grace while booting)',
    instance: managed('i-1', 't1', { launchedAt: ago(10 * MIN), attempt: 2 }), records: [record('t1', [attempt(1, 'interrupted', 60 * MIN)])], expect: [],
  },
  {
    name: 'never a heartbeat, launched 2 h ago', instance: managed('i-1', 't1'), records: [],
    expect: [['zombie', 'no-heartbeat', 'no heartbeat since it launched 2h00m ago (limit 15m00s)']],
  },
  {
    name: 'a pending instance is not judged by heartbeat', instance: managed('i-1', 't1', { state: 'pending' }), records: [], expect: [],
  },
  {
    name: 'running longer than 24 h with a fresh heartbeat is a zombie', instance: managed('i-1', 't1', { launchedAt: ago(25 * HOUR) }),
    records: [record('t1', [attempt(1, 'running', 1 * MIN)])], expect: [['zombie', 'running-too-long', 'running for 1d01h (limit 1d00h)']],
  },
  {
    name: 'without a spec: heartbeat unknown, only the age rule applies', specs: false, instance: managed('i-1', 'x9', { launchedAt: ago(30 * HOUR) }),
    expect: [['zombie', 'running-too-long', 'running for 1d06h (limit 1d00h); heartbeat unknown']],
  },
  { name: 'without a spec, a young instance: nothing (and no orphan verdict)', specs: false, instance: managed('i-1', 'x9'), expect: [] },
  {
    name: 'a trial in no spec and no store record is an orphan (and, silent, a zombie)', instance: managed('i-1', 'gone', { instanceType: 'c5.large' }),
    expect: [
      ['zombie', 'no-heartbeat', 'no heartbeat since it launched 2h00m ago (limit 15m00s)'],
      ['orphan', 'unknown-trial', 'trial gone is in no given spec of project vision and no store has a record of it'],
    ],
  },
  {
    name: 'a trial in no spec but with a store record is no orphan', instance: managed('i-1', 'old', { instanceType: 'c5.large' }),
    records: [record('old', [attempt(1, 'running', 1 * MIN)])], expect: [],
  },
  {
    name: 'another project (no spec given for it) is not judged for orphans', instance: managed('i-1', 'zz', { project: 'nlp', job: 'bert' }), expect: [],
  },
  {
    name: "a GPU instance whose trial ended 5 min ago is an idle GPU", instance: managed('i-1', 't3'),
    records: [record('t3', [attempt(1, 'succeeded', 5 * MIN)], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(5 * MIN) } })],
    expect: [['idle-gpu', 'trial-ended', 'trial t3 ended (succeeded) 5m00s ago; the GPU instance still runs']],
  },
  {
    name: 'an idle GPU silent for 20 min is a zombie too', instance: managed('i-1', 't3'),
    records: [record('t3', [attempt(1, 'failed', 20 * MIN)])],
    expect: [
      ['zombie', 'no-heartbeat', 'no heartbeat for 20m00s (last 2026-06-01T11:40:00.000Z; limit 15m00s)'],
      ['idle-gpu', 'trial-ended', 'trial t3 ended (failed) 20m00s ago; the GPU instance still runs'],
    ],
  },
  {
    name: 'a CPU instance whose trial ended is no idle GPU', instance: managed('i-1', 't3', { instanceType: 'c5.large' }),
    records: [record('t3', [attempt(1, 'succeeded', 5 * MIN)])], expect: [],
  },
  {
    name: 'a result of an earlier spec does not make a new attempt idle', instance: managed('i-1', 't3', { specHash: 'h2', attempt: 2, launchedAt: ago(10 * MIN) }),
    records: [record('t3', [attempt(1, 'succeeded', 60 * MIN)], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(60 * MIN) } })], expect: [],
  },
  {
    name: 'an untagged GPU instance looks like training', instance: untagged('i-u', { instanceType: 'p4d.24xlarge', name: 'box' }),
    expect: [['untagged-training', 'gpu-type', 'no trainctl:managed tag, GPU type p4d.24xlarge ("box"), running for 3h00m']],
  },
  {
    name: 'an untagged instance named for training looks like training', instance: untagged('i-u', { name: 'bert-Training-2' }),
    expect: [['untagged-training', 'name-says-train', 'no trainctl:managed tag, named "bert-Training-2", running for 3h00m']],
  },
  { name: 'an untagged web server is none of our business', instance: untagged('i-u', { name: 'web' }), expect: [] },
  {
    name: 'instances already going are not judged', instance: managed('i-1', 'gone', { state: 'shutting-down', launchedAt: ago(48 * HOUR) }), expect: [],
  },
];

describe('classifyInstances', () => {
  it.each(CASES)('$name', (c) => {
    const { findings } = classifyInstances([c.instance], knowledge(c.records ?? [], c.specs === undefined ? {} : { specs: c.specs }), { now: NOW });
    expect(findings.map((f) => [f.kind, f.reason, f.why])).toEqual(c.expect);
    for (const f of findings) {
      expect(f.cleanup).toBe(f.kind === 'zombie' || f.kind === 'orphan');
      expect(f.instance).toBe(c.instance.id);
    }
  });

  it('orders findings by kind, oldest first, and notes what it could not judge', () => {
    const instances = [
      untagged('i-u', { instanceType: 'g5.xlarge' }),
      managed('i-b', 'gone', { launchedAt: ago(1 * HOUR) }),
      managed('i-a', 'gone2', { launchedAt: ago(3 * HOUR) }),
      managed('i-n', 'b1', { project: 'nlp', job: 'bert' }),
    ];
    const { findings, notes } = classifyInstances(instances, knowledge([]), { now: NOW });
    expect(findings.map((f) => `${f.kind}:${f.instance}`)).toEqual(['zombie:i-a', 'zombie:i-b', 'orphan:i-a', 'orphan:i-b', 'untagged-training:i-u']);
    expect(notes).toEqual([
      'heartbeat unknown for nlp/bert: no spec given for it (pass -f <spec> to read its run store)',
      'orphans not judged in project nlp: no spec given (pass -f with every spec of a project)',
    ]);
  });

  it('takes the thresholds it is given', () => {
    const i = managed('i-1', 't1', { launchedAt: ago(3 * HOUR) });
    const know = knowledge([record('t1', [attempt(1, 'running', 10 * MIN)])]);
    expect(classifyInstances([i], know, { now: NOW }).findings).toEqual([]);
    expect(classifyInstances([i], know, { now: NOW, heartbeatTimeoutMs: 5 * MIN }).findings.map((f) => f.reason)).toEqual(['no-heartbeat']);
    expect(classifyInstances([i], know, { now: NOW, maxAgeMs: 2 * HOUR }).findings.map((f) => f.reason)).toEqual(['running-too-long']);
  });
});

describe('spend', () => {
  it('is price × hours since launch, unknown without a price or when stopped', () => {
    expect(inventoryRow(managed('i-1', 't1', { price: { usdPerHour: 0.4024, source: 'spot-live' } }), NOW)).toMatchObject({ ageMs: 2 * HOUR, spendUSD: 0.8048 });
    expect(inventoryRow(managed('i-1', 't1'), NOW).spendUSD).toBeNull();
    expect(inventoryRow(managed('i-1', 't1', { state: 'stopped', price: { usdPerHour: 1, source: 'table' } }), NOW).spendUSD).toBeNull();
  });

  it('rolls up per project, job, region and state with the burn rate of what bills', () => {
    const price = (usdPerHour: number) => ({ price: { usdPerHour, source: 'spot-live' as const } });
    const rows = inventoryRows([
      managed('i-1', 't1', price(1)),
      managed('i-2', 't2', { ...price(0.5), launchedAt: ago(4 * HOUR) }),
      managed('i-3', 'b1', { project: 'nlp', job: 'bert', region: 'eu-west-1' }),
      managed('i-4', 't3', { ...price(2), state: 'stopped' }),
    ], NOW);
    expect(rows.map((r) => r.id)).toEqual(['i-2', 'i-1', 'i-3', 'i-4']);
    const s = summarize(rows);
    expect(s.total).toEqual({ key: 'total', instances: 4, running: 3, hourlyUSD: 1.5, spendUSD: 4, unpriced: 1 });
    expect(s.byProject.map((g) => [g.key, g.instances, g.hourlyUSD, g.spendUSD, g.unpriced])).toEqual([['vision', 3, 1.5, 4, 0], ['nlp', 1, 0, 0, 1]]);
    expect(s.byJob.map((g) => g.key)).toEqual(['vision/sweep', 'nlp/bert']);
    expect(s.byRegion.map((g) => [g.key, g.instances])).toEqual([['us-east-1', 3], ['eu-west-1', 1]]);
    expect(s.byState.map((g) => [g.key, g.instances, g.running])).toEqual([['running', 3, 3], ['stopped', 1, 0]]);
  });

  it('knows GPU families', () => {
    expect(['g5.xlarge', 'p4d.24xlarge', 'g4dn.xlarge', 'c5.large', 't3.micro', 'gr6.4xlarge'].map(isGpuInstanceType)).toEqual([true, true, true, false, false, false]);
  });
});
