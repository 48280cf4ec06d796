// The launch request a launching action makes: the runner task resolved from Job and Trial, without I/O.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchRequest } from '../../src/engine/launch.js';
import { expandJobs } from '../../src/spec/expand.js';
import { loadText } from '../../src/spec/load.js';
import { repoRoot } from '../helpers.js';

const load = (spec: string) => {
  const { jobs, diagnostics } = loadText(`apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ddp, project: lab }
spec:
${spec}`, 'job.yaml', { cwd: repoRoot, dir: repoRoot, defaultOutputUri: 'file:///runs' });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return { job: jobs[0]!, trial: expandJobs(jobs)[0]! };
};

describe('launchRequest', () => {
  it('resolves defaults, durations and the distributed settings', () => {
    const { job, trial } = load(`  code: { path: test/fixtures/apply/code, command: "python3 train.py --lr {lr}", setup: "true" }
  hyperparameters: { parameters: { lr: [0.5] } }
  distributed: { nodes: 2, nprocPerNode: 2, masterPort: 29500 }
  metrics: { patterns: { acc: 'acc=([0-9.]+)' }, objective: { metric: acc, goal: maximize } }
  limits: { costUSD: 5, maxDuration: 1h30m, onExceed: warn }
`);
    const req = launchRequest(job, trial, { attempt: 3, resumeFromStep: 200 });
    expect(req).toMatchObject({
      project: 'lab', job: 'ddp', trial: trial.id, specHash: trial.specHash, attempt: 3, nodes: 2,
      compute: { provider: 'local', gpus: 0 }, codeDir: join(repoRoot, 'test/fixtures/apply/code'),
      distributed: { backend: 'auto', masterPort: 29500 },
    });
    expect(req.task).toMatchObject({
      attempt: 3, nodes: 2, nprocPerNode: 2, setup: 'true', command: 'python3 train.py --lr 0.5', resumeFromStep: 200,
      checkpoint: { dir: 'checkpoints/', gracePeriodMs: 60_000 },
      metrics: { patterns: { acc: 'acc=([0-9.]+)' }, objective: { metric: 'acc', goal: 'maximize' } },
      limits: { costLimitUSD: 5, maxDurationMs: 5_400_000, onExceed: 'warn' },
    });
    expect(launchRequest(job, trial, { attempt: 1 }).task).not.toHaveProperty('resumeFromStep');
    expect(() => launchRequest(job, trial, {})).toThrow('has no attempt number');
  });

  it('carries spec.data and checkpoint.compress to the runner, and leaves them out when unset', () => {
    const { job, trial } = load(`  code: { path: test/fixtures/apply/code, command: "python3 train.py" }
  data:
    - { source: s3://bucket/datasets/mini/, target: data/, include: ["**/*.csv"], exclude: ["val/**"] }
    - { source: file://./test/fixtures, target: fixtures/, verify: sha256 }
  checkpoint: { compress: zstd }
`);
    expect(launchRequest(job, trial, { attempt: 1 }).task).toMatchObject({
      checkpoint: { compress: 'zstd' },
      data: [
        { source: 's3://bucket/datasets/mini/', target: 'data/', verify: 'etag', include: ['**/*.csv'], exclude: ['val/**'] },
        { source: `file://${join(repoRoot, 'test/fixtures')}`, target: 'fixtures/', verify: 'sha256' },
      ],
    });
    const plain = load(`  code: { path: test/fixtures/apply/code, command: "python3 train.py" }
`);
    const task = launchRequest(plain.job, plain.trial, { attempt: 1 }).task;
    expect(task).not.toHaveProperty('data');
    expect(task.checkpoint).not.toHaveProperty('compress');
  });
});
