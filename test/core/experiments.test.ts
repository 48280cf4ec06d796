// Experiments as pure decisions: rows from records and metric points, ranking, curves, series.
import { describe, expect, it } from 'vitest';
import {
  currentPoints, curveMetrics, curveOf, experimentRow, metricNames, parameterSeries, rankingFor, rankRows, summarizeExperiment,
  type ExperimentRow, type Ranking, type TrialEvidence,
} from '../../src/core/experiments.js';
import type { MetricPoint } from '../../src/core/metrics.js';
import type { AttemptRecord, TrialRecord } from '../../src/core/observed.js';
import type { TrialState } from '../../src/core/status.js';

const pt = (attempt: number, step: number, values: Record<string, number>): MetricPoint => ({ attempt, step, time: '2026-01-01T00:00:00Z', values });
const attempt = (n: number, specHash: string, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
  n, specHash, state: 'succeeded', startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:01:00Z', costUSD: 0.1, ...extra,
});
const record = (attempts: AttemptRecord[], extra: Partial<TrialRecord> = {}): TrialRecord => ({ project: 'p', job: 'j', trial: 't', specHash: 'h2', attempts, ...extra });
const evidence = (extra: Partial<TrialEvidence> = {}): TrialEvidence => ({
  trial: 't', parameters: { lr: 0.1 }, state: 'succeeded', attempt: 1, costUSD: 0.1, elapsedMs: 60_000, points: [], ...extra,
});
const row = (trial: string, state: TrialState, final: Record<string, number>, best?: number): ExperimentRow => ({
  trial, parameters: {}, state, attempt: 1, costUSD: 0, elapsedMs: 0, final, ...(best === undefined ? {} : { best: { metric: 'loss', value: best } }),
});
const MIN: Ranking = { metric: 'loss', goal: 'minimize', by: 'best' };
const MAX_ACC: Ranking = { metric: 'acc', goal: 'maximize', by: 'final' };
const order = (rows: ExperimentRow[], r: Ranking | undefined) => rankRows(rows, r).map((x) => [x.trial, x.rank ?? null]);

describe('experimentRow', () => {
  const objective = { metric: 'loss', goal: 'minimize' as const };

  it('takes the final value of each metric and the best objective (with its step) from the points', () => {
    const r = experimentRow(evidence({ points: [pt(1, 1, { loss: 3, acc: 0.1 }), pt(1, 2, { loss: 1 }), pt(1, 3, { loss: 2, acc: 0.7 })] }), objective);
    expect(r).toMatchObject({ final: { loss: 2, acc: 0.7 }, best: { metric: 'loss', value: 1, step: 2 }, step: 3 });
  });

  it('is goal-aware', () => {
    const r = experimentRow(evidence({ points: [pt(1, 1, { acc: 0.5 }), pt(1, 2, { acc: 0.9 }), pt(1, 3, { acc: 0.8 })] }), { metric: 'acc', goal: 'maximize' });
    expect(r.best).toEqual({ metric: 'acc', value: 0.9, step: 2 });
  });

  it('leaves out the points of attempts made under an older spec (a replaced trial)', () => {
    const ev = evidence({
      record: record([attempt(1, 'h1'), attempt(2, 'h2')]),
      points: [pt(1, 1, { loss: 0.01 }), pt(2, 1, { loss: 0.5 }), pt(2, 2, { loss: 0.4 }), pt(3, 1, { loss: 0.3 })],
    });
    expect(currentPoints(ev).map((p) => p.attempt)).toEqual([2, 2, 3]);
    expect(experimentRow(ev, objective).best).toEqual({ metric: 'loss', value: 0.3, step: 1 });
  });

  it('without metrics.jsonl, falls back on result.json and the last heartbeat of the current spec', () => {
    const ev = evidence({
      record: record([attempt(1, 'h2', { step: 300, metrics: { loss: 0.2, step: 300 } })], {
        result: { state: 'succeeded', specHash: 'h2', finishedAt: 'x', finalMetrics: { loss: 0.25, acc: 0.9 }, best: { metric: 'loss', value: 0.1, step: 250 } },
      }),
    });
    expect(experimentRow(ev, objective)).toMatchObject({ final: { loss: 0.2, acc: 0.9 }, best: { metric: 'loss', value: 0.1, step: 250 }, step: 300 });
    // a result of an older spec is not this trial's
    const stale = evidence({ record: record([attempt(1, 'h2')], { result: { state: 'succeeded', specHash: 'h1', finishedAt: 'x', finalMetrics: { loss: 0.25 } } }) });
    expect(experimentRow(stale, objective)).toMatchObject({ final: {} });
    expect(experimentRow(stale, objective).best).toBeUndefined();
  });

  it('a trial with no metrics has none, and no best', () => {
    const r = experimentRow(evidence({ state: 'pending', attempt: 0 }), objective);
    expect(r.final).toEqual({});
    expect(r.best).toBeUndefined();
    expect(r.step).toBeUndefined();
  });
});

describe('rankingFor', () => {
  const objective = { metric: 'loss', goal: 'minimize' as const };
  it.each([
    ['no sort: the objective by its best value', objective, undefined, { metric: 'loss', goal: 'minimize', by: 'best' }],
    ['no objective, no sort: none', undefined, undefined, undefined],
    ['the objective named', objective, 'loss', { metric: 'loss', goal: 'minimize', by: 'best' }],
    ['the objective along its goal', objective, 'loss:min', { metric: 'loss', goal: 'minimize', by: 'best' }],
    ['the objective against its goal: final value', objective, 'loss:max', { metric: 'loss', goal: 'maximize', by: 'final' }],
    ['another metric: final, ascending', objective, 'val_loss', { metric: 'val_loss', goal: 'minimize', by: 'final' }],
    ['another metric, :max', objective, 'acc:max', { metric: 'acc', goal: 'maximize', by: 'final' }],
    ['the long words too', undefined, 'acc:maximize', { metric: 'acc', goal: 'maximize', by: 'final' }],
  ] as const)('%s', (_name, o, sort, expected) => {
    expect(rankingFor(o, sort)).toEqual(expected);
  });

  it('refuses what is not <metric>[:min|max]', () => {
    expect(rankingFor(objective, 'acc:up')).toMatchObject({ error: '--sort "acc:up" is not <metric>[:min|max]' });
    expect(rankingFor(objective, ':max')).toMatchObject({ error: expect.stringContaining('is not') });
  });
});

describe('rankRows', () => {
  it.each([
    {
      name: 'minimize: lowest first',
      rows: [row('a', 'succeeded', {}, 0.3), row('b', 'succeeded', {}, 0.1), row('c', 'succeeded', {}, 0.2)],
      ranking: MIN, expected: [['b', 1], ['c', 2], ['a', 3]],
    },
    {
      name: 'maximize: highest first',
      rows: [row('a', 'succeeded', { acc: 0.7 }), row('b', 'running', { acc: 0.9 }), row('c', 'succeeded', { acc: 0.8 })],
      ranking: MAX_ACC, expected: [['b', 1], ['c', 2], ['a', 3]],
    },
    {
      name: 'ties keep the given order and share a rank',
      rows: [row('a', 'succeeded', {}, 0.2), row('b', 'succeeded', {}, 0.1), row('c', 'succeeded', {}, 0.2), row('d', 'succeeded', {}, 0.3)],
      ranking: MIN, expected: [['b', 1], ['a', 2], ['c', 2], ['d', 4]],
    },
    {
      name: 'trials without a value after the ranked ones, unranked, in the given order',
      rows: [row('none1', 'pending', {}), row('a', 'succeeded', {}, 0.5), row('none2', 'succeeded', { acc: 1 }), row('b', 'running', {}, 0.4)],
      ranking: MIN, expected: [['b', 1], ['a', 2], ['none1', null], ['none2', null]],
    },
    {
      name: 'failed trials last, even with the best value; those with a value first among them',
      rows: [row('f-none', 'failed', {}), row('f-good', 'failed', {}, 0.001), row('a', 'succeeded', {}, 0.5), row('pending', 'pending', {}), row('f-bad', 'failed', {}, 0.9)],
      ranking: MIN, expected: [['a', 1], ['pending', null], ['f-good', null], ['f-bad', null], ['f-none', null]],
    },
    {
      name: 'the best value when ranking by the objective, the final value otherwise',
      rows: [row('a', 'succeeded', { loss: 0.1 }, 0.3), row('b', 'succeeded', { loss: 0.2 }, 0.2)],
      ranking: MIN, expected: [['b', 1], ['a', 2]],
    },
    {
      name: 'by final value',
      rows: [row('a', 'succeeded', { loss: 0.1 }, 0.3), row('b', 'succeeded', { loss: 0.2 }, 0.2)],
      ranking: { metric: 'loss', goal: 'minimize', by: 'final' } as Ranking, expected: [['a', 1], ['b', 2]],
    },
    {
      name: 'no ranking: the given order, nothing ranked',
      rows: [row('a', 'succeeded', {}, 0.3), row('b', 'failed', {}, 0.1)],
      ranking: undefined, expected: [['a', null], ['b', null]],
    },
  ])('$name', ({ rows, ranking, expected }) => {
    expect(order(rows, ranking)).toEqual(expected);
  });

  it('keeps the value it ranked by on each row', () => {
    expect(rankRows([row('a', 'succeeded', { acc: 0.7 }), row('b', 'failed', { acc: 0.2 })], MAX_ACC).map((r) => r.value)).toEqual([0.7, 0.2]);
  });
});

describe('summarizeExperiment', () => {
  it('counts states, names the top-ranked trial and adds up spend', () => {
    const rows = [
      { ...row('a', 'succeeded', {}, 0.3), costUSD: 0.25 },
      { ...row('b', 'failed', {}, 0.01), costUSD: 0.5 },
      { ...row('c', 'succeeded', {}, 0.2), costUSD: 0.125 },
      row('d', 'pending', {}),
    ];
    expect(summarizeExperiment(rankRows(rows, MIN), MIN)).toEqual({
      trials: 4, counts: { succeeded: 2, failed: 1, pending: 1 }, best: { trial: 'c', metric: 'loss', value: 0.2 }, costUSD: 0.875,
    });
  });

  it('has no best when nothing is ranked', () => {
    expect(summarizeExperiment(rankRows([row('b', 'failed', {}, 0.01)], MIN), MIN).best).toBeUndefined();
    expect(summarizeExperiment(rankRows([row('a', 'succeeded', {}, 0.1)], undefined), undefined).best).toBeUndefined();
  });
});

describe('metricNames', () => {
  it('puts the ranking metric first, then the others as first seen', () => {
    expect(metricNames([row('a', 'succeeded', { acc: 1, loss: 2 }), row('b', 'succeeded', { lr: 0.1 })], 'loss')).toEqual(['loss', 'acc', 'lr']);
  });
  it('leaves out a ranking metric no trial has', () => {
    expect(metricNames([row('a', 'succeeded', { acc: 1 })], 'loss')).toEqual(['acc']);
  });
});

describe('curveOf', () => {
  it('a value per step, sorted by step; a resumed attempt rewriting steps wins', () => {
    const points = [pt(1, 1, { loss: 1 }), pt(1, 2, { loss: 0.8 }), pt(1, 3, { loss: 0.7 }), pt(2, 2, { loss: 0.75 }), pt(2, 3, { loss: 0.6 }), pt(2, 4, { acc: 1 })];
    expect(curveOf(points, 'loss')).toEqual([[1, 1], [2, 0.75], [3, 0.6]]);
    expect(curveOf(points, 'acc')).toEqual([[4, 1]]);
    expect(curveOf(points, 'missing')).toEqual([]);
  });

  it('thins long curves to the limit and keeps every spike', () => {
    const points = Array.from({ length: 10_000 }, (_, i) => pt(1, i, { loss: i === 4321 ? 50 : i === 7777 ? -5 : 1 / (i + 1) }));
    const curve = curveOf(points, 'loss', 200);
    expect(curve.length).toBeLessThanOrEqual(200);
    expect(curve.length).toBeGreaterThan(100);
    expect(curve).toContainEqual([4321, 50]);
    expect(curve).toContainEqual([7777, -5]);
    expect(curve[0]).toEqual([0, 1]);
    expect(curve.map((p) => p[0])).toEqual([...curve.map((p) => p[0])].sort((a, b) => a - b));
  });
});

describe('curveMetrics', () => {
  it('keeps metrics that change within some trial, the first named first', () => {
    const a = [pt(1, 1, { loss: 1, lr: 0.1, acc: 0.5 }), pt(1, 2, { loss: 0.5, lr: 0.1, acc: 0.5 })];
    const b = [pt(1, 1, { lr: 0.2, acc: 0.4 }), pt(1, 2, { lr: 0.2, acc: 0.6 })];
    expect(curveMetrics([a, b], 'acc')).toEqual(['acc', 'loss']);
    expect(curveMetrics([[], []])).toEqual([]);
  });
});

describe('parameterSeries', () => {
  it('numeric parameters get sorted values, others their order first seen; a point per trial with a value', () => {
    const rows = rankRows([
      { ...row('a', 'succeeded', {}, 0.3), parameters: { lr: 0.1, opt: 'sgd' } },
      { ...row('b', 'failed', {}, 0.1), parameters: { lr: 0.01, opt: 'adam' } },
      { ...row('c', 'pending', {}), parameters: { lr: 1, opt: 'sgd' } },
    ], MIN);
    const [lr, opt] = parameterSeries(rows, ['lr', 'opt']);
    expect(lr).toMatchObject({ parameter: 'lr', numeric: true, values: [0.01, 0.1, 1] });
    expect(lr!.points).toEqual([{ trial: 'a', x: 0.1, y: 0.3, state: 'succeeded' }, { trial: 'b', x: 0.01, y: 0.1, state: 'failed' }]);
    expect(opt).toMatchObject({ parameter: 'opt', numeric: false, values: ['sgd', 'adam'] });
  });

  it('tells a string "1" from the number 1', () => {
    const rows = rankRows([{ ...row('a', 'succeeded', {}, 1), parameters: { x: 1 } }, { ...row('b', 'succeeded', {}, 2), parameters: { x: '1' } }], MIN);
    expect(parameterSeries(rows, ['x'])[0]).toMatchObject({ numeric: false, values: [1, '1'] });
  });
});
