// Cost control end to end: local nodes priced through prices.json, the plan's estimate against a
// hand computation, apply refusing an over-budget plan, and the runners stopping the job at its
// limits.costUSD with the spend recorded in their heartbeats.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli, runners, seenProcess, stopProcesses, tempDir, writeFiles } from '../helpers.js';

const TRIAL = readFileSync(join(repoRoot, 'test/fixtures/sweep/trial.py'), 'utf8');
// $36 an hour is $0.01 a second
const PRICE = 36;
const HEARTBEAT_S = 2;

const dir = tempDir('trainctl-cost-');
const home = join(dir, 'home');
const env = { TRAINCTL_HOME: home };
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd: dir, env: { ...env, ...extra } });
const store = join(home, 'runs/costs/capped');

const job = (name: string, limits: string) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${name}, project: costs }
spec:
  code: { path: ${join(dir, 'code')}, command: "python3 trial.py --loss {loss} --steps 300 --sleep 0.1" }
  checkpoint: { dir: checkpoints/, pattern: "*.json" }
  hyperparameters: { parameters: { loss: [1, 2] }, maxParallel: 2 }
  metrics: { objective: { metric: loss, goal: minimize } }
  limits: ${limits}
`;

writeFiles(dir, {
  'code/trial.py': TRIAL,
  'home/prices.json': JSON.stringify({ local: PRICE }),
  'capped.yaml': job('capped', '{ costUSD: 0.05, maxDuration: 10s }'),
  'open.yaml': job('open', '{ costUSD: 0.05 }'),
  'bad-prices.json': '{"local": "cheap"}',
});

afterAll(async () => {
  await stopProcesses([...runners(home).values()].flat().map(seenProcess), { graceMs: 10_000 });
});

interface PlanJson {
  jobs: { estimate: { usdPerHour: number; perTrialUSD: number | string; worstCaseUSD: number | string; overLimit: boolean } }[];
  actions: { estimatedCostUSD?: number | string }[];
  warnings: string[];
}

describe('cost limits', () => {
  it('plan estimates per trial and in total: $36/h × 1 node × 10s = $0.10 a trial, $0.20 for two, over the $0.05 limit', async () => {
    const text = await cli(['plan', '-f', 'capped.yaml']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {4}\+ create {2}capped-[0-9a-f]{8} {2}loss=1 {2}new trial {2}≤ \$0\.10$/m);
    expect(text.stdout).toContain('  cost: $36/h (prices.json) × 1 node × 10s = $0.10 per trial; worst case $0.20 (spent $0.00 + up to $0.20 more) of the $0.05 limit\n');
    expect(text.stdout).toContain('warning: job capped: worst-case cost $0.20 (spent $0.00 + up to $0.20 more) exceeds limits.costUSD $0.05\n');
    const json = JSON.parse((await cli(['plan', '-f', 'capped.yaml', '-o', 'json'])).stdout) as PlanJson;
    expect(json.jobs[0]!.estimate).toMatchObject({ usdPerHour: 36, perTrialUSD: 0.1, overLimit: true });
    expect(json.jobs[0]!.estimate.worstCaseUSD).toBeCloseTo(0.2, 12);
    expect(json.actions.map((a) => a.estimatedCostUSD)).toEqual([0.1, 0.1]);
  });

  it('no maxDuration: the estimate is unbounded, with a warning, and apply is not refused for it', async () => {
    const r = await cli(['plan', '-f', 'open.yaml', '-o', 'json']);
    const json = JSON.parse(r.stdout) as PlanJson;
    expect(json.jobs[0]!.estimate).toMatchObject({ perTrialUSD: 'unbounded', worstCaseUSD: 'unbounded', overLimit: false });
    expect(json.actions.map((a) => a.estimatedCostUSD)).toEqual(['unbounded', 'unbounded']);
    expect(json.warnings).toEqual(['job open: no limits.maxDuration, so its worst-case cost is unbounded; its runners stop it when its spend reaches limits.costUSD $0.05']);
    expect((await cli(['plan', '-f', 'open.yaml'])).stdout).toMatch(/≤ unbounded$/m);
  });

  it('a bad price file is one line, exit 1', async () => {
    const r = await cli(['plan', '-f', 'capped.yaml'], { TRAINCTL_PRICES: join(dir, 'bad-prices.json') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: \S+bad-prices\.json: local must be a price in USD per hour ≥ 0, got "cheap" — the format: .*\n$/);
    expect(r.stderr.trimEnd()).not.toContain('\n');
    const missing = await cli(['plan', '-f', 'capped.yaml'], { TRAINCTL_PRICES: join(dir, 'nope.json') });
    expect(missing.stderr).toMatch(/^error: cannot read the price file \S+nope\.json: ENOENT — /);
  });

  it('apply refuses the over-budget plan and launches nothing; with --allow-over-budget the runners stop the job at its limit', async () => {
    const refused = await cli(['apply', '-f', 'capped.yaml', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: job capped could cost $0.20, over its limits.costUSD $0.05; nothing was launched — raise limits.costUSD, shorten limits.maxDuration or lower the trial count, or pass --allow-over-budget (the runners still stop at the limit)\n');
    expect(existsSync(store)).toBe(false);
    expect(existsSync(join(home, 'local/nodes')) && readdirSync(join(home, 'local/nodes')).length > 0).toBe(false);

    const r = await cli(['apply', '-f', 'capped.yaml', '--yes', '--wait', '--interval', '1s', '--allow-over-budget']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const trials = readdirSync(store);
    expect(trials).toHaveLength(2);
    let total = 0;
    for (const t of trials) {
      const status = JSON.parse(readFileSync(join(store, t, 'attempts/1/status.json'), 'utf8')) as { state: string; costUSD: number; step: number };
      const result = JSON.parse(readFileSync(join(store, t, 'result.json'), 'utf8')) as { state: string; stopReason?: string; costUSD: number };
      expect(status.state).toBe('stopped');
      expect(result).toMatchObject({ state: 'stopped', stopReason: 'cost-limit' });
      // stopped long before its 300 steps (30 s) or its maxDuration (10 s)
      expect(status.step).toBeLessThan(100);
      expect(readFileSync(join(store, t, 'attempts/1/logs/0.log'), 'utf8')).toMatch(/the job has spent \$0\.0\d+ of its limits\.costUSD \$0\.05: stopping this trial/);
      total += status.costUSD;
    }
    // at the limit, and past it by less than one heartbeat of the job's rate: 2 trials × $0.01/s × 2 s
    expect(total).toBeGreaterThanOrEqual(0.05 - 1e-9);
    expect(total).toBeLessThan(0.05 + (2 * PRICE * HEARTBEAT_S) / 3600);
    expect(r.stdout).toMatch(new RegExp(`^Training completed: 2 trials \\(2 stopped\\), best loss 1 \\(capped-[0-9a-f]{8}\\), \\d+s, cost \\$${total.toFixed(2).replace('.', '\\.')}$`, 'm'));

    const status = await cli(['status', '-f', 'capped.yaml']);
    expect(status.stdout).toMatch(new RegExp(`^costs/capped: 2 trials — 2 stopped; best loss 1 \\(capped-[0-9a-f]{8}\\); spent \\$${total.toFixed(2).replace('.', '\\.')}$`, 'm'));
    const statusJson = JSON.parse((await cli(['status', '-f', 'capped.yaml', '-o', 'json'])).stdout) as { jobs: { costUSD: number; trials: { costUSD: number }[] }[] };
    expect(statusJson.jobs[0]!.costUSD).toBeCloseTo(total, 9);
    expect(statusJson.jobs[0]!.trials.every((t) => t.costUSD > 0.01)).toBe(true);

    // the job is at its limit: nothing launches again, and the plan says why
    const after = await cli(['plan', '-f', 'capped.yaml']);
    expect(after.stdout).toContain(`warning: job capped: spent $${total.toFixed(2)} of its $0.05 limit`);
    expect(after.stdout).toMatch(/^No changes\. 2 trials match the specs\.$/m);
  }, 40_000);
});
