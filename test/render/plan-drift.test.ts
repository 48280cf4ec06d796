// The drift section of the human and markdown plans: each vanished node under its trial, with what repairs it
// (or why nothing does); absent when nothing drifted.
import { describe, expect, it } from 'vitest';
import type { GoneResource } from '../../src/core/observed.js';
import { plan } from '../../src/core/plan.js';
import { palette } from '../../src/render/color.js';
import { renderPlanMarkdown } from '../../src/render/plan-markdown.js';
import { renderPlanText } from '../../src/render/plan-text.js';
import { att, NOW, policy, rec, trial } from '../core/world.js';

const gone = (trialId: string, detail: string): GoneResource => ({ provider: 'local', id: `n-${trialId}`, project: 'lab', job: 'sweep', trial: trialId, specHash: 'h1', nodeRank: 0, attempt: 1, detail });

describe('plan text: drift', () => {
  it('lists every drifted trial with its node, why it is gone, and the repair', () => {
    const p = plan({ jobs: [policy({ maxParallel: 1, retryOnInterruption: 3 })], trials: [trial('a', 0), trial('b', 1), trial('c', 2)] }, {
      resources: [],
      records: [
        rec('sweep-a', [att(1, 'running')], { checkpoint: { step: 40 } }),
        rec('sweep-b', [att(1, 'running')]),
        rec('sweep-c', [att(1, 'interrupted'), att(2, 'interrupted'), att(3, 'interrupted'), att(4, 'running')]),
      ],
      gone: [gone('sweep-a', 'process 11 not running'), gone('sweep-b', 'instance i-0b terminated'), { ...gone('sweep-c', 'process 13 not running'), attempt: 4 }],
    }, { prune: false }, NOW);
    const text = renderPlanText(p, palette(false));
    expect(text).toContain([
      'drift (changed outside trainctl)',
      '  ! sweep-a  node n-sweep-a is gone (process 11 not running); resume repairs it',
      '  ! sweep-b  node n-sweep-b is gone (instance i-0b terminated); repaired when a slot frees (maxParallel)',
      '  ! sweep-c  node n-sweep-c is gone (process 13 not running); not repaired: interrupted too often (retry.onSpotInterruption)',
      '',
    ].join('\n'));
    // the PR-comment view says the same
    expect(renderPlanMarkdown(p)).toContain([
      '**Drift** (changed outside trainctl)',
      '',
      '- `sweep-a`: node n-sweep-a is gone (process 11 not running); resume repairs it',
      '- `sweep-b`: node n-sweep-b is gone (instance i-0b terminated); repaired when a slot frees (maxParallel)',
      '- `sweep-c`: node n-sweep-c is gone (process 13 not running); not repaired: interrupted too often (retry.onSpotInterruption)',
      '',
    ].join('\n'));
  });

  it('says nothing of drift when nothing drifted', () => {
    const p = plan({ jobs: [policy()], trials: [trial('a', 0)] }, { resources: [], records: [rec('sweep-a', [att(1, 'running')])], gone: [] }, { prune: false }, NOW);
    expect(renderPlanText(p, palette(false))).not.toContain('drift');
    expect(renderPlanMarkdown(p)).not.toContain('Drift');
  });
});
