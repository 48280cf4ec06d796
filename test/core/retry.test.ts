// The one retry/backoff helper: the delay schedule is pure; withRetry runs on an injected sleep.
import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetry, type Backoff } from '../../src/core/retry.js';

const b: Backoff = { baseMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, b, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('takes at most the jitter share off each delay', () => {
    expect(backoffDelay(2, b, () => 1)).toBe(100);
    expect(backoffDelay(2, b, () => 0.5)).toBe(150);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, b);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
});

describe('withRetry', () => {
  const noJitter = { ...b, jitter: 0 };

  it('retries until the call works, sleeping the backoff between tries', async () => {
    const slept: number[] = [];
    let calls = 0;
    const value = await withRetry(async () => {
      if (++calls < 3) throw new Error('transient');
      return 'ok';
    }, { retries: 5, backoff: noJitter, sleep: async (ms) => { slept.push(ms); } });
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(slept).toEqual([100, 200]);
  });

  it('gives up after the retries, with the last error', async () => {
    let calls = 0;
    const onRetry: number[] = [];
    await expect(withRetry(async () => { throw new Error(`fail ${++calls}`); }, {
      retries: 2, backoff: noJitter, sleep: async () => {}, onRetry: (_e, n) => onRetry.push(n),
    })).rejects.toThrow('fail 3');
    expect(onRetry).toEqual([1, 2]);
  });

  it('throws an error that is not transient at once', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw new TypeError('bad input'); }, {
      retries: 5, sleep: async () => {}, isTransient: (e) => !(e instanceof TypeError),
    })).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });
});
