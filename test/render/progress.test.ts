// The words of `apply --wait`: per-trial progress lines and the closing summary.
import { describe, expect, it } from 'vitest';
import type { TrialProgress } from '../../src/engine/apply.js';
import { palette } from '../../src/render/color.js';
import { formatMetric, progressLine, trainingSummary } from '../../src/render/progress.js';

const c = palette(false);
const trial = (over: Partial<TrialProgress>): TrialProgress => ({
  project: 'demo', job: 'quickstart', trial: 'quickstart-0446f601', parameters: { lr: 0.1 }, phase: 'running', settled: false, failed: false, report: { latest: {} }, ...over,
});
const job = { project: 'demo', job: 'quickstart', trials: 4, spentUSD: 0.126 };

describe('progressLine', () => {
  it('shows state, attempt, step, metric and elapsed; a reason only where it explains', () => {
    expect(progressLine(trial({ attempt: 2, step: 120, metric: { name: 'loss', value: 0.012345 }, elapsedMs: 62_000 }), c, 22))
      .toBe('quickstart-0446f601     running  attempt 2  step 120  loss 0.01235  1m02s');
    expect(progressLine(trial({ phase: 'waiting', note: 'waiting for a slot (maxParallel)' }), c)).toBe('quickstart-0446f601  waiting — for a slot (maxParallel)');
    expect(progressLine(trial({ phase: 'failed', settled: true, failed: true, step: 5, note: 'exit code 3' }), c)).toBe('quickstart-0446f601  failed  step 5 — exit code 3');
  });

  it('prints metrics short', () => {
    expect([0.0123, 1.5, 2.3456789e-7, 1234567, 0].map(formatMetric)).toEqual(['0.0123', '1.5', '2.346e-7', '1235000', '0']);
  });
});

describe('trainingSummary', () => {
  const done = (id: string, loss: number, best?: number): TrialProgress => trial({
    trial: id, phase: 'succeeded', settled: true, metric: { name: 'loss', value: loss },
    report: { latest: {}, ...(best !== undefined ? { result: { state: 'succeeded', specHash: 'h', finishedAt: '', attempt: 1, durationMs: 1, costUSD: 0, finalMetrics: { loss }, best: { metric: 'loss', value: best } } } : {}) },
  });

  it('names the best trial by the objective’s best value', () => {
    const progress = [done('a', 0.5, 0.0123), done('b', 0.02), done('c', 0.9, 0.3), trial({ trial: 'd', phase: 'early-stopped', settled: true })];
    expect(trainingSummary({ job, progress, goal: 'minimize', elapsedMs: 62_000 }, false))
      .toBe('Training completed: 4 trials (1 early-stopped), best loss 0.0123 (a), 1m02s, cost $0.13');
    expect(trainingSummary({ job, progress, goal: 'maximize', elapsedMs: 5_000 }, true))
      .toBe('Training completed (demo/quickstart): 4 trials (1 early-stopped), best loss 0.3 (c), 5s, cost $0.13');
  });

  it('says which trials failed for good', () => {
    const progress = [done('a', 0.5), trial({ trial: 'b', phase: 'failed', settled: true, failed: true, note: 'exit code 1', metric: { name: 'loss', value: 0.001 } })];
    expect(trainingSummary({ job, progress, goal: 'minimize', elapsedMs: 1_000 }, false))
      .toBe('Training failed: 2 trials, 1 failed: b (exit code 1), best loss 0.5 (a), 1s, cost $0.13');
  });
});
