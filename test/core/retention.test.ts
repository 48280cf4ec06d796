// The keep-last-N rule of `checkpoint cleanup` and `s3 cleanup`, without I/O.
import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionItem } from '../../src/core/retention.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const item = (name: string, step: number | undefined, ageDays: number, extra: Partial<RetentionItem> = {}): RetentionItem => ({
  name, ...(step !== undefined ? { step } : {}), modifiedMs: NOW - ageDays * DAY, size: 10, ...extra,
});
const summary = (items: RetentionItem[], opts: Parameters<typeof planRetention>[1]) =>
  planRetention(items, opts).decisions.map((d) => `${d.item.name}:${d.action}:${d.reason}`);

describe('planRetention', () => {
  it('keeps the N highest steps whatever their times, and deletes the rest', () => {
    const items = [item('a-300', 300, 9), item('a-100', 100, 1), item('a-200', 200, 5), item('a-50', 50, 0)];
    const p = planRetention(items, { keepLastN: 2, now: NOW });
    expect(p.orderedBy).toBe('step');
    expect(summary(items, { keepLastN: 2, now: NOW })).toEqual(['a-300:keep:newest', 'a-200:keep:newest', 'a-100:delete:older', 'a-50:delete:older']);
    expect([p.deleteCount, p.deleteBytes]).toEqual([2, 20]);
  });

  it('orders by time when no name carries a step, and leaves unnumbered names alone when others have one', () => {
    expect(summary([item('x', undefined, 3), item('y', undefined, 1), item('z', undefined, 2)], { keepLastN: 1, now: NOW })).toEqual(['y:keep:newest', 'z:delete:older', 'x:delete:older']);
    expect(summary([item('s-2', 2, 5), item('s-1', 1, 6), item('README', undefined, 99)], { keepLastN: 1, now: NOW })).toEqual(['s-2:keep:newest', 's-1:delete:older', 'README:keep:no-step']);
  });

  it("never deletes LATEST's target, which counts among the N when it is one of the newest", () => {
    const items = [10, 20, 30, 40].map((s) => item(String(s), s, 0, { complete: true }));
    expect(summary(items, { keepLastN: 2, now: NOW, protect: new Set(['10']) })).toEqual(['40:keep:newest', '30:keep:newest', '20:delete:older', '10:keep:latest']);
    expect(summary(items, { keepLastN: 2, now: NOW, protect: new Set(['40']) })).toEqual(['40:keep:latest', '30:keep:newest', '20:delete:older', '10:delete:older']);
  });

  it('does not count incomplete checkpoints; keeps one newer than every complete one, deletes older leftovers', () => {
    const items = [item('10', 10, 0, { complete: true }), item('15', 15, 0, { complete: false }), item('20', 20, 0, { complete: true }), item('30', 30, 0, { complete: true }), item('40', 40, 0, { complete: false })];
    expect(summary(items, { keepLastN: 2, now: NOW })).toEqual(['40:keep:in-progress', '30:keep:newest', '20:keep:newest', '15:delete:incomplete', '10:delete:older']);
  });

  it('narrows with a pattern and an age, and refuses N < 1', () => {
    const items = [item('model-3.pt', 3, 40), item('model-2.pt', 2, 35), item('model-1.pt', 1, 10), item('optim-1.bin', 1, 50)];
    expect(summary(items, { keepLastN: 1, now: NOW, pattern: 'model-*.pt', olderThanMs: 30 * DAY })).toEqual(['model-3.pt:keep:newest', 'model-2.pt:delete:older', 'model-1.pt:keep:recent', 'optim-1.bin:keep:unmatched']);
    expect(() => planRetention(items, { keepLastN: 0, now: NOW })).toThrow(/keepLastN must be ≥ 1/);
  });
});
