// The median stopping rule, table-driven, with the hand computation written out.
import { describe, expect, it } from 'vitest';
import { median, medianStoppingVerdict, valueAt, type EarlyStoppingRule, type Series } from '../../src/core/early-stopping.js';

const s = (...points: [number, number][]): Series => points.map(([step, value]) => ({ step, value }));

// Peers of the hand computation. At step 10, the peers that reached it are A (last step 20),
// B (20) and C (15); D stopped at step 5. Their values at 10, each the latest at or before 10:
// A 0.8, B 0.9, C 1.1 (its step-0 value: it reported nothing between 0 and 15). Median 0.9.
// At step 20 only A and B have reached it.
const A = s([0, 1.0], [10, 0.8], [20, 0.6]);
const B = s([0, 1.2], [10, 0.9], [20, 0.7]);
const C = s([0, 1.1], [15, 0.5]);
const D = s([0, 2.0], [5, 1.9]);
const own = s([0, 1.3], [10, 1.0], [20, 0.75]);
const rule = (over: Partial<EarlyStoppingRule> = {}): EarlyStoppingRule => ({ rule: 'median', minTrials: 3, startStep: 10, ...over });

describe('medianStoppingVerdict', () => {
  it.each([
    {
      name: 'hand computation: at step 20 two peers (< 3); at step 10 A 0.8, B 0.9, C 1.1 → median 0.9 < own 1.0: stop',
      rule: rule(), goal: 'minimize' as const, own, peers: [A, B, C, D],
      want: { stop: true, step: 10, value: 1.0, median: 0.9, peers: 3 },
    },
    {
      name: 'maximize: own 1.0 above the median 0.9 is better, not worse',
      rule: rule(), goal: 'maximize' as const, own, peers: [A, B, C, D],
      want: { stop: false, step: 10, value: 1.0, median: 0.9, peers: 3 },
    },
    {
      name: 'minTrials 4: no step ≥ startStep has four peers that reached it',
      rule: rule({ minTrials: 4 }), goal: 'minimize' as const, own, peers: [A, B, C, D],
      want: { stop: false },
    },
    {
      name: 'startStep 15: only step 20 may be judged, and two peers reached it',
      rule: rule({ startStep: 15 }), goal: 'minimize' as const, own, peers: [A, B, C, D],
      want: { stop: false },
    },
    {
      name: 'even count: D reaching step 12 adds its step-0 value 2.0; median (0.9 + 1.1) / 2 = 1.0 equals own: not worse',
      rule: rule(), goal: 'minimize' as const, own, peers: [A, B, C, s([0, 2.0], [12, 1.5])],
      want: { stop: false, step: 10, value: 1.0, median: 1.0, peers: 4 },
    },
    {
      name: 'minTrials 2: judged at step 20 against A 0.6, B 0.7 → median 0.65 < own 0.75: stop',
      rule: rule({ minTrials: 2 }), goal: 'minimize' as const, own, peers: [A, B, C, D],
      want: { stop: true, step: 20, value: 0.75, median: 0.65, peers: 2 },
    },
    {
      name: 'a peer whose series starts after s has no value at s and does not count',
      rule: rule({ minTrials: 1, startStep: 0 }), goal: 'minimize' as const, own: s([3, 5]), peers: [s([4, 1]), s([0, 9], [3, 9])],
      want: { stop: false, step: 3, value: 5, median: 9, peers: 1 },
    },
    {
      name: 'no peers, no own points: nothing to judge',
      rule: rule({ startStep: 0 }), goal: 'minimize' as const, own: s(), peers: [],
      want: { stop: false },
    },
  ])('$name', ({ rule: r, goal, own: o, peers, want }) => {
    const v = medianStoppingVerdict(r, goal, o, peers);
    expect(v).toEqual(want.median === undefined ? want : { ...want, median: expect.closeTo(want.median, 12) });
  });
});

describe('valueAt and median', () => {
  it.each([
    { series: A, step: 9, want: 1.0 },
    { series: A, step: 10, want: 0.8 },
    { series: A, step: 100, want: 0.6 },
    { series: s([5, 1]), step: 4, want: undefined },
  ])('valueAt(…, $step) = $want', ({ series, step, want }) => {
    expect(valueAt(series, step)).toBe(want);
  });

  it.each([
    { values: [3, 1, 2], want: 2 },
    { values: [4, 1, 3, 2], want: 2.5 },
    { values: [7], want: 7 },
  ])('median($values) = $want', ({ values, want }) => {
    expect(median(values)).toBe(want);
  });
});
