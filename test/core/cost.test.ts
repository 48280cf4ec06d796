// Cost estimates, price lookup and the plan's cost view, each against a hand computation.
import { describe, expect, it } from 'vitest';
import { formatCost, sumCost, trialEstimateUSD } from '../../src/core/cost.js';
import { plan } from '../../src/core/plan.js';
import { BUILTIN_PRICES, parsePriceOverrides, tablePrice, type PriceOverrides } from '../../src/core/prices.js';
import type { ResolvedCompute } from '../../src/spec/types.js';
import { NOW, ago, att, policy, rec, res, trial } from './world.js';

const H = 3_600_000;
const aws = (over: Partial<Extract<ResolvedCompute, { provider: 'aws' }>> = {}): ResolvedCompute =>
  ({ provider: 'aws', region: 'us-east-1', instanceType: 'g5.xlarge', market: 'on-demand', volumeGiB: 100, ...over });
const runpod = (over: Partial<Extract<ResolvedCompute, { provider: 'runpod' }>> = {}): ResolvedCompute =>
  ({ provider: 'runpod', gpuType: 'NVIDIA GeForce RTX 4090', gpuCount: 1, cloudType: 'ALL', interruptible: false, image: 'img', volumeGiB: 20, containerDiskGiB: 20, ...over });
const local: ResolvedCompute = { provider: 'local', gpus: 0 };

describe('trialEstimateUSD', () => {
  it.each([
    // $1.006/h × 2 nodes × 6h = $12.072
    { name: 'g5.xlarge × 2 nodes × 6h', args: [1.006, 2, 6 * H, 0] as const, want: 12.072 },
    // 5h left of 6h: $1.006 × 2 × 5 = $10.06
    { name: 'an hour already run', args: [1.006, 2, 6 * H, H] as const, want: 10.06 },
    // $360/h is $0.10 a second: 30 s → $3.00
    { name: '$360/h for 30 s', args: [360, 1, 30_000, 0] as const, want: 3 },
    { name: 'past its maxDuration: nothing left', args: [2, 1, H, 2 * H] as const, want: 0 },
    { name: 'no maxDuration', args: [2, 1, undefined, 0] as const, want: 'unbounded' },
    { name: 'free compute, no maxDuration', args: [0, 4, undefined, 0] as const, want: 0 },
  ])('$name', ({ args, want }) => {
    const [price, nodes, maxMs, elapsed] = args;
    const got = trialEstimateUSD(price, nodes, maxMs, elapsed);
    if (typeof want === 'number') expect(got).toBeCloseTo(want, 9);
    else expect(got).toBe(want);
  });

  it('sums, and one unbounded term makes the sum unbounded', () => {
    expect(sumCost([1.5, 2.25])).toBe(3.75);
    expect(sumCost([1, 'unbounded', 2])).toBe('unbounded');
    expect(sumCost([])).toBe(0);
  });

  it.each([
    { v: 12.072 as const, want: '$12.07' },
    { v: 0.0042 as const, want: '$0.0042' },
    { v: 0 as const, want: '$0.00' },
    { v: 'unbounded' as const, want: 'unbounded' },
  ])('formatCost($v) = $want', ({ v, want }) => {
    expect(formatCost(v)).toBe(want);
  });
});

describe('tablePrice', () => {
  const user: PriceOverrides = { asOf: '2026-02-01', aws: { 'us-east-1': { 'g5.xlarge': { onDemand: 0.9, spot: 0.3 } } }, local: 360 };
  it.each([
    { name: 'AWS on-demand list price', compute: aws(), over: undefined, want: { usdPerHour: 1.006, source: 'table' } },
    { name: 'spot-with-fallback is priced on-demand (its worst case)', compute: aws({ market: 'spot-with-fallback' }), over: undefined, want: { usdPerHour: 1.006, source: 'table' } },
    { name: 'spot: the typical spot price', compute: aws({ market: 'spot' }), over: undefined, want: { usdPerHour: 0.42, source: 'table' } },
    { name: 'spot with a bid: the bid bounds it', compute: aws({ market: 'spot', maxPricePerHour: 0.5 }), over: undefined, want: { usdPerHour: 0.5, source: 'table' } },
    { name: 'the user file wins', compute: aws(), over: user, want: { usdPerHour: 0.9, source: 'user', asOf: '2026-02-01' } },
    { name: 'a type the user file lacks falls back to the table', compute: aws({ instanceType: 'p3.2xlarge' }), over: user, want: { usdPerHour: 3.06, source: 'table' } },
    { name: 'unknown region', compute: aws({ region: 'ap-south-2' }), over: undefined, want: undefined },
    // RunPod is per GPU: 2 × $0.34 community
    { name: 'RunPod community × 2 GPUs', compute: runpod({ cloudType: 'COMMUNITY', gpuCount: 2 }), over: undefined, want: { usdPerHour: 0.68, source: 'table' } },
    { name: 'RunPod ALL: the dearer cloud', compute: runpod(), over: undefined, want: { usdPerHour: 0.69, source: 'table' } },
    { name: 'RunPod interruptible', compute: runpod({ interruptible: true }), over: undefined, want: { usdPerHour: 0.27, source: 'table' } },
    { name: 'RunPod gpuTypes: the dearest allowed', compute: runpod({ gpuType: undefined, gpuTypes: ['NVIDIA GeForce RTX 4090', 'NVIDIA RTX A6000'], cloudType: 'SECURE' }), over: undefined, want: { usdPerHour: 0.76, source: 'table' } },
    { name: 'local: free unless priced', compute: local, over: undefined, want: undefined },
    { name: 'local priced by the user file', compute: local, over: user, want: { usdPerHour: 360, source: 'user', asOf: '2026-02-01' } },
  ])('$name', ({ compute, over, want }) => {
    const got = tablePrice(compute, over);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject({ asOf: BUILTIN_PRICES.asOf, ...want });
  });
});

describe('parsePriceOverrides', () => {
  it('accepts a partial table', () => {
    expect(parsePriceOverrides('{"local": 360, "runpod": {"NVIDIA L4": {"secure": 0.4}}}', 'prices.json')).toEqual({ local: 360, runpod: { 'NVIDIA L4': { secure: 0.4 } } });
  });
  it.each([
    { text: '{', want: /^prices\.json is not valid JSON: / },
    { text: '[]', want: /^prices\.json: the top level must be an object/ },
    { text: '{"gcp": {}}', want: /^prices\.json: unknown key "gcp" \(expected asOf, aws, runpod, local\)$/ },
    { text: '{"local": -1}', want: /^prices\.json: local must be a price in USD per hour ≥ 0, got -1$/ },
    { text: '{"aws": {"us-east-1": {"g5.xlarge": {"spot": 0.4}}}}', want: /^prices\.json: aws\["us-east-1"\]\["g5\.xlarge"\]\.onDemand must be a price in USD per hour ≥ 0, got nothing$/ },
    { text: '{"aws": {"us-east-1": {"g5.xlarge": {"onDemand": "1"}}}}', want: /^prices\.json: aws\["us-east-1"\]\["g5\.xlarge"\]\.onDemand must be a price/ },
    { text: '{"runpod": {"NVIDIA L4": {"hourly": 1}}}', want: /^prices\.json: runpod\["NVIDIA L4"\] has unknown key "hourly" \(expected secure, community, spot\)$/ },
  ])('$text → one line', ({ text, want }) => {
    const r = parsePriceOverrides(text, 'prices.json');
    expect(r).toHaveProperty('error');
    const error = (r as { error: string }).error;
    expect(error).toMatch(want);
    expect(error).not.toContain('\n');
  });
});

describe('the plan\'s cost estimate', () => {
  // g5.xlarge at $1.006/h, 2 nodes, maxDuration 6h, maxParallel 2:
  //   sweep-done  finished, spent $3.00                      → no estimate
  //   sweep-run   running for 1h, spent $2.012 so far        → 5h left: 1.006 × 2 × 5 = $10.06
  //   sweep-new1  create                                     → 1.006 × 2 × 6 = $12.072
  //   sweep-new2  wait (maxParallel)                         → $12.072
  // spent 3 + 2.012 = $5.012; still to spend 10.06 + 12.072 + 12.072 = $34.204; worst case $39.216
  const world = (costLimitUSD: number) => plan(
    {
      jobs: [policy({ maxParallel: 2, nodes: 2, maxDurationMs: 6 * H, costLimitUSD })],
      trials: [trial('done', 0), trial('run', 1), trial('new1', 2), trial('new2', 3)],
      prices: { 'lab/sweep': { usdPerHour: 1.006, source: 'table', asOf: '2025-01-15' } },
    },
    {
      resources: [res('sweep-run', { launchedAt: ago(60) }), res('sweep-run', { nodeRank: 1, launchedAt: ago(60) })],
      records: [
        rec('sweep-done', [att(1, 'succeeded', { costUSD: 3 })], { result: { state: 'succeeded', specHash: 'h1', finishedAt: ago(1) } }),
        rec('sweep-run', [att(1, 'running', { startedAt: ago(60), updatedAt: ago(0), costUSD: 2.012 })]),
      ],
    },
    { prune: false },
    NOW,
  );

  it('per trial and in total', () => {
    const p = world(50);
    const est = Object.fromEntries(p.actions.map((a) => [a.trial, a.estimatedCostUSD]));
    expect(est['sweep-done']).toBeUndefined();
    expect(est['sweep-run']).toBeCloseTo(10.06, 9);
    expect(est['sweep-new1']).toBeCloseTo(12.072, 9);
    expect(est['sweep-new2']).toBeCloseTo(12.072, 9);
    const e = p.jobs[0]!.estimate!;
    expect(e).toMatchObject({ usdPerHour: 1.006, nodes: 2, maxDurationMs: 6 * H, overLimit: false });
    expect(e.perTrialUSD).toBeCloseTo(12.072, 9);
    expect(e.remainingUSD).toBeCloseTo(34.204, 9);
    expect(e.worstCaseUSD).toBeCloseTo(39.216, 9);
    expect(p.warnings).toEqual([]);
  });

  it('over a $30 limit: flagged for apply to refuse, with a warning that adds it up', () => {
    const p = world(30);
    expect(p.jobs[0]!.estimate!.overLimit).toBe(true);
    expect(p.warnings).toEqual(['job sweep: worst-case cost $39.22 (spent $5.01 + up to $34.20 more) exceeds limits.costUSD $30.00']);
  });

  it('no maxDuration with a cost limit: unbounded, and a warning', () => {
    const p = plan(
      { jobs: [policy({ costLimitUSD: 5 })], trials: [trial('a', 0)], prices: { 'lab/sweep': { usdPerHour: 2, source: 'user', asOf: '' } } },
      { resources: [], records: [] }, { prune: false }, NOW,
    );
    expect(p.actions[0]!.estimatedCostUSD).toBe('unbounded');
    expect(p.jobs[0]!.estimate).toMatchObject({ perTrialUSD: 'unbounded', worstCaseUSD: 'unbounded', overLimit: false });
    expect(p.warnings).toEqual(['job sweep: no limits.maxDuration, so its worst-case cost is unbounded; its runners stop it when its spend reaches limits.costUSD $5.00']);
  });

  it('a job the engine could not price: no estimate, and a warning when it has a cost limit', () => {
    const p = plan({ jobs: [policy({ costLimitUSD: 5 })], trials: [trial('a', 0)], prices: {} }, { resources: [], records: [] }, { prune: false }, NOW);
    expect(p.jobs[0]!.estimate).toBeUndefined();
    expect(p.warnings[0]).toMatch(/^job sweep: no price is known for its compute/);
  });
});
