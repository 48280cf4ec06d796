// `trainctl status` and `trainctl logs` over a real file:// store.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandJobs } from '../../src/spec/expand.js';
import { loadSpecs } from '../../src/spec/load.js';
import type { Trial } from '../../src/spec/types.js';
import { binPath, repoRoot, runCli, tempDir, writeFiles, writeTrialRecord } from '../helpers.js';

const SPEC = `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: st, project: lab }
spec:
  code: { path: ${join(repoRoot, 'jobs.example/quickstart')}, command: "python3 train.py --lr {lr}" }
  hyperparameters: { parameters: { lr: [0.1, 0.01, 0.001] }, maxParallel: 1 }
  metrics: { objective: { metric: val_loss, goal: minimize } }
  retry: { onFailure: 0 }
`;

describe('status and logs', () => {
  const dir = tempDir();
  const home = join(dir, 'home');
  const runs = join(home, 'runs');
  let trials: Trial[];

  beforeAll(() => {
    writeFiles(dir, { 'job.yaml': SPEC });
    const { jobs } = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: `file://${runs}` });
    trials = expandJobs(jobs);
    const [a, b] = trials as [Trial, Trial];
    writeTrialRecord(runs, {
      project: 'lab', job: 'st', trial: a.id, specHash: a.specHash,
      attempts: [{ n: 1, state: 'succeeded', step: 300, startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:02:05Z', costUSD: 0.25, metrics: { val_loss: 0.1234, step: 300 } }],
      result: { state: 'succeeded', specHash: a.specHash, finishedAt: '2026-01-01T00:02:05Z', best: { metric: 'val_loss', value: 0.1111, step: 250 } },
    });
    writeTrialRecord(runs, { project: 'lab', job: 'st', trial: b.id, specHash: b.specHash, attempts: [{ n: 1, state: 'failed', exitCode: 3, costUSD: 0.5, metrics: { val_loss: 0.9 } }] });
    writeFiles(join(runs, 'lab/st', a.id), { 'attempts/1/logs/0.log': 'step 1\nstep 2\n', 'attempts/1/logs/1.log': 'rank one\n' });
  });

  it('shows each trial with state, step, metric, elapsed and cost, and a summary per job', async () => {
    const r = await runCli(['status', '-f', 'job.yaml'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [a, b, c] = trials as [Trial, Trial, Trial];
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^TRIAL +PARAMETERS +STATE +ATTEMPT +STEP +METRIC +ELAPSED +COST$/);
    expect(lines.find((l) => l.startsWith(a.id))).toMatch(/lr=0\.1 +succeeded +1 +300 +val_loss 0\.1234 +2m05s +\$0\.25$/);
    expect(lines.find((l) => l.startsWith(b.id))).toMatch(/lr=0\.01 +failed +1 +- +val_loss 0\.9 +10m00s +\$0\.50$/);
    expect(lines.find((l) => l.startsWith(c.id))).toMatch(/lr=0\.001 +pending +- +- +- +- +\$0\.00$/);
    expect(r.stdout).toContain(`lab/st: 3 trials — 1 pending, 1 succeeded, 1 failed; best val_loss 0.1111 (${a.id}); spent $0.75`);
  });

  it('gives the same as JSON', async () => {
    const r = await runCli(['status', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    const out = JSON.parse(r.stdout) as { formatVersion: number; jobs: { costUSD: number; best: unknown; trials: { trial: string; state: string; next: unknown }[] }[] };
    expect(out.formatVersion).toBe(1);
    expect(out.jobs[0]!.costUSD).toBeCloseTo(0.75);
    expect(out.jobs[0]!.best).toEqual({ trial: trials[0]!.id, metric: 'val_loss', value: 0.1111 });
    expect(out.jobs[0]!.trials.map((t) => [t.state, t.next])).toEqual([
      ['succeeded', { kind: 'noop', reason: 'finished' }],
      ['failed', { kind: 'noop', reason: 'retries-exhausted' }],
      ['pending', { kind: 'create', reason: 'new' }],
    ]);
  });

  it('prints a trial log, any rank, and explains what is missing', async () => {
    const env = { TRAINCTL_HOME: home };
    const [a, , c] = trials as [Trial, Trial, Trial];
    expect(await runCli(['logs', a.id], { cwd: dir, env })).toMatchObject({ code: 0, stdout: 'step 1\nstep 2\n' });
    expect(await runCli(['logs', a.id, '--rank', '1'], { cwd: dir, env })).toMatchObject({ code: 0, stdout: 'rank one\n' });
    expect(await runCli(['logs', 'st-00000000'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: no records of trial "st-00000000" — check the id with `trainctl status`, or pass --file <spec> when its output store is not the default\n' });
    expect(await runCli(['logs', a.id, '--attempt', '7'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: `error: trial ${a.id} has no attempt 7 — attempts: 1\n` });
    expect((await runCli(['logs', c.id], { cwd: dir, env })).code).toBe(1);
    expect(await runCli(['logs', a.id, '--rank', 'x'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: --rank must be a whole number, got "x"\n' });
  });

  it('follows a log until its attempt ends', async () => {
    const t = 'st-f0110000';
    writeTrialRecord(runs, { project: 'lab', job: 'st', trial: t, specHash: 'x', attempts: [{ n: 1, state: 'running' }] });
    const logDir = join(runs, 'lab/st', t, 'attempts/1');
    writeFiles(logDir, { 'logs/0.log': 'first\n' });
    const child = spawn(process.execPath, [binPath, 'logs', t, '-f'], { cwd: dir, env: { ...process.env, TRAINCTL_HOME: home } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await new Promise((r) => setTimeout(r, 600));
    const { appendFileSync, writeFileSync } = await import('node:fs');
    appendFileSync(join(logDir, 'logs/0.log'), 'second\n');
    await new Promise((r) => setTimeout(r, 600));
    writeFileSync(join(logDir, 'status.json'), JSON.stringify({ n: 1, specHash: 'x', state: 'succeeded', startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:01Z', costUSD: 0 }));
    appendFileSync(join(logDir, 'logs/0.log'), 'third\n');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(out).toBe('first\nsecond\nthird\n');
  });
});
