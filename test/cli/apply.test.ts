// `trainctl apply` end to end: the built CLI, the real runner (dist/runner.js), real training
// processes (test/fixtures/apply/code/train.py) and a temp TRAINCTL_HOME per suite.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listNodeRecords, liveness, processStartTime, type LocalNodeRecord } from '../../src/providers/local/nodes.js';
import { binPath, repoRoot, runCli, runners, seenProcess, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';

const code = join(repoRoot, 'test/fixtures/apply/code');
const homes: string[] = [];

interface JobOptions { name: string; lrs: number[]; maxParallel?: number; args?: string; extra?: string }
const spec = (o: JobOptions) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${o.name}, project: applytest }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} ${o.args ?? ''}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: [${o.lrs.join(', ')}] }
    maxParallel: ${o.maxParallel ?? o.lrs.length}
  metrics: { objective: { metric: loss, goal: minimize } }
${o.extra ?? ''}`;

function suite(prefix: string) {
  const dir = tempDir(`trainctl-apply-${prefix}-`);
  const home = join(dir, 'home');
  homes.push(home);
  const cli = (args: string[]) => runCli(args, { cwd: dir, env: { TRAINCTL_HOME: home } });
  const trialDir = (job: string, trial: string) => join(home, 'runs/applytest', job, trial);
  return { dir, home, cli, trialDir };
}


/** Trials with a live (running or pending) node record. */
function liveTrials(home: string): string[] {
  const now = Date.now();
  return listNodeRecords(home).filter(({ rec }) => liveness(rec, now) !== 'gone').map(({ rec }) => rec.trial);
}


interface PlanJson { actions: { trial: string; kind: string; reason: string; attempt?: number; resumeFromStep?: number }[] }

afterAll(async () => {
  // nothing a test started outlives the suite: SIGTERM lets each runner stop its training
  await stopProcesses(homes.flatMap((h) => [...runners(h).values()].flat()).map(seenProcess));
});

describe('trainctl apply', () => {
  const { dir, home, cli, trialDir } = suite('twice');
  const job = spec({ name: 'twice', lrs: [0.1, 0.05], args: '--steps 300 --sleep 0.01 --ckpt-every 20' });
  writeFiles(dir, { 'job.yaml': job });

  it('refuses without --yes when stdin is not a terminal, and launches nothing', async () => {
    const r = await cli(['apply', '-f', 'job.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Plan: 2 to create');
    expect(r.stderr).toBe('error: refusing to apply without confirmation: stdin is not a terminal — pass --yes to apply non-interactively (CI)\n');
    expect(existsSync(join(home, 'local'))).toBe(false);
  });

  it('applies a saved plan, refuses it once the world moved, and a second apply changes nothing', async () => {
    expect((await cli(['plan', '-f', 'job.yaml', '--out', 'plan.json'])).code).toBe(0);
    const first = await cli(['apply', 'plan.json', '--yes']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^created twice-[0-9a-f]{8} \(attempt 1\)$/m);
    expect(first.stdout).toContain('Apply complete: 2 launched, 0 stopped.');
    const trials = [...new Set(liveTrials(home))].sort();
    expect(trials).toHaveLength(2);
    await until(() => runners(home).size === 2, 'both runners', 5000);
    const pids = runners(home);

    const stale = await cli(['apply', 'plan.json', '--yes']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe('error: the plan is stale: the world changed since it was made (trials started, ended or were stopped) — run `trainctl plan` again and apply the new plan\n');

    const again = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes. 2 trials match the specs.');
    expect(again.stdout).not.toContain('created');
    expect(runners(home)).toEqual(pids);
    for (const t of trials) expect(runners(home).get(t)).toHaveLength(1);
  });

  it('resumes a trial whose runner got SIGTERM from its final checkpoint, as attempt 2, and finishes', async () => {
    const rec = listNodeRecords(home).map((r) => r.rec).find((r) => r.pid && processStartTime(r.pid) !== undefined)!;
    const latest = join(trialDir('twice', rec.trial), 'checkpoints/LATEST');
    await until(() => existsSync(latest), 'a first checkpoint', 10_000);
    process.kill(rec.pid!, 'SIGTERM');
    await until(() => processStartTime(rec.pid!) === undefined, 'the runner to stop', 15_000);
    const status = JSON.parse(readFileSync(join(trialDir('twice', rec.trial), 'attempts/1/status.json'), 'utf8')) as { state: string };
    expect(status.state).toBe('interrupted');
    const step = Number(readFileSync(latest, 'utf8').trim());
    expect(step).toBeGreaterThan(0);

    const plan = JSON.parse((await cli(['plan', '-f', 'job.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(plan.actions.find((a) => a.trial === rec.trial)).toMatchObject({ kind: 'resume', reason: 'interrupted', attempt: 2, resumeFromStep: step });

    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed ${rec.trial} (attempt 2, from step ${step})`);
    expect(r.stdout).toMatch(/^Training completed: 2 trials, best loss [0-9.e-]+ \(twice-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);
    const result = JSON.parse(readFileSync(join(trialDir('twice', rec.trial), 'result.json'), 'utf8')) as { state: string; attempt: number };
    expect(result).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(readFileSync(join(trialDir('twice', rec.trial), 'attempts/2/logs/0.log'), 'utf8')).toContain(`resumed from step ${step}`);
  }, 60_000);

  it('refuses a saved plan whose specs changed', async () => {
    expect((await cli(['plan', '-f', 'job.yaml', '--out', 'again.json'])).code).toBe(0);
    writeFileSync(join(dir, 'job.yaml'), job.replace('--steps 300', '--steps 301'));
    const r = await cli(['apply', 'again.json', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: the plan is stale: the specs changed since it was made — run `trainctl plan` again and apply the new plan\n');
    writeFileSync(join(dir, 'job.yaml'), job);
  });
});

describe('trainctl apply --wait', () => {
  const wait = suite('wait');
  const fail = suite('fail');

  it('runs a sweep to the end within maxParallel, with a summary and a result per trial', async () => {
    const { dir, home, trialDir } = wait;
    writeFiles(dir, { 'job.yaml': spec({ name: 'sweep', lrs: [0.1, 0.05, 0.02, 0.01], maxParallel: 2, args: '--steps 40' }) });
    const child = spawn(process.execPath, [binPath, 'apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], {
      cwd: dir, env: { ...process.env, TRAINCTL_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    let most = 0;
    let running = true;
    void exited.then(() => { running = false; });
    while (running) {
      most = Math.max(most, new Set(liveTrials(home)).size, runners(home).size);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(stderr).toBe('');
    expect(await exited).toBe(0);
    expect(most).toBe(2);
    expect(stdout).toMatch(/^Training completed: 4 trials, best loss [0-9.e-]+ \(sweep-[0-9a-f]{8}\), \d+s, cost \$0\.00$/m);
    expect(stdout).toMatch(/^sweep-[0-9a-f]{8} +waiting — for a slot \(maxParallel\)$/m);
    expect(stdout).toMatch(/^sweep-[0-9a-f]{8} +succeeded +step 40 +loss [0-9.e-]+ +\d+s$/m);
    const trials = readdirSync(join(home, 'runs/applytest/sweep')).sort();
    expect(trials).toHaveLength(4);
    for (const t of trials) {
      const result = JSON.parse(readFileSync(join(trialDir('sweep', t), 'result.json'), 'utf8')) as { state: string; attempt: number; best?: { metric: string } };
      expect(result).toMatchObject({ state: 'succeeded', attempt: 1, best: { metric: 'loss' } });
    }
    // the best trial named in the summary is the one with the lowest best loss
    const best = trials.map((t) => [t, (JSON.parse(readFileSync(join(trialDir('sweep', t), 'result.json'), 'utf8')) as { best: { value: number } }).best.value] as const).sort((a, b) => a[1] - b[1])[0]!;
    expect(stdout).toContain(`(${best[0]})`);
  }, 60_000);

  it('exits 1 and names the trial that failed for good', async () => {
    const { dir, cli } = fail;
    writeFiles(dir, { 'job.yaml': spec({ name: 'broken', lrs: [0.1], args: '--steps 40 --fail-at 10' }) });
    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Training failed: 1 trial, 1 failed: broken-[0-9a-f]{8} \(exit code 3\), \d+s, cost \$0\.00$/m);
  }, 30_000);
});

describe('apply killed half-way', () => {
  const moments = [
    // some nodes claimed, none started: the claims die with their launcher
    { moment: 'at its first claim', suite: suite('kill-claim'), reached: (recs: LocalNodeRecord[]) => recs.length > 0 },
    // some runners spawned but maybe not recorded: they fill in their own pid
    { moment: 'at its first spawn', suite: suite('kill-spawn'), reached: (recs: LocalNodeRecord[]) => recs.some((r) => r.spawnedAt) },
  ];

  it.each(moments)('$moment, then re-applied, starts exactly one runner per trial, and each trial trains once', async ({ suite: { dir, home, cli, trialDir }, reached }) => {
    const lrs = [0.1, 0.09, 0.08, 0.07, 0.06, 0.05];
    writeFiles(dir, { 'job.yaml': spec({ name: 'killed', lrs, args: '--steps 150 --sleep 0.01' }) });
    const child = spawn(process.execPath, [binPath, 'apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env: { ...process.env, TRAINCTL_HOME: home }, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    await until(() => reached(listNodeRecords(home).map((r) => r.rec)), 'the moment to kill', 10_000);
    child.kill('SIGKILL');
    await exited;

    const r = await cli(['apply', '-f', 'job.yaml', '--yes']);
    // the killed apply's lock is taken over at once: its holder is a process of this host that is gone
    expect(r.stderr).toMatch(/^took over the lock of project applytest from \S+:\d+ \(trainctl apply\): that process is no longer running\n$/);
    expect(r.code).toBe(0);
    await until(() => runners(home).size === lrs.length, 'a runner per trial', 10_000);
    const seen = runners(home);
    for (const pids of seen.values()) expect(pids).toHaveLength(1);
    expect(liveTrials(home).sort()).toEqual([...seen.keys()].sort());

    const done = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`Training completed: ${lrs.length} trials`);
    for (const t of seen.keys()) {
      expect(readdirSync(join(trialDir('killed', t), 'attempts'))).toEqual(['1']);
      expect(JSON.parse(readFileSync(join(trialDir('killed', t), 'result.json'), 'utf8'))).toMatchObject({ state: 'succeeded', attempt: 1 });
    }
  }, 60_000);
});

