// `trainctl destroy` and `trainctl run` end to end: real runners, real temp dirs.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli, tempDir, until, writeFiles } from '../helpers.js';

const TRAIN = join(repoRoot, 'test/fixtures/train/train.py');

const spec = (dir: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: slow, project: d }
spec:
  code: { path: ${dir}, command: "python3 train.py --steps 400 --every 5 --sleep 0.05 --lr {lr}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", keepLastN: 2 }
  hyperparameters: { parameters: { lr: [0.1, 0.2] }, maxParallel: 2 }
`;

const runs = (home: string) => join(home, 'runs/d/slow');
const trialIds = (home: string) => readdirSync(runs(home)).sort();
const json = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runnerPids(home: string): number[] {
  const dir = join(home, 'local/nodes');
  return existsSync(dir) ? readdirSync(dir).map((f) => json<{ pid: number | null }>(join(dir, f)).pid).filter((p): p is number => typeof p === 'number') : [];
}

describe('trainctl destroy', () => {
  it('stops live trials gracefully, keeps their checkpoints, and later plans leave them stopped', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const env = { TRAINCTL_HOME: home };
    writeFiles(dir, { 'code/train.py': readFileSync(TRAIN, 'utf8'), 'job.yaml': spec(join(dir, 'code')) });
    expect((await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: dir, env })).code).toBe(0);
    await until(() => existsSync(runs(home)) && trialIds(home).length === 2
      && trialIds(home).every((t) => existsSync(join(runs(home), t, 'checkpoints/LATEST'))), 'both trials past a checkpoint', 20_000);
    const [first, second] = trialIds(home) as [string, string];
    const pids = runnerPids(home);
    expect(pids).toHaveLength(2);

    const dry = await runCli(['destroy', '-f', 'job.yaml', '--dry-run'], { cwd: dir, env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Destroy: 2 trials to stop.');
    expect(pids.every(alive)).toBe(true);

    const refused = await runCli(['destroy', '-f', 'job.yaml'], { cwd: dir, env });
    expect(refused).toMatchObject({ code: 1, stderr: 'error: refusing to destroy without confirmation: stdin is not a terminal — pass --yes to destroy non-interactively (CI)\n' });
    expect(pids.every(alive)).toBe(true);

    const one = await runCli(['destroy', '-f', 'job.yaml', first, '--yes'], { cwd: dir, env });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('Destroyed: 1 trial stopped, checkpoints kept.');
    expect(json<{ state: string }>(join(runs(home), first, 'result.json')).state).toBe('stopped');
    expect(existsSync(join(runs(home), second, 'result.json'))).toBe(false);
    expect(runnerPids(home).filter(alive)).toHaveLength(1);

    const rest = await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: dir, env });
    expect(rest.stdout).toContain('Destroyed: 1 trial stopped, checkpoints kept.');
    await until(() => pids.every((p) => !alive(p)), 'runners gone', 20_000);
    for (const t of [first, second]) {
      const latest = readFileSync(join(runs(home), t, 'checkpoints/LATEST'), 'utf8').trim();
      expect(existsSync(join(runs(home), t, 'checkpoints', latest, 'MANIFEST.json'))).toBe(true);
      expect(json<{ state: string }>(join(runs(home), t, 'attempts/1/status.json')).state).toBe('interrupted');
    }
    const plan = await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env });
    const actions = (JSON.parse(plan.stdout) as { actions: { kind: string; reason: string }[] }).actions;
    expect(actions.map((a) => `${a.kind} ${a.reason}`)).toEqual(['noop finished', 'noop finished']);
    expect((await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: dir, env })).stdout).toBe('Nothing to destroy: no live trials of d/slow.\n');
    expect(await runCli(['destroy', '-f', 'job.yaml', 'slow-nope', '--yes'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: no trial "slow-nope" in the given specs — see `trainctl status` for trial ids\n' });
  });
});

describe('trainctl run', () => {
  it('runs a script once with its own flags passed through, and records it like any job', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    writeFiles(dir, { 'train.py': readFileSync(TRAIN, 'utf8') });
    const r = await runCli(['run', '--name', 'once', 'train.py', '--steps', '12', '--every', '4', '--lr', '0.5', '--sleep', '0'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Training completed: 1 trial, best loss \S+ \(once-[0-9a-f]{8}\)/);
    const [trial] = readdirSync(join(home, 'runs/default/once'));
    const spec = json<{ command: string }>(join(home, 'runs/default/once', trial!, 'spec.json'));
    expect(spec.command).toBe('python3 train.py --steps 12 --every 4 --lr 0.5 --sleep 0');
    expect(json<{ state: string }>(join(home, 'runs/default/once', trial!, 'result.json')).state).toBe('succeeded');
    // the same --name again: the job is finished, nothing runs twice
    const again = await runCli(['run', '--name', 'once', 'train.py', '--steps', '12', '--every', '4', '--lr', '0.5', '--sleep', '0'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes.');
  });

  it('explains bad input in one line', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'train.py': 'print(1)\n', 'data.txt': 'x' });
    const env = { TRAINCTL_HOME: join(dir, 'home') };
    expect(await runCli(['run', 'nope.py'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: no such script: nope.py\n' });
    expect(await runCli(['run'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: give the script to run — e.g. `trainctl run train.py --epochs 5`\n' });
    expect(await runCli(['run', '--nodes', 'two', 'train.py'], { cwd: dir, env })).toMatchObject({ code: 1, stderr: 'error: --nodes must be a whole number ≥ 1, got "two"\n' });
    expect((await runCli(['run', 'data.txt'], { cwd: dir, env })).stderr).toBe('error: data.txt is neither a .py or .sh script nor executable — chmod +x data.txt, or run it through its interpreter\n');
    expect((await runCli(['run', '--name', 'Bad_Name', 'train.py'], { cwd: dir, env })).stderr).toMatch(/^trainctl run train\.py: error: metadata\.name: "Bad_Name" is not a valid name/);
    const help = await runCli(['run', '--help'], { cwd: dir, env });
    expect(help.stdout).toMatch(/^Usage: trainctl run <script>/);
  });
});
