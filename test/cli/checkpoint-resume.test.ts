// `trainctl checkpoint resume`: a finished or stopped trial is resumed by the next apply from the
// chosen checkpoint (a step in its store, or a file from elsewhere, stored first); a live trial is
// refused. End to end with real runners, as the other CLI tests run them.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { S3Store } from '../../src/store/s3.js';
import { repoRoot, runCli, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const TRAIN = join(repoRoot, 'test/fixtures/train/train.py');
const json = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

const spec = (code: string, command: string, lrs = '[0.1]') => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: fit, project: r }
spec:
  code: { path: ${code}, command: "${command} --lr {lr}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", keepLastN: 5 }
  hyperparameters: { parameters: { lr: ${lrs} }, maxParallel: 2 }
`;


function setup(command: string, lrs?: string) {
  const dir = tempDir();
  const home = join(dir, 'home');
  writeFiles(dir, { 'code/train.py': readFileSync(TRAIN, 'utf8'), 'job.yaml': spec(join(dir, 'code'), command, lrs) });
  const runs = join(home, 'runs/r/fit');
  return { dir, env: { TRAINCTL_HOME: home }, runs, trials: () => (existsSync(runs) ? readdirSync(runs).sort() : []) };
}

type PlanJson = { actions: { trial: string; kind: string; reason: string; resumeFromStep?: number; attempt?: number }[] };

describe('trainctl checkpoint resume', () => {
  it('rewinds a finished trial to an earlier checkpoint; the next apply resumes from it', { timeout: 120_000 }, async () => {
    const t = setup('python3 train.py --steps 40 --every 10 --sleep 0');
    const first = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait'], { cwd: t.dir, env: t.env });
    expect(first.code).toBe(0);
    const [trial] = t.trials() as [string];
    const tdir = join(t.runs, trial);
    expect(readdirSync(join(tdir, 'checkpoints')).sort()).toEqual(['10', '20', '30', '40', 'LATEST']);
    expect(json<{ state: string }>(join(tdir, 'result.json')).state).toBe('succeeded');

    const dry = await runCli(['checkpoint', 'resume', '20', '-f', 'job.yaml', '--dry-run'], { cwd: t.dir, env: t.env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`Would resume ${trial} from checkpoint 20:
  - point ${trial}'s LATEST at checkpoint 20 (now 40)
  - record attempt 2 as interrupted at step 20, so that the planner resumes the trial (its succeeded result stays in the store as history)

Then \`trainctl apply\` would resume ${trial} from step 20 (attempt 3). Dry run: nothing changed.
`);
    expect(readFileSync(join(tdir, 'checkpoints/LATEST'), 'utf8').trim()).toBe('40');

    const r = await runCli(['checkpoint', 'resume', join(tdir, 'checkpoints/20'), '-f', 'job.yaml'], { cwd: t.dir, env: t.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('trainctl plan will now do:');
    expect(r.stdout).toMatch(new RegExp(`~ resume +${trial} .*from checkpoint at step 20, attempt 3`));
    expect(readFileSync(join(tdir, 'checkpoints/LATEST'), 'utf8').trim()).toBe('20');
    expect(json<{ state: string; step: number; resumePoint: unknown }>(join(tdir, 'attempts/2/status.json'))).toMatchObject({ n: 2, state: 'interrupted', step: 20, costUSD: 0, resumePoint: { step: 20, by: 'trainctl checkpoint resume' } });
    const plan = JSON.parse((await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: t.dir, env: t.env })).stdout) as PlanJson;
    expect(plan.actions).toMatchObject([{ trial, kind: 'resume', resumeFromStep: 20, attempt: 3 }]);

    const second = await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait'], { cwd: t.dir, env: t.env });
    expect(second.code).toBe(0);
    expect(json<{ state: string; resumedFromStep?: number }>(join(tdir, 'attempts/3/status.json'))).toMatchObject({ state: 'succeeded', resumedFromStep: 20 });
    expect(readFileSync(join(tdir, 'attempts/3/logs/0.log'), 'utf8')).toContain('resumed from step 20');
  });

  it('stores a checkpoint file from elsewhere as a new step and resumes from it', { timeout: 120_000 }, async () => {
    const t = setup('python3 train.py --steps 30 --every 10 --sleep 0');
    expect((await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait'], { cwd: t.dir, env: t.env })).code).toBe(0);
    const [trial] = t.trials() as [string];
    const tdir = join(t.runs, trial);
    // a hand-made checkpoint in the training script's own format, named by its step
    writeFiles(t.dir, { 'warm/ckpt_0015.json': JSON.stringify({ step: 15, w: 0.5 }) });
    const r = await runCli(['checkpoint', 'resume', 'warm/ckpt_0015.json', '-f', 'job.yaml', '--trial', trial], { cwd: t.dir, env: t.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`  - store warm/ckpt_0015.json in ${trial}'s store as checkpoint 15\n`);
    const manifest = json<{ step: number; files: { path: string; size: number; sha256: string }[] }>(join(tdir, 'checkpoints/15/MANIFEST.json'));
    expect(manifest).toMatchObject({ step: 15, files: [{ path: 'ckpt_0015.json', size: 19 }] });
    expect(readFileSync(join(tdir, 'checkpoints/LATEST'), 'utf8').trim()).toBe('15');
    const listed = await runCli(['checkpoint', 'list', tdir], { cwd: t.dir, env: t.env });
    expect(listed.stdout).toMatch(/^ +15 +1 +19 B .* complete {2}LATEST$/m);
    expect((await runCli(['apply', '-f', 'job.yaml', '--yes', '--wait'], { cwd: t.dir, env: t.env })).code).toBe(0);
    expect(readFileSync(join(tdir, 'attempts/3/logs/0.log'), 'utf8')).toContain('resumed from step 15');
  });

  it('refuses a live trial with a hint to destroy it first, and bad choices in one line', { timeout: 120_000 }, async () => {
    const t = setup('python3 train.py --steps 400 --every 5 --sleep 0.05', '[0.1, 0.2]');
    expect((await runCli(['apply', '-f', 'job.yaml', '--yes'], { cwd: t.dir, env: t.env })).code).toBe(0);
    try {
      await until(() => t.trials().length === 2 && t.trials().every((x) => existsSync(join(t.runs, x, 'checkpoints/LATEST'))), 'a checkpoint in the store');
      const [a, b] = t.trials() as [string, string];
      const step = readFileSync(join(t.runs, a, 'checkpoints/LATEST'), 'utf8').trim();
      const live = await runCli(['checkpoint', 'resume', step, '-f', 'job.yaml', '--trial', a], { cwd: t.dir, env: t.env });
      expect(live).toMatchObject({ code: 1, stdout: '' });
      expect(live.stderr).toMatch(new RegExp(`^error: trial ${a} is live \\(local \\S+\\); its checkpoints are still being written — stop it first: \`trainctl destroy -f job\\.yaml ${a}\`\\n$`));
      const cases: [string[], RegExp][] = [
        [['checkpoint', 'resume', '5', '-f', 'job.yaml'], new RegExp(`^error: the specs have 2 trials; say which one to resume — pass --trial \\(one of: ${a}, ${b}\\)|pass --trial \\(one of: ${b}, ${a}\\)`)],
        [['checkpoint', 'resume', '5', '-f', 'job.yaml', '--trial', 'fit-nope'], /^error: no trial fit-nope in the given specs — trials: /],
        [['checkpoint', 'resume', 'missing.pt', '-f', 'job.yaml', '--trial', a], /^error: missing\.pt: no such file or directory — pass a step number, a checkpoint directory or a checkpoint file\n$/],
        [['checkpoint', 'resume', join(t.runs, b, 'checkpoints', step), '-f', 'job.yaml', '--trial', a], new RegExp(`^error: --trial ${a} does not match the checkpoint's trial ${b}`)],
      ];
      expect((await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: t.dir, env: t.env })).code).toBe(0);
      for (const [args, stderr] of cases) {
        const r = await runCli(args, { cwd: t.dir, env: t.env });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(stderr);
      }
      // stopped now: a step it does not have is refused, the one it has is accepted
      const none = await runCli(['checkpoint', 'resume', '999', '-f', 'job.yaml', '--trial', a], { cwd: t.dir, env: t.env });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(new RegExp(`^error: trial ${a} has no complete checkpoint at step 999 — complete checkpoints: [\\d, ]+ \\(see \`trainctl checkpoint list\`\\)\\n$`));
      // keep-last-N pruned while it ran: pick the oldest complete checkpoint it has now
      const kept = readdirSync(join(t.runs, a, 'checkpoints')).filter((n) => existsSync(join(t.runs, a, 'checkpoints', n, 'MANIFEST.json'))).map(Number).sort((x, y) => x - y);
      const ok = await runCli(['checkpoint', 'resume', String(kept[0]), '-f', 'job.yaml', '--trial', a], { cwd: t.dir, env: t.env });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`(its stopped result stays in the store as history)`);
      const plan = JSON.parse((await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: t.dir, env: t.env })).stdout) as PlanJson;
      expect(plan.actions.find((x) => x.trial === a)).toMatchObject({ kind: 'resume', resumeFromStep: kept[0] });
      expect(plan.actions.find((x) => x.trial === b)).toMatchObject({ kind: 'noop', reason: 'finished' });
    } finally {
      await runCli(['destroy', '-f', 'job.yaml', '--yes'], { cwd: t.dir, env: t.env });
    }
  });

  it('works on an s3:// output store: LATEST moved and the resume point recorded there', { timeout: 60_000 }, async () => {
    const client = testClient();
    const bucket = await makeBucket(client, 'cli-resume');
    const dir = tempDir();
    const env = { TRAINCTL_HOME: join(dir, 'home'), ...s3Env() };
    writeFiles(dir, { 'code/train.py': 'print(1)\n', 'job.yaml': `${spec(join(dir, 'code'), 'python3 train.py')}  output: { uri: s3://${bucket}/runs/ }\n` });
    const before = JSON.parse((await runCli(['plan', '-f', 'job.yaml', '-o', 'json'], { cwd: dir, env })).stdout) as PlanJson & { actions: { specHash: string }[] };
    const { trial, specHash } = before.actions[0]!;
    const store = new S3Store(`s3://${bucket}/runs/`, client);
    const ref = { project: 'r', job: 'fit', trial };
    writeFiles(dir, { 'work/ckpt_0010.json': '{"step": 10}', 'work/ckpt_0020.json': '{"step": 20}' });
    await store.writeSpec(ref, { project: 'r', job: 'fit', trial, specHash, parameters: { lr: 0.1 }, command: 'python3 train.py --lr 0.1' });
    await store.putCheckpoint(ref, 10, 1, join(dir, 'work'), ['ckpt_0010.json']);
    await store.putCheckpoint(ref, 20, 1, join(dir, 'work'), ['ckpt_0020.json']);
    await store.writeStatus(ref, { n: 1, specHash, state: 'failed', exitCode: 1, step: 25, startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:05:00Z', costUSD: 0 });

    const r = await runCli(['checkpoint', 'resume', '10', '-f', 'job.yaml'], { cwd: dir, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`~ resume +${trial} .*from checkpoint at step 10, attempt 3`));
    const rec = await store.readTrial(ref);
    expect(rec?.checkpoint).toEqual({ step: 10 });
    expect(rec?.attempts.map((a) => `${a.n} ${a.state} ${a.step}`)).toEqual(['1 failed 25', '2 interrupted 10']);
    const listed = await runCli(['checkpoint', 'list', `s3://${bucket}/runs/r/fit/${trial}/`], { cwd: dir, env });
    expect(listed.stdout).toContain('LATEST → 10');
  });
});
