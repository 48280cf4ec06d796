// Golden tests of both plan views. UPDATE_GOLDEN=1 rewrites the files; review the diff.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plan, type Desired, type JobPolicy } from '../../src/core/plan.js';
import type { Observed } from '../../src/core/observed.js';
import { palette } from '../../src/render/color.js';
import { planJson } from '../../src/render/plan-json.js';
import { renderPlanMarkdown } from '../../src/render/plan-markdown.js';
import { renderPlanText, summaryLine } from '../../src/render/plan-text.js';
import { repoRoot } from '../helpers.js';

function golden(name: string, actual: string): void {
  const path = join(repoRoot, 'test/golden', name);
  if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

const policy = (job: string, over: Partial<JobPolicy> = {}): JobPolicy => ({
  project: 'vision', job, maxParallel: 3, stopOnFailure: false, retryOnFailure: 1, retryOnInterruption: 3, resume: 'auto', onExceed: 'stop', ...over,
});
const trial = (job: string, i: number, lr: number, specHash = `h${i}`) => ({ id: `${job}-0000000${i}`, job, project: 'vision', index: i, parameters: { lr, optimizer: 'adam w' }, specHash });
const at = '2026-11-25T10:00:00Z';

/** A world where every kind of action appears once. */
function everyKind() {
  const desired: Desired = {
    jobs: [policy('resnet', { costLimitUSD: 50, maxDurationMs: 6 * 3_600_000 })],
    trials: [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001].map((lr, i) => trial('resnet', i, lr)),
    // g5.xlarge: 6h × $1.006 = $6.036 a trial
    prices: { 'vision/resnet': { usdPerHour: 1.006, source: 'table', asOf: '2025-01-15' } },
  };
  const observed: Observed = {
    resources: [
      { provider: 'aws', id: 'i-0aaa', project: 'vision', job: 'resnet', trial: 'resnet-00000001', specHash: 'old1', nodeRank: 0, attempt: 1, state: 'running', launchedAt: at },
      { provider: 'aws', id: 'i-0bbb', project: 'vision', job: 'resnet', trial: 'resnet-00000004', specHash: 'h4', nodeRank: 0, attempt: 1, state: 'running', launchedAt: at },
      { provider: 'aws', id: 'i-0ccc', project: 'vision', job: 'old-sweep', trial: 'old-sweep-0000000a', specHash: 'zz', nodeRank: 0, attempt: 2, state: 'running', launchedAt: at },
      { provider: 'aws', id: 'i-0ddd', project: 'vision', job: 'old-sweep', trial: 'old-sweep-0000000a', specHash: 'zz', nodeRank: 1, attempt: 2, state: 'running', launchedAt: at },
    ],
    records: [
      { project: 'vision', job: 'resnet', trial: 'resnet-00000002', specHash: 'h2', attempts: [{ n: 1, specHash: 'h2', state: 'interrupted', startedAt: at, updatedAt: at, costUSD: 1.5 }], checkpoint: { step: 1200 } },
      { project: 'vision', job: 'resnet', trial: 'resnet-00000003', specHash: 'h3', attempts: [{ n: 1, specHash: 'h3', state: 'failed', startedAt: at, updatedAt: at, costUSD: 0.75 }] },
      { project: 'vision', job: 'resnet', trial: 'resnet-00000004', specHash: 'h4', attempts: [{ n: 1, specHash: 'h4', state: 'early-stopped', startedAt: at, updatedAt: at, costUSD: 2 }] },
      { project: 'vision', job: 'resnet', trial: 'resnet-00000005', specHash: 'h5', attempts: [{ n: 1, specHash: 'h5', state: 'succeeded', startedAt: at, updatedAt: at, costUSD: 3 }], result: { state: 'succeeded', specHash: 'h5', finishedAt: at } },
    ],
  };
  return plan(desired, observed, { prune: true }, new Date('2026-11-25T11:00:00Z'));
}

describe('plan rendering', () => {
  it('text view (golden)', () => {
    golden('plan-every-kind.txt', renderPlanText(everyKind(), palette(false)));
  });

  it('JSON view (golden)', () => {
    golden('plan-every-kind.json', `${JSON.stringify(planJson(everyKind(), { inputs: ['jobs/'], desiredDigest: 'd1' }), null, 2)}\n`);
  });

  it('markdown view (golden)', () => {
    golden('plan-every-kind.md', renderPlanMarkdown(everyKind()));
  });

  it('markdown view of a scheduled job replacing its older run (golden)', () => {
    const slotTrial = (slot: string, i: number) => ({ ...trial('nightly', i, [0.1, 0.01][i]!, 'h'), id: `nightly-0000000${i}-${slot}`, slot, index: i + (slot.endsWith('0200') && slot.startsWith('20261125') ? 2 : 0) });
    const p = plan(
      {
        jobs: [policy('nightly', { schedule: { concurrencyPolicy: 'Replace', due: { slot: '20261125t0200', by: 'cron' }, next: '2026-11-26T02:00:00.000Z' } })],
        trials: [slotTrial('20261124t0200', 0), slotTrial('20261124t0200', 1), slotTrial('20261125t0200', 0), slotTrial('20261125t0200', 1)],
      },
      {
        resources: [{ provider: 'local', id: 'local-a|b', project: 'vision', job: 'nightly', trial: 'nightly-00000000-20261124t0200', specHash: 'h', nodeRank: 0, attempt: 1, state: 'running', launchedAt: at }],
        records: [],
      },
      { prune: false }, new Date('2026-11-25T02:05:00Z'),
    );
    const md = renderPlanMarkdown(p, { title: 'Plan for `jobs/`' });
    golden('plan-scheduled.md', md);
    // a pipe in a resource id does not split the table row
    expect(md).toContain('local-a\\|b');
  });

  it('no-change summary', () => {
    const p = plan({ jobs: [policy('a')], trials: [trial('a', 0, 0.1)] }, { resources: [], records: [{ project: 'vision', job: 'a', trial: 'a-00000000', specHash: 'h0', attempts: [{ n: 1, specHash: 'h0', state: 'succeeded', startedAt: at, updatedAt: at, costUSD: 0 }], result: { state: 'succeeded', specHash: 'h0', finishedAt: at } }] }, { prune: false }, new Date(at));
    expect(summaryLine(p, palette(false))).toBe('No changes. 1 trial matches the specs.');
  });

  it('colours only the symbols and words, so stripping ANSI gives the plain view', () => {
    const coloured = renderPlanText(everyKind(), palette(true));
    expect(coloured).toContain('\x1b[');
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(renderPlanText(everyKind(), palette(false)));
  });
});
