// `trainctl plan` against a real world: a file:// store with run records and local node
// records pointing at real processes, in a temp TRAINCTL_HOME.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../../src/providers/local/index.js';
import { expandJobs } from '../../src/spec/expand.js';
import { loadSpecs } from '../../src/spec/load.js';
import type { Trial } from '../../src/spec/types.js';
import { repoRoot, runCli, tempDir, writeFiles, writeTrialRecord } from '../helpers.js';

const spec = (extra = '') => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: lab }
spec:
  code: { path: ${join(repoRoot, 'jobs.example/quickstart')}, command: "python3 train.py --lr {lr}" }
  hyperparameters:
    parameters: { lr: [0.1, 0.01, 0.001, 0.0001, 0.00001] }
    maxParallel: 2
  retry: { onFailure: 1 }
${extra}`;

describe('trainctl plan against the live world', () => {
  const dir = tempDir();
  const home = join(dir, 'home');
  const runs = join(home, 'runs');
  let trials: Trial[];
  let sleeper: ChildProcess;

  beforeAll(async () => {
    writeFiles(dir, { 'job.yaml': spec() });
    const loaded = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: `file://${runs}` });
    expect(loaded.diagnostics).toEqual([]);
    trials = expandJobs(loaded.jobs);
    expect(trials.map((t) => t.parameters.lr)).toEqual([0.1, 0.01, 0.001, 0.0001, 0.00001]);
    const [t0, t1, t2, t3] = trials as [Trial, Trial, Trial, Trial];
    // t0: finished; t1: running now (a real process); t2: interrupted with a checkpoint; t3: failed once
    writeTrialRecord(runs, { project: 'lab', job: 'sweep', trial: t0.id, specHash: t0.specHash, attempts: [{ n: 1, state: 'succeeded' }], result: { state: 'succeeded', specHash: t0.specHash, finishedAt: '2026-01-01T01:00:00Z' } });
    writeTrialRecord(runs, { project: 'lab', job: 'sweep', trial: t1.id, specHash: t1.specHash, attempts: [{ n: 1, state: 'running' }] });
    writeTrialRecord(runs, { project: 'lab', job: 'sweep', trial: t2.id, specHash: t2.specHash, attempts: [{ n: 1, state: 'interrupted', step: 150 }], checkpoint: { step: 150 } });
    writeTrialRecord(runs, { project: 'lab', job: 'sweep', trial: t3.id, specHash: t3.specHash, attempts: [{ n: 1, state: 'failed', exitCode: 1 }] });
    sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    await new Promise((r) => sleeper.once('spawn', r));
    const pid = sleeper.pid!;
    const node = { id: `local-${t1.id}-1-0`, project: 'lab', job: 'sweep', trial: t1.id, specHash: t1.specHash, nodeRank: 0, attempt: 1, launchedAt: new Date().toISOString(), pid, pidStart: processStartTime(pid) };
    // a record whose pid is ours but whose start time is not: a reused pid, not a live node
    const reused = { ...node, id: 'local-reused', trial: 'sweep-deadbeef', pidStart: '1' };
    writeFiles(home, {
      [`local/nodes/${node.id}.json`]: JSON.stringify(node),
      'local/nodes/local-reused.json': JSON.stringify(reused),
      'local/nodes/garbage.json': '{ not json',
    });
  });
  afterAll(() => { sleeper?.kill(); });

  it('plans each trial from its records and live processes', async () => {
    const r = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as { formatVersion: number; warnings: string[]; actions: { trial: string; kind: string; reason: string; attempt?: number; resumeFromStep?: number; resources?: string[] }[]; summary: Record<string, number> };
    expect(plan.formatVersion).toBe(1);
    // the node record with a reused pid is not live, so it is no orphan either
    expect(plan.warnings).toEqual([]);
    const [t0, t1, t2, t3, t4] = trials as [Trial, Trial, Trial, Trial, Trial];
    const byTrial = Object.fromEntries(plan.actions.map((a) => [a.trial, a]));
    expect(byTrial[t0.id]).toMatchObject({ kind: 'noop', reason: 'finished' });
    expect(byTrial[t1.id]).toMatchObject({ kind: 'noop', reason: 'running', resources: [`local-${t1.id}-1-0`] });
    expect(byTrial[t2.id]).toMatchObject({ kind: 'resume', reason: 'interrupted', attempt: 2, resumeFromStep: 150 });
    // one slot is held by t1, so only one of the two launches fits under maxParallel 2
    expect(byTrial[t3.id]).toMatchObject({ kind: 'wait', reason: 'max-parallel' });
    expect(byTrial[t4.id]).toMatchObject({ kind: 'wait', reason: 'max-parallel' });
    expect(plan.summary).toMatchObject({ create: 0, resume: 1, retry: 0, wait: 2, noop: 2 });
  });

  it('prints the same plan for humans, and exit 2 with --detailed-exitcode', async () => {
    const r = await runCli(['plan', '-f', 'job.yaml', '--detailed-exitcode'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(r.code).toBe(2);
    const [, , t2, t3] = trials as [Trial, Trial, Trial, Trial];
    expect(r.stdout).toContain('job lab/sweep (5 trials; 1 running, 1 finished)');
    expect(r.stdout).toMatch(new RegExp(`~ resume +${t2.id} +lr=0\\.001 +interrupted; from checkpoint at step 150, attempt 2`));
    expect(r.stdout).toMatch(new RegExp(`\\. wait +${t3.id} +lr=0\\.0001 +waiting for a slot \\(maxParallel\\)`));
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('Plan: 0 to create, 1 to resume, 0 to stop. 2 waiting, 2 unchanged.');
  });

  it('saves the plan with --out, with digests apply will check', async () => {
    const r = await runCli(['plan', '-f', 'job.yaml', '--out', 'out/plan.json'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(r.code).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, 'out/plan.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ formatVersion: 1, inputs: ['job.yaml'], cwd: dir, options: { prune: false } });
    expect(saved.observedDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(saved.desiredDigest).toMatch(/^[0-9a-f]{16}$/);
  });

  it('sees a retry once a slot frees up, and a spec change as replace', async () => {
    const env = { TRAINCTL_HOME: join(dir, 'other-home') };
    writeFiles(dir, { 'other.yaml': spec().replace('maxParallel: 2', 'maxParallel: 5').replace('command: "python3 train.py --lr {lr}"', 'command: "python3 train.py --lr {lr} --steps 10"') });
    const moved = join(env.TRAINCTL_HOME, 'runs');
    const [t0, , , t3] = trials as [Trial, Trial, Trial, Trial];
    writeTrialRecord(moved, { project: 'lab', job: 'sweep', trial: t0.id, specHash: t0.specHash, attempts: [{ n: 1, state: 'succeeded' }], result: { state: 'succeeded', specHash: t0.specHash, finishedAt: '2026-01-01T01:00:00Z' } });
    writeTrialRecord(moved, { project: 'lab', job: 'sweep', trial: t3.id, specHash: t3.specHash, attempts: [{ n: 1, state: 'failed' }] });
    const r = await runCli(['plan', '-f', 'other.yaml', '-o', 'json'], { cwd: dir, env });
    const plan = JSON.parse(r.stdout) as { actions: { trial: string; kind: string; reason: string; previousSpecHash?: string }[] };
    const byTrial = Object.fromEntries(plan.actions.map((a) => [a.trial, a]));
    // the command changed, so every specHash changed: the finished and the failed trial are replaced
    expect(byTrial[t0.id]).toMatchObject({ kind: 'replace', reason: 'spec-changed', previousSpecHash: t0.specHash });
    expect(byTrial[t3.id]).toMatchObject({ kind: 'replace', reason: 'spec-changed' });
    expect(plan.actions.filter((a) => a.kind === 'create')).toHaveLength(3);
  });
});
