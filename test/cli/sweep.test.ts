// Sweeps end to end through the built CLI and the real runner on the local provider: maxParallel
// held over a 12-trial grid, a changed value re-planning exactly the trials it adds, stopOnFailure,
// and median early stopping against a hand computation.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listNodeRecords, liveness } from '../../src/providers/local/nodes.js';
import { binPath, repoRoot, runCli, seenProcess, stopProcesses, tempDir, writeFiles } from '../helpers.js';

const TRIAL = readFileSync(join(repoRoot, 'test/fixtures/sweep/trial.py'), 'utf8');
const homes: string[] = [];

function setup(name: string, yaml: (code: string) => string) {
  const dir = tempDir(`trainctl-sweep-${name}-`);
  const home = join(dir, 'home');
  homes.push(home);
  writeFiles(dir, { 'code/trial.py': TRIAL, 'job.yaml': yaml(join(dir, 'code')) });
  const env = { TRAINCTL_HOME: home, SWEEP_LOG: join(dir, 'sweep.log') };
  const cli = (args: string[]) => runCli(args, { cwd: dir, env });
  const store = (job: string) => join(home, 'runs/sweeps', job);
  const json = <T>(...parts: string[]): T => JSON.parse(readFileSync(join(...parts), 'utf8')) as T;
  return { dir, home, env, cli, store, json };
}

/** Runner processes of a home that `ps` sees. */
function runnerPids(home: string): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes('runner.js') && l.includes(`${home}/local/work/`)).map((l) => Number(l.trim().split(/\s+/)[0]));
}

afterAll(async () => {
  await stopProcesses(homes.flatMap(runnerPids).map(seenProcess), { graceMs: 10_000 });
});

/** [trial, start, end] from the training script's own log. */
function intervals(log: string): [string, number, number][] {
  const starts = new Map<string, number>();
  const out: [string, number, number][] = [];
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const [what, trial, t] = line.split(' ') as [string, string, string];
    if (what === 'start') starts.set(trial, Number(t));
    else out.push([trial, starts.get(trial)!, Number(t)]);
  }
  return out;
}

/** The most intervals that overlap at one moment (each start is where a new maximum can begin). */
function mostAtOnce(iv: readonly [string, number, number][]): number {
  return Math.max(...iv.map(([, s]) => iv.filter(([, a, b]) => a <= s && s < b).length));
}

describe('a 12-trial grid with maxParallel 3', () => {
  const grid = (lrs: number[]) => (code: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: grid, project: sweeps }
spec:
  code: { path: ${code}, command: "python3 trial.py --lr {lr} --bs {bs} --steps 4 --sleep 0.1" }
  checkpoint: { dir: checkpoints/, pattern: "*.json" }
  hyperparameters:
    parameters: { lr: [${lrs.join(', ')}], bs: [16, 32, 64] }
    maxParallel: 3
  metrics: { objective: { metric: loss, goal: minimize } }
`;
  const s = setup('grid', grid([0.1, 0.05, 0.02, 0.01]));

  it('never has more than 3 running, finishes all 12; a changed value plans exactly the trials it adds', async () => {
    const child = spawn(process.execPath, [binPath, 'apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], {
      cwd: s.dir, env: { ...process.env, ...s.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    let running = true;
    void exited.then(() => { running = false; });
    // live node records as the CLI's own observation sees them, sampled all along
    let mostLive = 0;
    while (running) {
      const now = Date.now();
      mostLive = Math.max(mostLive, new Set(listNodeRecords(s.home).filter(({ rec }) => liveness(rec, now) !== 'gone').map(({ rec }) => rec.trial)).size);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stderr).toBe('');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/^Training completed: 12 trials, best loss [0-9.e-]+ \(grid-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);

    const iv = intervals(join(s.dir, 'sweep.log'));
    expect(iv).toHaveLength(12);
    expect(mostLive).toBeLessThanOrEqual(3);
    expect(mostAtOnce(iv)).toBeLessThanOrEqual(3);
    // the slots were used: later trials started only as earlier ones ended, so some ran together
    expect(mostAtOnce(iv)).toBeGreaterThan(1);
    const trials = readdirSync(s.store('grid')).sort();
    expect(trials).toHaveLength(12);
    for (const t of trials) expect(s.json<{ state: string; attempt: number }>(s.store('grid'), t, 'result.json')).toMatchObject({ state: 'succeeded', attempt: 1 });

    // lr 0.02 → 0.03: three trials (one per bs) are new, three are gone; the nine others finished
    writeFiles(s.dir, { 'job.yaml': grid([0.1, 0.05, 0.03, 0.01])(join(s.dir, 'code')) });
    const planned = await s.cli(['plan', '-f', 'job.yaml', '-o', 'json']);
    expect(planned.code).toBe(0);
    const actions = (JSON.parse(planned.stdout) as { actions: { kind: string; reason: string; trial: string; parameters: { lr: number } }[] }).actions;
    expect(actions.filter((a) => a.kind === 'create').map((a) => a.parameters.lr)).toEqual([0.03, 0.03, 0.03]);
    expect(actions.filter((a) => a.kind !== 'create').map((a) => `${a.kind} ${a.reason}`)).toEqual(Array(9).fill('noop finished'));
    const created = actions.filter((a) => a.kind === 'create').map((a) => a.trial);
    expect(created.every((t) => !trials.includes(t))).toBe(true);

    const again = await s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(again.code).toBe(0);
    const ran = intervals(join(s.dir, 'sweep.log')).slice(12).map(([t]) => t).sort();
    expect(ran).toEqual([...created].sort());
  }, 60_000);
});

describe('stopOnFailure', () => {
  const s = setup('halt', (code) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: halt, project: sweeps }
spec:
  code: { path: ${code}, command: "python3 trial.py --lr {lr} --steps 300 --sleep 0.1 {fail}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json" }
  hyperparameters:
    strategy: list
    trials:
      - { lr: 0.1, fail: "--steps=300" }
      - { lr: 0.2, fail: "--fail" }
      - { lr: 0.3, fail: "--steps=300" }
      - { lr: 0.4, fail: "--steps=300" }
    maxParallel: 2
    stopOnFailure: true
`);

  it('stops the running trial and launches no more after the first failure', async () => {
    const started = Date.now();
    const r = await s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    // the long trial would run 30 s; the failure stops it on the next pass
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Training failed: 4 trials \(1 stopped, 2 not run\), 1 failed: halt-[0-9a-f]{8} \(exit code 3\), best loss [0-9.e-]+ \(halt-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);
    const plan = JSON.parse((await s.cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as { actions: { kind: string; reason: string; parameters: { lr: number } }[] };
    const byLr = Object.fromEntries(plan.actions.map((a) => [a.parameters.lr, `${a.kind} ${a.reason}`]));
    expect(byLr).toEqual({ 0.1: 'noop halted-on-failure', 0.2: 'noop retries-exhausted', 0.3: 'noop halted-on-failure', 0.4: 'noop halted-on-failure' });
    // 0.3 and 0.4 were never launched; 0.1 was stopped gracefully with its checkpoint kept
    const trials = readdirSync(s.store('halt'));
    expect(trials).toHaveLength(2);
    const stopped = trials.find((t) => s.json<{ parameters: { lr: number } }>(s.store('halt'), t, 'spec.json').parameters.lr === 0.1)!;
    expect(s.json<{ state: string }>(s.store('halt'), stopped, 'attempts/1/status.json').state).toBe('interrupted');
    expect(existsSync(join(s.store('halt'), stopped, 'checkpoints/LATEST'))).toBe(true);
  }, 40_000);
});

describe('median early stopping', () => {
  // Five trials, each with a constant loss 1…5, all running at once; minTrials 4 means a trial is
  // judged only where all four others have reached its step. Hand computation (minimize):
  //   loss 5: peers 1 2 3 4 → median 2.5; 5 > 2.5 → stopped
  //   loss 4: peers 1 2 3 5 → median 2.5; 4 > 2.5 → stopped
  //   loss 3: peers 1 2 4 5 → median 3;   3 = 3, not worse → runs to the end
  //   loss 2: peers 1 3 4 5 → median 3.5 → runs;  loss 1: median 3.5 → runs
  // The losses never change, so the verdicts do not depend on the step each trial is judged at.
  const s = setup('median', (code) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: median, project: sweeps }
spec:
  code: { path: ${code}, command: "python3 trial.py --loss {loss} --steps 50 --sleep 0.1" }
  checkpoint: { dir: checkpoints/, pattern: "*.json" }
  hyperparameters:
    parameters: { loss: [1, 2, 3, 4, 5] }
    maxParallel: 5
  metrics:
    objective: { metric: loss, goal: minimize }
    earlyStopping: { rule: median, minTrials: 4, startStep: 2 }
`);

  it('stops exactly the trials the hand computation says, keeping their checkpoints', async () => {
    const r = await s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Training completed: 5 trials \(2 early-stopped\), best loss 1 \(median-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);
    const status = JSON.parse((await s.cli(['status', '-f', 'job.yaml', '-o', 'json'])).stdout) as { jobs: { trials: { parameters: { loss: number }; state: string; step?: number }[] }[] };
    const byLoss = Object.fromEntries(status.jobs[0]!.trials.map((t) => [t.parameters.loss, t.state]));
    expect(byLoss).toEqual({ 1: 'succeeded', 2: 'succeeded', 3: 'succeeded', 4: 'early-stopped', 5: 'early-stopped' });
    for (const t of status.jobs[0]!.trials.filter((x) => x.state === 'early-stopped')) expect(t.step).toBeLessThan(50);
    for (const trial of readdirSync(s.store('median'))) {
      const result = s.json<{ state: string; best: { value: number } }>(s.store('median'), trial, 'result.json');
      if (result.state !== 'early-stopped') continue;
      expect(result.best.value).toBeGreaterThanOrEqual(4);
      // the final checkpoint written on SIGTERM was uploaded
      expect(existsSync(join(s.store('median'), trial, 'checkpoints/LATEST'))).toBe(true);
      expect(readFileSync(join(s.store('median'), trial, 'attempts/1/logs/0.log'), 'utf8')).toMatch(/early stopping: loss \d at step \d+ is above the median 2\.5 of 4 peers/);
    }
  }, 40_000);
});
