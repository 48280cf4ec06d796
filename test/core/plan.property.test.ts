// Properties of plan() over seeded random worlds: slots, project boundaries, prune, one action
// per trial, attempt numbering, order independence.
import { describe, expect, it } from 'vitest';
import type { AttemptRecord, AttemptState, Observed, TrialRecord } from '../../src/core/observed.js';
import { ACTION_KINDS, plan, type Action, type Desired, type DesiredTrial, type JobPolicy } from '../../src/core/plan.js';
import { NOW } from './world.js';

const ITERATIONS = 400;
const DESIRED_PROJECTS = ['lab', 'lab2'];
const FOREIGN = 'foreign';

/** mulberry32: small, seeded, the same everywhere. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof rng>;

const STATES: AttemptState[] = ['starting', 'running', 'succeeded', 'failed', 'interrupted', 'stopped', 'early-stopped'];
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();

interface World { desired: Desired; observed: Observed; prune: boolean }

/** Live resources and records for one trial, any mix of states, spec hashes and attempt numbers. */
function populate(r: Rng, project: string, job: string, trial: string, world: Observed): void {
  let n = 0;
  const attempts: AttemptRecord[] = [];
  for (let i = r.int(0, 4); i > 0; i--) {
    n += r.int(1, 2);
    const start = r.int(5, 600);
    attempts.push({ n, specHash: r.pick(['h1', 'h1', 'h2']), state: r.pick(STATES), step: r.int(0, 1000), startedAt: minutesAgo(start), updatedAt: minutesAgo(r.int(0, start)), costUSD: r.int(0, 400) / 100 });
  }
  if (attempts.length > 0 || r.chance(0.2)) {
    const rec: TrialRecord = { project, job, trial, specHash: attempts.at(-1)?.specHash ?? r.pick(['h1', 'h2']), attempts };
    if (r.chance(0.3)) rec.result = { state: r.pick(['succeeded', 'stopped', 'early-stopped', 'failed'] as const), specHash: r.pick(['h1', 'h2']), finishedAt: minutesAgo(r.int(0, 600)) };
    if (r.chance(0.4)) rec.checkpoint = { step: r.int(1, 900) };
    world.records.push(rec);
  }
  if (r.chance(0.45)) {
    const specHash = r.pick(['h1', 'h1', 'h2']);
    const attempt = r.chance(0.7) ? n : n + 1;
    const launchedAt = minutesAgo(r.int(0, 500));
    for (let rank = 0, nodes = r.int(1, 3); rank < nodes; rank++) {
      world.resources.push({ provider: r.pick(['local', 'aws', 'runpod'] as const), id: `${project}:${trial}:${rank}`, project, job, trial, specHash, nodeRank: rank, attempt: Math.max(1, attempt), state: r.pick(['pending', 'running', 'running', 'stopping'] as const), launchedAt });
    }
  }
}

function randomWorld(seed: number): World {
  const r = rng(seed);
  const jobs: JobPolicy[] = [];
  const trials: DesiredTrial[] = [];
  const observed: Observed = { resources: [], records: [] };
  for (let j = r.int(1, 3); j > 0; j--) {
    const project = r.pick(DESIRED_PROJECTS);
    const job = `job${r.int(0, 3)}`;
    if (jobs.some((p) => p.project === project && p.job === job)) continue;
    jobs.push({
      project, job,
      maxParallel: r.int(1, 4),
      stopOnFailure: r.chance(0.3),
      retryOnFailure: r.int(0, 2),
      retryOnInterruption: r.int(0, 3),
      resume: r.chance(0.8) ? 'auto' : 'never',
      ...(r.chance(0.3) ? { costLimitUSD: r.int(1, 20) } : {}),
      ...(r.chance(0.3) ? { maxDurationMs: r.int(30, 600) * 60_000 } : {}),
      onExceed: r.chance(0.7) ? 'stop' : 'warn',
    });
    for (let i = 0, count = r.int(0, 7); i < count; i++) {
      const id = `${job}-t${i}`;
      trials.push({ id, job, project, index: i, parameters: { i }, specHash: r.pick(['h1', 'h1', 'h2']) });
      populate(r, project, job, id, observed);
    }
    // trials no spec wants any more, of this job
    for (let k = r.int(0, 2); k > 0; k--) populate(r, project, job, `${job}-old${k}`, observed);
  }
  // another project's world, with the same job and trial names
  for (let k = r.int(0, 3); k > 0; k--) populate(r, FOREIGN, `job${k}`, `job${k}-t0`, observed);
  return { desired: { jobs, trials }, observed, prune: r.chance(0.5) };
}

const key = (project: string, trial: string) => `${project}/${trial}`;
const LAUNCHES = new Set(['create', 'resume', 'retry']);

function checkWorld(w: World): void {
  const p = plan(w.desired, w.observed, { prune: w.prune }, NOW);
  const covered = new Set(w.desired.jobs.map((j) => j.project));
  const wanted = new Set(w.desired.trials.map((t) => key(t.project, t.id)));
  const liveIds = new Map<string, string[]>();
  for (const r of w.observed.resources) liveIds.set(key(r.project, r.trial), [...(liveIds.get(key(r.project, r.trial)) ?? []), r.id].sort());
  const actionOf = new Map<string, Action>();
  for (const a of p.actions) {
    expect(actionOf.has(key(a.project, a.trial)), `one action per trial: ${a.trial}`).toBe(false);
    actionOf.set(key(a.project, a.trial), a);
  }

  // never acts outside the projects of the desired jobs; a resource is named only by its own trial's action
  for (const a of p.actions) {
    expect(covered.has(a.project)).toBe(true);
    expect(a.project).not.toBe(FOREIGN);
    if (a.resources) expect(a.resources).toEqual(liveIds.get(key(a.project, a.trial)));
  }

  // delete only with prune, and then for every orphan
  const orphans = [...liveIds.keys()].filter((k) => covered.has(k.split('/')[0]!) && !wanted.has(k));
  const deletes = p.actions.filter((a) => a.kind === 'delete');
  if (!w.prune) expect(deletes).toEqual([]);
  else expect(deletes.map((a) => key(a.project, a.trial)).sort()).toEqual(orphans.sort());
  for (const a of deletes) expect(a.reason).toBe('orphaned');

  // every desired trial of a desired job has exactly one action
  for (const t of w.desired.trials) expect(actionOf.has(key(t.project, t.id))).toBe(true);

  for (const job of w.desired.jobs) {
    const mine = p.actions.filter((a) => a.project === job.project && a.job === job.job && a.kind !== 'delete');
    // trials that stay running after this pass: live and neither stopped nor deleted, orphans included without prune
    const staying = mine.filter((a) => (a.resources?.length ?? 0) > 0 && a.kind !== 'stop').length
      + (w.prune ? 0 : orphans.filter((k) => w.observed.resources.some((r) => key(r.project, r.trial) === k && r.project === job.project && r.job === job.job)).length);
    const launches = mine.filter((a) => LAUNCHES.has(a.kind) || (a.kind === 'replace' && !a.resources)).length;
    if (launches > 0) expect(staying + launches, `${job.project}/${job.job} maxParallel ${job.maxParallel}`).toBeLessThanOrEqual(job.maxParallel);
  }

  for (const a of p.actions) {
    const recorded = w.observed.records.find((r) => r.project === a.project && r.trial === a.trial);
    const live = w.observed.resources.filter((r) => r.project === a.project && r.trial === a.trial);
    if (LAUNCHES.has(a.kind) || a.kind === 'replace' || (a.kind === 'wait' && a.attempt !== undefined)) {
      // a new attempt number: above every recorded and every live one
      const highest = Math.max(0, ...(recorded?.attempts.map((x) => x.n) ?? []), ...live.map((r) => r.attempt));
      expect(a.attempt).toBe(highest + 1);
    } else {
      expect(a.attempt).toBeUndefined();
    }
    if (a.resumeFromStep !== undefined) expect(a.resumeFromStep).toBe(recorded?.checkpoint?.step);
    if (a.kind === 'resume') expect(a.resumeFromStep).toBeDefined();
    if (a.kind === 'stop' || a.kind === 'delete') expect(a.resources?.length).toBeGreaterThan(0);
    if (a.kind === 'create' || a.kind === 'resume' || a.kind === 'retry') expect(live).toEqual([]);
  }

  const counts = Object.fromEntries(ACTION_KINDS.map((k) => [k, p.actions.filter((a) => a.kind === k).length]));
  expect(p.summary).toEqual(counts);
}

describe('plan(): properties over random worlds', () => {
  it(`holds for ${ITERATIONS} seeded worlds`, () => {
    let actions = 0;
    const kinds = new Set<string>();
    for (let seed = 1; seed <= ITERATIONS; seed++) {
      const w = randomWorld(seed);
      try {
        checkWorld(w);
      } catch (err) {
        throw new Error(`world of seed ${seed}: ${(err as Error).message}\n${JSON.stringify(w, null, 1)}`, { cause: err });
      }
      const p = plan(w.desired, w.observed, { prune: w.prune }, NOW);
      actions += p.actions.length;
      for (const a of p.actions) kinds.add(`${a.kind} ${a.reason}`);
    }
    // the generator reaches the interesting corners, not only empty worlds
    expect(actions).toBeGreaterThan(ITERATIONS * 3);
    for (const k of ['create new', 'wait max-parallel', 'wait cost-limit', 'replace spec-changed', 'resume interrupted', 'stop cost-limit', 'stop stop-on-failure', 'delete orphaned', 'noop halted-on-failure']) {
      expect(kinds, k).toContain(k);
    }
  });

  it('gives the same plan whatever order the world is listed in', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const w = randomWorld(seed);
      const base = plan(w.desired, w.observed, { prune: w.prune }, NOW);
      const reversed: Observed = { resources: [...w.observed.resources].reverse(), records: [...w.observed.records].reverse() };
      const desired: Desired = { jobs: w.desired.jobs, trials: [...w.desired.trials].reverse() };
      expect(plan(desired, reversed, { prune: w.prune }, NOW)).toEqual(base);
    }
  });
});
