// AttemptRun in-process, against a store with injected faults: transient failures are retried,
// and a runner that fails anyway still ends the attempt `failed` with nothing left running.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttemptRun } from '../../src/runner/attempt.js';
import type { RunStore } from '../../src/store/store.js';
import { isRunning, makeTask, PY, sandbox, status, waitFor } from './harness.js';

const fast = { storeRetries: 3, backoff: { baseMs: 5, maxMs: 20, factor: 2, jitter: 0 } };

/** The store, with `faults[method]` failures (EIO) before each method works again; -1 fails forever. */
function faulty(store: RunStore, faults: Partial<Record<keyof RunStore, number>>): { store: RunStore; failures: string[] } {
  const failures: string[] = [];
  const left = { ...faults };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const n = left[prop as keyof RunStore];
        if (n !== undefined && n !== 0) {
          left[prop as keyof RunStore] = n - 1;
          failures.push(String(prop));
          return Promise.reject(Object.assign(new Error(`EIO: injected ${String(prop)} failure`), { code: 'EIO' }));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, failures };
}

describe('AttemptRun and a failing store', () => {
  it('retries transient store failures and finishes normally', async () => {
    const sb = sandbox();
    const { store, failures } = faulty(sb.store, { writeStatus: 2, appendLog: 1, putCheckpoint: 2, writeResult: 1, appendMetrics: 1 });
    const lines: string[] = [];
    const task = makeTask(sb, { command: `${PY} train.py --steps 10 --every 5 --sleep 0.05` });
    const code = await new AttemptRun(task, store, (l) => lines.push(l), fast).run();
    expect(code).toBe(0);
    expect(new Set(failures)).toEqual(new Set(['writeStatus', 'appendLog', 'putCheckpoint', 'writeResult', 'appendMetrics']));
    expect(lines.filter((l) => l.includes('retry'))).toHaveLength(failures.length);
    expect(status(sb)).toMatchObject({ state: 'succeeded', step: 10 });
    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([5, 10]);
  });

  it('a store call that keeps failing ends the attempt failed, with the error recorded', async () => {
    const sb = sandbox();
    const { store } = faulty(sb.store, { readMetrics: -1 });
    const task = makeTask(sb, { command: `${PY} train.py --steps 3 --sleep 0` });
    const code = await new AttemptRun(task, store, () => {}, fast).run();
    expect(code).toBe(1);
    expect(status(sb)).toMatchObject({ state: 'failed', error: expect.stringContaining('injected readMetrics failure') });
  });

  it('a crash of the runner while training stops the process group and records failed', async () => {
    const sb = sandbox();
    const task = makeTask(sb, { command: `${PY} train.py --steps 1000 --sleep 0.02`, checkpoint: { gracePeriodMs: 3000 } });
    const run = new AttemptRun(task, sb.store, () => {}, fast);
    const finished = run.run();
    await waitFor(() => status(sb)?.state === 'running' && (status(sb)?.step ?? 0) > 2, 'training to start');
    const trainPid = Number(readFileSync(join(task.workDir, 'train.pid'), 'utf8'));
    expect(await run.crash(new Error('injected bug'))).toBe(1);
    expect(isRunning(trainPid)).toBe(false);
    expect(await finished).toBe(1);
    expect(status(sb)).toMatchObject({ state: 'failed', error: 'runner error: injected bug' });
  });
});
