// The controller loop (engine/reconcile.ts watch) with a stand-in pass: failed passes back off,
// capped; a success resets the backoff; a locked project and a terminal error wait the interval
// and are said once; an abort ends the loop at once, even mid-sleep.
import { describe, expect, it } from 'vitest';
import { LockHeldError } from '../../src/engine/lock.js';
import { TerminalPassError, watch, type PassResult, type ReconcileEvent } from '../../src/engine/reconcile.js';

const ok = { pr: {}, outcomes: [] } as unknown as PassResult;
const lease = { holder: 'h:1 (trainctl apply)', token: 't'.repeat(24), acquiredAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T00:02:00Z' };

function scripted(steps: (() => PassResult)[], stop: AbortController) {
  let i = 0;
  return {
    async pass(): Promise<PassResult> {
      const step = steps[i++];
      if (!step || i >= steps.length) stop.abort();
      return step ? step() : ok;
    },
  };
}

describe('watch', () => {
  it('backs off after failed passes, resets after a success, and waits the interval for locks and terminal errors', async () => {
    const stop = new AbortController();
    const events: ReconcileEvent[] = [];
    const fail = () => { throw new Error('store unreachable'); };
    const r = scripted([
      fail, fail, fail, () => ok, fail,
      () => { throw new LockHeldError({ uri: 'file:///s/', project: 'p' }, lease, 0, ''); },
      // the same lock again: not said twice
      () => { throw new LockHeldError({ uri: 'file:///s/', project: 'p' }, lease, 0, ''); },
      () => { throw new TerminalPassError('the specs do not load'); },
      () => ({ ...ok, outcomes: [{ kind: 'failed', action: {} as never, message: 'no API' }] }),
      () => ok,
    ], stop);
    await watch(r, { intervalMs: 20, signal: stop.signal, backoff: { baseMs: 4, maxMs: 10, factor: 2, jitter: 0 } }, (e) => events.push(e));
    expect(events.map((e) => [e.kind, 'retryInMs' in e ? e.retryInMs : undefined])).toEqual([
      ['error', 4], ['error', 8], ['error', 10], // capped
      ['error', 4], // the success in between reset it
      ['locked', 20], ['error', 20],
    ]);
    expect((events[0] as { error: Error }).error.message).toBe('store unreachable');
  });

  it('stops at once when aborted during the wait between passes', async () => {
    const stop = new AbortController();
    let passes = 0;
    const started = Date.now();
    const loop = watch({ pass: async () => { passes++; return ok; } }, { intervalMs: 60_000, signal: stop.signal }, () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await loop;
    expect(passes).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
