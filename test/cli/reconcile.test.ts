// The controller: `trainctl reconcile --watch` as a real child process against the local provider
// launches a directory of specs (a scheduled job among them), resumes a trial whose runner was
// killed, stops a job at its cost limit, survives a store that fails, keeps a second controller
// out, and ends cleanly on SIGTERM — with no trial ever launched twice. Plus single passes, bad
// flags, and the status dashboard.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { binPath, repoRoot, runCli, runners, seenProcess, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';

const code = join(repoRoot, 'test/fixtures/apply/code');
const homes: string[] = [];
const children: ChildProcess[] = [];



afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stopProcesses(homes.flatMap((h) => [...runners(h).values()].flat()).map(seenProcess), { group: true, graceMs: 0 });
});

interface Controller { out(): string; lines(re: RegExp): string[]; exited: Promise<number | null>; child: ChildProcess }

function controller(dir: string, home: string, args: string[]): Controller {
  const child = spawn(process.execPath, [binPath, 'reconcile', ...args], { cwd: dir, env: { ...process.env, TRAINCTL_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return {
    out: () => out,
    lines: (re) => out.split('\n').filter((l) => re.test(l)),
    exited: new Promise((r) => child.on('close', r)),
    child,
  };
}

const T = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

const spec = (o: { name: string; project: string; lrs: number[]; args: string; extra?: string; output?: string }) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${o.name}, project: ${o.project} }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} ${o.args}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", gracePeriod: 10s }
${o.output ? `  output: { uri: "${o.output}" }\n` : ''}  hyperparameters:
    parameters: { lr: [${o.lrs.join(', ')}] }
  metrics: { objective: { metric: loss, goal: minimize } }
${o.extra ?? ''}`;

describe('trainctl reconcile --watch (the controller)', () => {
  it('launches a directory of specs, resumes a killed trial, stops at the cost limit, keeps a second controller out, and never launches twice', async () => {
    const dir = tempDir('trainctl-ctl-');
    const home = join(dir, 'home');
    homes.push(home);
    writeFiles(dir, {
      // $36 an hour is $0.01 a second per trial
      'home/prices.json': JSON.stringify({ local: 36 }),
      'jobs/capped.yaml': spec({ name: 'capped', project: 'ctl', lrs: [0.1, 0.05], args: '--steps 100000 --sleep 0.01 --ckpt-every 20', extra: '  limits: { costUSD: 0.2 }\n' }),
      'jobs/quick.yaml': spec({ name: 'quick', project: 'ctl', lrs: [0.02], args: '--steps 40' }),
      // the latest daily slot is due (a missed slot runs once), as a run of its own trial ids
      'jobs/nightly.yaml': spec({ name: 'nightly', project: 'ctl', lrs: [0.03], args: '--steps 40', extra: '  schedule: { cron: "0 0 * * *", timezone: UTC, concurrencyPolicy: Forbid }\n' }),
    });
    const store = join(home, 'runs/ctl');

    // how many runners each trial ever had at once, sampled through the whole run
    const most = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const [t, pids] of runners(home)) most.set(t, Math.max(most.get(t) ?? 0, pids.length));
        await new Promise((r) => setTimeout(r, 30));
      }
    })();

    const ctl = controller(dir, home, ['-f', 'jobs', '--watch', '--interval', '1s']);
    expect(await until(() => ctl.lines(/ watching /)[0], 'the start line')).toMatch(new RegExp(`^${T} watching 3 jobs \\(jobs\\), a pass every 1s$`));
    const created = await until(() => { const l = ctl.lines(new RegExp(`^${T} create `)); return l.length === 4 && l; }, 'four creates');
    for (const l of created) expect(l).toMatch(new RegExp(`^${T} create ((capped|quick)-[0-9a-f]{8}|nightly-[0-9a-f]{8}-\\d{8}t0000) \\(new trial\\)$`));
    const capped = created.map((l) => /create (capped-[0-9a-f]{8})/.exec(l)?.[1]).filter((t): t is string => Boolean(t));
    expect(capped).toHaveLength(2);

    // a second controller on the same project stays out while the first holds the lock
    const standby = controller(dir, home, ['-f', 'jobs', '--watch', '--interval', '1s']);
    await until(() => standby.lines(/ locked /).length > 0, 'the standby to find the lock');
    expect(standby.lines(/ locked /)[0]).toMatch(new RegExp(`^${T} locked project ctl is locked by \\S+:${ctl.child.pid} \\(trainctl reconcile\\) since \\S+Z, lock id [0-9a-f]{24}; trying again in 1s$`));

    // kill one capped trial's whole node once it has a checkpoint: the controller resumes it
    const victim = capped[0]!;
    const latest = join(store, 'capped', victim, 'checkpoints/LATEST');
    await until(() => existsSync(latest), 'a checkpoint');
    const [pid] = await until(() => runners(home).get(victim), 'the victim runner');
    process.kill(-pid!, 'SIGKILL');
    const resumed = await until(() => ctl.lines(new RegExp(`^${T} resume ${victim} `))[0], 'the resume');
    expect(resumed).toMatch(new RegExp(`^${T} resume ${victim} \\(node lost while running; from checkpoint at step \\d+, attempt 2; drift: node ctl\\.${victim}-a1-r0 is gone \\(process ${pid} not running\\)\\)$`));

    // the runners stop the job at its limit; the controller logs it and launches nothing more
    await until(() => ctl.lines(new RegExp(`^${T} stopped capped-`)).length === 2, 'both capped trials to stop', 45_000);
    // a plan warning is logged when it first appears, not on every pass
    expect(ctl.lines(/ warning job capped: no limits\.maxDuration/)).toHaveLength(1);
    await until(() => ctl.lines(new RegExp(`^${T} succeeded quick-[0-9a-f]{8} \\(finished\\)$`)).length === 1, 'the quick trial');
    await until(() => ctl.lines(new RegExp(`^${T} succeeded nightly-[0-9a-f]{8}-\\d{8}t0000 \\(finished\\)$`)).length === 1, 'the scheduled trial');
    const before = ctl.out();
    await new Promise((r) => setTimeout(r, 2500));
    expect(ctl.out().slice(before.length)).toBe('');

    standby.child.kill('SIGTERM');
    ctl.child.kill('SIGTERM');
    expect(await ctl.exited).toBe(0);
    expect(await standby.exited).toBe(0);
    sampling = false;
    await sampler;
    expect(ctl.out()).toMatch(new RegExp(`${T} SIGTERM: stopping after the current pass\\n${T} stopped\\n$`));
    // nothing went wrong along the way, and the standby never launched anything
    expect(ctl.lines(/ (error|failed) /)).toEqual([]);
    expect(standby.lines(new RegExp(`^${T} (create|resume|retry|replace|stop) `))).toEqual([]);

    // no duplicate launches: one create per trial, one resume, one runner per trial at any moment
    expect(ctl.lines(new RegExp(`^${T} (create|resume|retry|replace) `))).toHaveLength(5);
    expect([...most.values()]).toEqual([1, 1, 1, 1]);
    expect(standby.lines(/ locked /)).toHaveLength(1);
    const attempts = (job: string, t: string) => readdirSync(join(store, job, t, 'attempts')).sort();
    expect(attempts('capped', victim)).toEqual(['1', '2']);
    expect(attempts('capped', capped[1]!)).toEqual(['1']);
    for (const t of capped) {
      expect(JSON.parse(readFileSync(join(store, 'capped', t, 'result.json'), 'utf8'))).toMatchObject({ state: 'stopped', stopReason: 'cost-limit' });
    }

    // the dashboard over the directory: totals first, then every trial, then a line per job
    const status = await runCli(['status', '-f', 'jobs'], { cwd: dir, env: { TRAINCTL_HOME: home } });
    expect(status.code).toBe(0);
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(/^3 jobs, 4 trials — 2 succeeded, 2 stopped; spent \$0\.\d\d$/);
    expect(lines[2]).toMatch(/^TRIAL +PARAMETERS +STATE/);
    expect(status.stdout).toMatch(/^ctl\/capped: 2 trials — 2 stopped; best loss/m);
    expect(status.stdout).toMatch(/^ctl\/quick: 1 trial — 1 succeeded; best loss/m);
  }, 120_000);

  it('survives a store that fails, backing off, and goes on once it works again', async () => {
    const dir = tempDir('trainctl-ctl-err-');
    const home = join(dir, 'home');
    homes.push(home);
    // a file where the store's directory should be: every write to the store fails (ENOTDIR)
    writeFiles(dir, { 'job.yaml': spec({ name: 'flaky', project: 'ctlerr', lrs: [0.1], args: '--steps 40', output: `file://${dir}/runs` }), runs: 'not a directory' });
    const ctl = controller(dir, home, ['-f', 'job.yaml', '--watch', '--interval', '1s']);
    const errors = await until(() => { const l = ctl.lines(/ error /); return l.length >= 3 && l; }, 'three failed passes');
    expect(errors[0]).toMatch(new RegExp(`^${T} error Error: ENOTDIR: not a directory, mkdir '\\S+/runs/ctlerr'; next pass in 1s$`));
    // capped exponential backoff with jitter: about 1 s, 2 s, 4 s
    expect(errors[1]).toMatch(/; next pass in 2s$/);
    expect(errors[2]).toMatch(/; next pass in [34]s$/);
    rmSync(join(dir, 'runs'));
    await until(() => ctl.lines(new RegExp(`^${T} create flaky-[0-9a-f]{8} \\(new trial\\)$`)).length === 1, 'the launch', 20_000);
    await until(() => ctl.lines(new RegExp(`^${T} succeeded flaky-`)).length === 1, 'the trial to finish');
    ctl.child.kill('SIGINT');
    expect(await ctl.exited).toBe(0);
    expect(ctl.out()).toMatch(new RegExp(`${T} SIGINT: stopping after the current pass\\n${T} stopped\\n$`));
  }, 60_000);
});

describe('trainctl reconcile (one pass)', () => {
  it('carries out the plan without asking, then changes nothing; bad flags are one line', async () => {
    const dir = tempDir('trainctl-ctl-once-');
    const home = join(dir, 'home');
    homes.push(home);
    writeFiles(dir, { 'jobs/once.yaml': spec({ name: 'once', project: 'ctlonce', lrs: [0.1, 0.05], args: '--steps 30000 --sleep 0.01' }) });
    const cli = (args: string[]) => runCli(args, { cwd: dir, env: { TRAINCTL_HOME: home } });
    const first = await cli(['reconcile', '-f', 'jobs']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^${T} create once-[0-9a-f]{8} \\(new trial\\)\\n${T} create once-[0-9a-f]{8} \\(new trial\\)\\nReconciled 1 job: 2 launched, 0 stopped, 0 unchanged\\.\\n$`));
    const again = await cli(['reconcile', '-f', 'jobs']);
    expect(again).toMatchObject({ code: 0, stdout: 'Reconciled 1 job: 0 launched, 0 stopped, 2 unchanged.\n' });

    expect(await cli(['reconcile', '-f', 'jobs', '--interval', '5s'])).toMatchObject({ code: 1, stderr: 'error: --interval works only with --watch — add --watch, or drop --interval\n' });
    expect(await cli(['reconcile', '-f', 'jobs', '--watch', '--interval', 'often'])).toMatchObject({ code: 1, stderr: 'error: --interval "often" is not a duration — write it like 30s, 1m or 5m\n' });
    expect(await cli(['reconcile', 'jobs'])).toMatchObject({ code: 1, stderr: 'error: reconcile takes no arguments (got "jobs") — pass the specs with -f <file|dir>\n' });
    writeFileSync(join(dir, 'jobs/bad.yaml'), 'apiVersion: trainctl.dev/v1\nkind: TrainJob\nmetadata: { name: bad }\nspec: { nope: 1 }\n');
    const bad = await cli(['reconcile', '-f', 'jobs']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^jobs\/bad\.yaml:\d+:\d+: error: /);
  }, 30_000);
});
