// The apply engine against the local provider, with a stand-in runner (fast, and alive until it
// gets SIGTERM): idempotent passes, replace and prune, the stale-plan check, capacity as a value.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitError } from '../../src/core/errors.js';
import { hasChanges } from '../../src/core/plan.js';
import { executePlan, progressOf, replanChecked, type ActionOutcome } from '../../src/engine/apply.js';
import { planJobs, type PlanResult } from '../../src/engine/planning.js';
import { nodeId, workDirOf } from '../../src/providers/local/launch.js';
import { listNodeRecords, liveness, processStartTime, type LocalNodeRecord } from '../../src/providers/local/nodes.js';
import { loadSpecs } from '../../src/spec/load.js';
import type { Job } from '../../src/spec/types.js';
import { repoRoot, stopProcesses, tempDir, writeFiles } from '../helpers.js';

process.env.TRAINCTL_RUNNER = join(repoRoot, 'test/fixtures/apply/fake-runner.mjs');
const code = join(repoRoot, 'test/fixtures/apply/code');

const started: LocalNodeRecord[] = [];
afterAll(async () => {
  await stopProcesses(started, { graceMs: 0 });
});

function loadJobs(dir: string, lrs: number[], extra = '', command = 'python3 train.py --lr {lr}'): Job[] {
  writeFiles(dir, {
    'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: eng, project: engine }
spec:
  code: { path: ${code}, command: "${command}" }
  checkpoint: { gracePeriod: 2s }
  hyperparameters: { parameters: { lr: [${lrs.join(', ')}] } }
${extra}`,
  });
  const { jobs, diagnostics } = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: `file://${dir}/runs` });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return jobs;
}

async function pass(jobs: Job[], home: string, prune = false): Promise<{ pr: PlanResult; outcomes: ActionOutcome[] }> {
  const pr = await planJobs(jobs, { home }, { prune }, new Date());
  const outcomes = await executePlan(pr.plan, { jobs, trials: pr.trials, resources: pr.observed.resources, env: { home } }, { renderer: 'silent' });
  started.push(...listNodeRecords(home).map(({ rec }) => rec));
  return { pr, outcomes };
}

const live = (home: string) => listNodeRecords(home).filter(({ rec }) => liveness(rec, Date.now()) !== 'gone').map(({ rec }) => rec);
const summary = (outcomes: ActionOutcome[]) => outcomes.map((o) => `${o.kind}:${o.action.kind}:${o.action.trial}`).sort();

describe('executePlan', () => {
  let dir: string;
  let home: string;
  beforeEach(() => {
    dir = tempDir();
    home = join(dir, 'home');
    delete process.env.TRAINCTL_LOCAL_GPUS;
  });

  it('launches every create in one pass; the next pass has nothing to do', async () => {
    const jobs = loadJobs(dir, [0.1, 0.2, 0.3]);
    const first = await pass(jobs, home);
    expect(first.outcomes.map((o) => o.kind)).toEqual(['launched', 'launched', 'launched']);
    const pids = live(home).map((r) => r.pid).sort();
    expect(pids).toHaveLength(3);

    const second = await pass(jobs, home);
    expect(hasChanges(second.pr.plan)).toBe(false);
    expect(second.pr.plan.actions.map((a) => `${a.kind}:${a.reason}`)).toEqual(['noop:running', 'noop:running', 'noop:running']);
    expect(second.outcomes).toEqual([]);
    expect(live(home).map((r) => r.pid).sort()).toEqual(pids);
  });

  it('replaces a trial whose spec changed: the old runner gets SIGTERM first, then attempt 2 starts', async () => {
    const jobs = loadJobs(dir, [0.1]);
    await pass(jobs, home);
    const [old] = live(home);
    const events = join(workDirOf(home, { project: 'engine', trial: old!.trial, attempt: 1 }, 0), 'events');
    while (!existsSync(events)) await new Promise((r) => setTimeout(r, 20)); // its SIGTERM handler is in place
    const changed = loadJobs(dir, [0.1], '', 'python3 train.py --lr {lr} --steps 10');
    const { pr, outcomes } = await pass(changed, home);
    expect(pr.plan.actions).toMatchObject([{ kind: 'replace', reason: 'spec-changed', attempt: 2, resources: [old!.id] }]);
    expect(summary(outcomes)).toEqual([`launched:replace:${old!.trial}`]);
    expect(processStartTime(old!.pid!)).toBeUndefined();
    expect(readFileSync(events, 'utf8')).toBe(`started ${old!.pid}\nsigterm ${old!.pid}\n`);
    expect(live(home)).toMatchObject([{ id: nodeId({ project: 'engine', trial: old!.trial, attempt: 2 }, 0), attempt: 2, specHash: pr.trials[0]!.specHash }]);
  });

  it('with prune, stops the runners of trials no spec wants', async () => {
    await pass(loadJobs(dir, [0.1, 0.2]), home);
    const before = live(home);
    const { pr, outcomes } = await pass(loadJobs(dir, [0.1]), home, true);
    const gone = before.find((r) => r.trial !== pr.trials[0]!.id)!;
    expect(pr.plan.actions.find((a) => a.kind === 'delete')).toMatchObject({ reason: 'orphaned', trial: gone.trial, resources: [gone.id] });
    expect(summary(outcomes)).toEqual([`terminated:delete:${gone.trial}`]);
    expect(processStartTime(gone.pid!)).toBeUndefined();
    expect(live(home).map((r) => r.trial)).toEqual([pr.trials[0]!.id]);
  });

  it('reports no capacity as a waiting trial and launches the rest', async () => {
    process.env.TRAINCTL_LOCAL_GPUS = '0';
    const jobs = loadJobs(dir, [0.1, 0.2], '  compute: { provider: local, gpus: 1 }\n');
    const { pr, outcomes } = await pass(jobs, home);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['launched', 'waiting']);
    expect(outcomes.find((o) => o.kind === 'waiting')).toMatchObject({ message: 'needs 1 GPU; 0 of 1 free', permanent: false });
    const progress = await progressOf(pr, outcomes, jobs, new Date());
    expect(progress.map((p) => [p.phase, p.settled, p.note]).sort()).toEqual([
      ['starting', false, 'new trial'],
      ['waiting', false, 'no capacity: needs 1 GPU; 0 of 1 free'],
    ]);
  });

  it('fails an action, not the pass, when the runner is missing', async () => {
    const saved = process.env.TRAINCTL_RUNNER;
    process.env.TRAINCTL_RUNNER = join(dir, 'missing-runner.js');
    try {
      const { outcomes } = await pass(loadJobs(dir, [0.1, 0.2]), home);
      expect(outcomes).toHaveLength(2);
      expect(outcomes[0]).toMatchObject({ kind: 'failed', message: `the runner is missing (looked for ${join(dir, 'missing-runner.js')})` });
      expect(existsSync(join(home, 'local/nodes')) ? live(home) : []).toEqual([]);
    } finally {
      process.env.TRAINCTL_RUNNER = saved;
    }
  });
});

describe('replanChecked', () => {
  it('refuses a plan made from another world, or from other specs', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const jobs = loadJobs(dir, [0.1]);
    const made = await planJobs(jobs, { home }, { prune: false }, new Date());
    const digests = { observedDigest: made.plan.observedDigest, desiredDigest: made.desiredDigest };
    await expect(replanChecked(digests, jobs, { home }, { prune: false }, new Date())).resolves.toMatchObject({ desiredDigest: made.desiredDigest });

    await expect(replanChecked(digests, loadJobs(dir, [0.1, 0.2]), { home }, { prune: false }, new Date()))
      .rejects.toMatchObject({ message: 'the plan is stale: the specs changed since it was made', hint: 'run `trainctl plan` again and apply the new plan' });
    await pass(jobs, home);
    await expect(replanChecked(digests, jobs, { home }, { prune: false }, new Date()))
      .rejects.toBeInstanceOf(ExitError);
    await expect(replanChecked(digests, jobs, { home }, { prune: false }, new Date()))
      .rejects.toThrow('the plan is stale: the world changed since it was made');
  });
});
