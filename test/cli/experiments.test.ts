// `trainctl experiments list|compare|report` end to end: a real 4-trial sweep (one trial fails)
// run by the built CLI and the real runner into a temp file:// store, then every view of it; the
// report is opened in headless Chromium with the network cut off.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandJobs } from '../../src/spec/expand.js';
import { loadSpecs } from '../../src/spec/load.js';
import { repoRoot, runCli, tempDir, writeFiles } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';

// loss after s steps is the product of (1 - lr·f), f = 1 for sgd and 0.7 for adam; adam with
// lr 0.5 crashes at step 5. acc = 1 - loss/2; lr is echoed as a metric that never changes.
const TRAIN = `import argparse, json, sys
p = argparse.ArgumentParser()
p.add_argument('--lr', type=float)
p.add_argument('--opt')
a = p.parse_args()
adam = a.opt.startswith('adam')
loss = 1.0
for s in range(1, 21):
    loss *= 1 - a.lr * (0.7 if adam else 1.0)
    print(json.dumps({'step': s, 'loss': loss, 'acc': 1 - loss / 2, 'lr': a.lr}), flush=True)
    if adam and a.lr > 0.4 and s == 5:
        print('diverged', file=sys.stderr, flush=True)
        sys.exit(3)
`;

const ADAM = 'adam, b2=0.99';
const SWEEP = `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: lab }
spec:
  code: { path: ./code, command: "python3 train.py --lr {lr} --opt {opt}" }
  hyperparameters: { parameters: { lr: [0.1, 0.5], opt: [sgd, "${ADAM}"] }, maxParallel: 4 }
  metrics: { objective: { metric: loss, goal: minimize } }
  retry: { onFailure: 0 }
`;
const LATER = `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: later, project: lab }
spec:
  code: { path: ./code, command: "python3 train.py --lr {lr} --opt sgd" }
  hyperparameters: { parameters: { lr: [0.3, 0.4] } }
  metrics: { objective: { metric: acc, goal: maximize } }
`;

interface CompareJson {
  formatVersion: number;
  project: string;
  job: string;
  objective: { metric: string; goal: string } | null;
  sort: { metric: string; goal: string; by: string } | null;
  parameters: string[];
  metrics: string[];
  summary: { trials: number; counts: Record<string, number>; best: { trial: string; metric: string; value: number } | null; costUSD: number };
  trials: { rank: number | null; trial: string; state: string; parameters: Record<string, unknown>; value: number | null; best: { metric: string; value: number; step?: number } | null; final: Record<string, number>; step: number | null; attempt: number; elapsedMs: number; costUSD: number }[];
}

describe('trainctl experiments', () => {
  const dir = tempDir('trainctl-experiments-');
  const home = join(dir, 'home');
  const cli = (args: string[]) => runCli(args, { cwd: dir, env: { TRAINCTL_HOME: home } });
  /** Trial ids by "lr/opt". */
  const id: Record<string, string> = {};
  /** Best first, as worked out by hand from the loss formula: 0.5^20, 0.9^20, 0.93^20, then the failed one. */
  let bestFirst: string[];

  beforeAll(async () => {
    writeFiles(dir, { 'code/train.py': TRAIN, 'job.yaml': SWEEP, 'later.yaml': LATER });
    const { jobs } = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: pathToFileURL(join(home, 'runs')).href });
    for (const t of expandJobs(jobs)) id[`${t.parameters.lr}/${t.parameters.opt}`] = t.id;
    bestFirst = [id['0.5/sgd']!, id['0.1/sgd']!, id[`0.1/${ADAM}`]!, id[`0.5/${ADAM}`]!];
    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    // the sweep "fails": one trial crashed for good, which is what the views must show honestly
    expect(r.stdout).toMatch(/^Training failed: 4 trials, 1 failed: sweep-[0-9a-f]{8} \(exit code 3\)/m);
  }, 90_000);

  it('list: a line per job with its trials, states, best objective and spend', async () => {
    const r = await cli(['experiments', 'list', '-f', 'job.yaml', '-f', 'later.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^JOB +TRIALS +STATES +OBJECTIVE +BEST +SPEND$/);
    expect(lines[1]).toMatch(new RegExp(`^lab/sweep +4 +3 succeeded, 1 failed +loss \\(min\\) +9\\.537e-7 ${id['0.5/sgd']} +\\$0\\.00$`));
    expect(lines[2]).toMatch(/^lab\/later +2 +2 pending +acc \(max\) +- +\$0\.00$/);
    expect(lines).toHaveLength(3);
  });

  it('list --output json', async () => {
    const r = await cli(['experiments', 'list', '-f', 'job.yaml', '-f', 'later.yaml', '--output', 'json']);
    const out = JSON.parse(r.stdout) as { formatVersion: number; jobs: unknown[] };
    expect(out.formatVersion).toBe(1);
    expect(out.jobs).toEqual([
      { project: 'lab', job: 'sweep', trials: 4, counts: { succeeded: 3, failed: 1 }, objective: { metric: 'loss', goal: 'minimize' }, best: { trial: id['0.5/sgd'], metric: 'loss', value: expect.closeTo(0.5 ** 20, 12) }, costUSD: 0 },
      { project: 'lab', job: 'later', trials: 2, counts: { pending: 2 }, objective: { metric: 'acc', goal: 'maximize' }, best: null, costUSD: 0 },
    ]);
  });

  it('compare: parameters, best and final metrics side by side, best first, failed last and unranked', async () => {
    const r = await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^RANK +TRIAL +STATE +lr +opt +best loss +loss +acc +final\.lr +STEP +ELAPSED +COST$/);
    expect(lines.slice(1, 5).map((l) => l.trim().split(/ +/).slice(0, 2))).toEqual([['1', bestFirst[0]], ['2', bestFirst[1]], ['3', bestFirst[2]], ['-', bestFirst[3]]]);
    expect(lines[1]).toMatch(/ 0\.5 +sgd +9\.537e-7 @20 +9\.537e-7 +1 +0\.5 +20 +\d+s +\$0\.00$/);
    expect(lines[4]).toMatch(/failed +0\.5 +adam, b2=0\.99 +0\.116 @5 +0\.116 +0\.942 +0\.5 +5 /);
    expect(r.stdout).toContain('lab/sweep: 4 trials — 3 succeeded, 1 failed; spent $0.00\nSorted best first by best loss (minimize); metric columns are final values.\n');
  });

  it('compare --output json: the documented shape, with values a hand computation gives', async () => {
    const r = await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '-o', 'json']);
    const out = JSON.parse(r.stdout) as CompareJson;
    expect(out).toMatchObject({
      formatVersion: 1, project: 'lab', job: 'sweep',
      objective: { metric: 'loss', goal: 'minimize' }, sort: { metric: 'loss', goal: 'minimize', by: 'best' },
      parameters: ['lr', 'opt'], metrics: ['loss', 'acc', 'lr'],
      summary: { trials: 4, counts: { succeeded: 3, failed: 1 }, best: { trial: bestFirst[0], metric: 'loss' }, costUSD: 0 },
    });
    expect(out.trials.map((t) => [t.trial, t.rank, t.state])).toEqual([
      [bestFirst[0], 1, 'succeeded'], [bestFirst[1], 2, 'succeeded'], [bestFirst[2], 3, 'succeeded'], [bestFirst[3], null, 'failed'],
    ]);
    const [first, , third, failed] = out.trials;
    expect(first!.parameters).toEqual({ lr: 0.5, opt: 'sgd' });
    expect(first!.best).toEqual({ metric: 'loss', value: expect.closeTo(0.5 ** 20, 15), step: 20 });
    expect(third!.final).toEqual({ loss: expect.closeTo(0.93 ** 20, 12), acc: expect.closeTo(1 - 0.93 ** 20 / 2, 12), lr: 0.1 });
    expect(failed).toMatchObject({ parameters: { lr: 0.5, opt: ADAM }, value: expect.closeTo(0.65 ** 5, 12), step: 5, attempt: 1 });
    expect(Object.keys(first!)).toEqual(['rank', 'trial', 'state', 'parameters', 'value', 'best', 'final', 'step', 'attempt', 'elapsedMs', 'costUSD']);
  });

  it('compare --sort: another metric by its final value, ascending unless :max', async () => {
    const asc = JSON.parse((await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '--sort', 'acc', '-o', 'json'])).stdout) as CompareJson;
    expect(asc.sort).toEqual({ metric: 'acc', goal: 'minimize', by: 'final' });
    expect(asc.metrics[0]).toBe('acc');
    expect(asc.trials.map((t) => t.trial)).toEqual([bestFirst[2], bestFirst[1], bestFirst[0], bestFirst[3]]);
    const desc = JSON.parse((await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '--sort', 'acc:max', '-o', 'json'])).stdout) as CompareJson;
    expect(desc.trials.map((t) => t.trial)).toEqual(bestFirst);
    const text = await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '--sort', 'acc:max']);
    expect(text.stdout).toContain('Sorted best first by final acc (maximize)');
  });

  it('compare --output csv: RFC 4180, prefixed columns, best first', async () => {
    const r = await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '--output', 'csv']);
    expect(r.code).toBe(0);
    const records = r.stdout.split('\r\n');
    expect(records.at(-1)).toBe('');
    expect(records[0]).toBe('rank,trial,state,param.lr,param.opt,sort.value,best.metric,best.value,best.step,final.loss,final.acc,final.lr,step,attempt,elapsed_s,cost_usd');
    expect(records.slice(1, 5).map((l) => l.split(',').slice(0, 3))).toEqual([['1', bestFirst[0], 'succeeded'], ['2', bestFirst[1], 'succeeded'], ['3', bestFirst[2], 'succeeded'], ['', bestFirst[3], 'failed']]);
    expect(records[4]).toMatch(new RegExp(`^,${bestFirst[3]},failed,0\\.5,"adam, b2=0\\.99",0\\.116029`));
  });

  it('names what is wrong with the job, the sort or the format', async () => {
    expect(await cli(['experiments', 'compare', '-f', 'job.yaml', '-f', 'later.yaml'])).toMatchObject({
      code: 1, stdout: '', stderr: 'error: name the job to compare — the specs hold 2 jobs (sweep, later): `trainctl experiments compare <job>`\n',
    });
    expect(await cli(['experiments', 'compare', 'swep', '-f', 'job.yaml'])).toMatchObject({ code: 1, stderr: 'error: no job "swep" in the given specs — did you mean "sweep"?\n' });
    expect(await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '--sort', 'acc:up'])).toMatchObject({ code: 1, stderr: 'error: --sort "acc:up" is not <metric>[:min|max] — e.g. --sort val_loss or --sort accuracy:max\n' });
    expect(await cli(['experiments', 'compare', 'sweep', '-f', 'job.yaml', '-o', 'xml'])).toMatchObject({ code: 1, stderr: 'error: unknown output format "xml" — use one of: table, json, csv, text\n' });
    expect(await cli(['experiments', 'lst'])).toMatchObject({ code: 1, stderr: 'error: unknown command "experiments lst" — did you mean `trainctl experiments list`?\n' });
    // the job can be left out when the specs hold one, and be named with its project
    const only = await cli(['experiments', 'compare', '-f', 'job.yaml', '-o', 'json']);
    const named = await cli(['experiments', 'compare', 'lab/sweep', '-f', 'job.yaml', '-o', 'json']);
    expect((JSON.parse(only.stdout) as CompareJson).trials.map((t) => t.trial)).toEqual(bestFirst);
    expect((JSON.parse(named.stdout) as CompareJson).job).toBe('sweep');
  });

  it('has help for the group and each verb', async () => {
    const group = await cli(['experiments', '--help']);
    expect(group.code).toBe(0);
    for (const verb of ['list', 'compare', 'report']) {
      expect(group.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, 'm'));
      expect((await cli(['experiments', verb, '--help'])).stdout).toMatch(new RegExp(`^Usage: trainctl experiments ${verb} `));
    }
    expect((await cli(['--help'])).stdout).toMatch(/^ {2}experiments +Compare the trials of a sweep/m);
  });

  it('report: one self-contained page; in Chromium it loads nothing, logs no error, has a curve per trial, a chart per parameter and the table best first', async () => {
    const r = await cli(['experiments', 'report', 'sweep', '-f', 'job.yaml', '-o', 'report.html']);
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'Wrote report.html: 4 trials, 2 metric charts, 2 parameter charts\n' });
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).not.toMatch(/\b(src|href)=|url\(|@import/);
    expect((await cli(['experiments', 'report', 'sweep', '-f', 'job.yaml', '-o', '-'])).stdout).toMatch(/^<!doctype html>\n[\s\S]*<\/html>\n$/);
    if (!existsSync(CHROMIUM)) return; // scripts/deps.mjs installs it; without it the checks above stand alone
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
      await page.route('**/*', (route) => {
        if (route.request().url().startsWith('file:')) return route.continue();
        problems.push(`network: ${route.request().url()}`);
        return route.abort();
      });
      await page.goto(pathToFileURL(join(dir, 'report.html')).href);
      const all = [...bestFirst].sort();
      const trialsIn = async (selector: string) => (await page.locator(selector).evaluateAll((els) => els.map((e) => e.getAttribute('data-trial')!))).sort();
      for (const metric of ['loss', 'acc']) expect(await trialsIn(`svg#curves-${metric} path.curve[data-trial]`)).toEqual(all);
      expect(await page.locator('svg.curves').count()).toBe(2); // lr never changes within a trial: no curve chart
      for (const p of ['lr', 'opt']) expect(await trialsIn(`svg[data-parameter="${p}"] circle.point[data-trial]`)).toEqual(all);
      expect(await page.locator('#comparison tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-trial')))).toEqual(bestFirst);
      expect(await page.locator('#comparison tbody tr').first().locator('td').nth(1).textContent()).toBe('1');
      // hovering a row picks its trial out in every chart
      await page.locator(`#comparison tr[data-trial="${bestFirst[1]}"]`).hover();
      expect(await page.locator('body.focus').count()).toBe(1);
      expect(await page.locator(`.hl[data-trial="${bestFirst[1]}"]`).count()).toBe(5);
      expect(await page.locator('.hl').count()).toBe(5);
      // the embedded data is the compare JSON
      const data = JSON.parse((await page.locator('#experiment-data').textContent())!) as CompareJson;
      expect(data.trials.map((t) => t.trial)).toEqual(bestFirst);
      mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(repoRoot, 'test-artifacts/report.png'), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
