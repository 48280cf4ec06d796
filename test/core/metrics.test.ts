// metrics.jsonl lines and the summary result.json keeps.
import { describe, expect, it } from 'vitest';
import { formatMetricPoint, parseMetricPoint, summarizeMetrics, type MetricPoint } from '../../src/core/metrics.js';

const point = (attempt: number, step: number, values: Record<string, number>): MetricPoint => ({ attempt, step, time: '2026-01-01T00:00:00.000Z', values });

describe('metric points', () => {
  it('round-trip with the identifying fields first', () => {
    const line = formatMetricPoint(point(2, 30, { loss: 0.5, acc: 0.9 }));
    expect(line).toBe('{"attempt":2,"step":30,"time":"2026-01-01T00:00:00.000Z","loss":0.5,"acc":0.9}');
    expect(parseMetricPoint(line)).toEqual(point(2, 30, { loss: 0.5, acc: 0.9 }));
  });

  it('a value may not shadow attempt, step or time', () => {
    expect(formatMetricPoint(point(1, 3, { attempt: 9, time: 5, loss: 1 }))).toBe('{"attempt":1,"step":3,"time":"2026-01-01T00:00:00.000Z","loss":1}');
  });

  it('damaged lines are not points', () => {
    for (const bad of ['', '{"attempt":1,"step":3', '[1,2]', '{"step":3,"time":"t"}', '{"attempt":1.5,"step":1,"time":"t"}']) {
      expect(parseMetricPoint(bad)).toBeUndefined();
    }
  });
});

describe('summarizeMetrics', () => {
  const points = [point(1, 1, { loss: 3, acc: 0.1 }), point(1, 2, { loss: 1 }), point(2, 3, { loss: 2, acc: 0.7 })];

  it('keeps the last value of each metric', () => {
    expect(summarizeMetrics(points).finalMetrics).toEqual({ loss: 2, acc: 0.7 });
    expect(summarizeMetrics(points).best).toBeUndefined();
  });

  it('finds the best objective value by goal', () => {
    expect(summarizeMetrics(points, { metric: 'loss', goal: 'minimize' }).best).toEqual({ metric: 'loss', value: 1, step: 2 });
    expect(summarizeMetrics(points, { metric: 'acc', goal: 'maximize' }).best).toEqual({ metric: 'acc', value: 0.7, step: 3 });
    expect(summarizeMetrics(points, { metric: 'f1', goal: 'maximize' }).best).toBeUndefined();
  });
});
