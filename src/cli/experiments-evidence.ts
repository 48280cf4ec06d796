// What the experiments commands share: the jobs of the given specs, where each trial stands (the
// same plan-and-observe view as `trainctl status`), and each trial's metric points from its store.
import { mapBounded } from '../core/bounded.js';
import { didYouMean } from '../core/diagnostics.js';
import { ExitError } from '../core/errors.js';
import {
  experimentRow, metricNames, parameterNames, rankingFor, rankRows, summarizeExperiment,
  type ExperimentSummary, type Objective, type RankedRow, type Ranking, type TrialEvidence,
} from '../core/experiments.js';
import { trialStatuses } from '../core/status.js';
import { planJobs } from '../engine/planning.js';
import type { Job } from '../spec/types.js';
import { openRunStore } from '../store/open.js';
import type { RunStore } from '../store/store.js';
import type { CommandContext } from './commands.js';
import { loadJobs, trainctlHome } from './shared.js';

/** Store reads at a time: a sweep's metrics files are read together, not one by one. */
const PARALLEL_READS = 8;

export interface JobEvidence {
  job: Job;
  objective?: Objective;
  trials: TrialEvidence[];
}

export interface Experiment {
  project: string;
  job: string;
  objective?: Objective;
  ranking?: Ranking;
  parameters: string[];
  metrics: string[];
  rows: RankedRow[];
  summary: ExperimentSummary;
}

export function objectiveOf(job: Job): Objective | undefined {
  const o = job.spec.metrics.objective;
  return o ? { metric: o.metric, goal: o.goal ?? 'minimize' } : undefined;
}

/** Loads the specs; a load error ends the command (the diagnostics are already on stderr). */
export function loadExperimentJobs(ctx: CommandContext): Job[] {
  const { jobs, ok, inputs } = loadJobs(ctx);
  if (!ok) throw new ExitError(`the specs in ${inputs.join(', ')} have errors`, 1, 'fix the problems above; `trainctl validate` lists them');
  return jobs;
}

/** `<job>` or `<project>/<job>` among the loaded jobs; may be left out when there is only one. */
export function pickJob(jobs: readonly Job[], name: string | undefined, verb: string): Job {
  if (name === undefined) {
    if (jobs.length === 1) return jobs[0]!;
    throw new ExitError(`name the job to ${verb}`, 1, `the specs hold ${jobs.length} jobs (${jobs.map((j) => j.name).join(', ')}): \`trainctl experiments ${verb} <job>\``);
  }
  const found = jobs.filter((j) => j.name === name || `${j.project}/${j.name}` === name);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new ExitError(`job "${name}" is in several projects`, 1, `name one of: ${found.map((j) => `${j.project}/${j.name}`).join(', ')}`);
  const guess = didYouMean(name, jobs.map((j) => j.name));
  throw new ExitError(`no job "${name}" in the given specs`, 1, guess ? `did you mean "${guess}"?` : `jobs: ${jobs.map((j) => j.name).join(', ') || 'none'}`);
}

/** Each job's trials as `trainctl status` sees them, with every trial's metric points. */
export async function gatherEvidence(ctx: CommandContext, jobs: readonly Job[], now = new Date()): Promise<JobEvidence[]> {
  const { plan, observed } = await planJobs(jobs, { home: trainctlHome(ctx.env) }, { prune: false }, now);
  const objectives = new Map(jobs.flatMap((j) => {
    const o = objectiveOf(j);
    return o ? [[`${j.project}/${j.name}`, o] as const] : [];
  }));
  const statuses = new Map(trialStatuses(plan, observed, now, objectives).map((s) => [`${s.project}/${s.job}`, s]));
  const records = new Map(observed.records.map((r) => [`${r.project}/${r.job}/${r.trial}`, r]));
  const stores = new Map<string, Promise<RunStore>>();
  const storeOf = (uri: string) => {
    let s = stores.get(uri);
    if (!s) {
      s = openRunStore(uri).then((store) => {
        if ('error' in store) throw new ExitError(store.error, 1, store.hint);
        return store;
      });
      stores.set(uri, s);
    }
    return s;
  };
  return Promise.all(jobs.map(async (job) => {
    // a live trial that is in no spec has no parameters to compare: `trainctl status` shows it
    const trials = (statuses.get(`${job.project}/${job.name}`)?.trials ?? []).filter((t) => t.state !== 'orphaned');
    const evidence = await mapBounded(trials, PARALLEL_READS, async (t): Promise<TrialEvidence> => {
      const record = records.get(`${t.project}/${t.job}/${t.trial}`);
      const points = record ? await (await storeOf(job.spec.output.uri)).readMetrics({ project: t.project, job: t.job, trial: t.trial }) : [];
      return {
        trial: t.trial, parameters: t.parameters, state: t.state, attempt: t.attempt, costUSD: t.costUSD, elapsedMs: t.elapsedMs,
        ...(record ? { record } : {}), points,
      };
    });
    const objective = objectiveOf(job);
    return { job, ...(objective ? { objective } : {}), trials: evidence };
  }));
}

/** `--sort` as the user gave it, checked. */
export function rankingOf(objective: Objective | undefined, sort: string | undefined): Ranking | undefined {
  const ranking = rankingFor(objective, sort);
  if (ranking && 'error' in ranking) throw new ExitError(ranking.error, 1, ranking.hint);
  return ranking;
}

export function experimentOf(ev: JobEvidence, ranking: Ranking | undefined): Experiment {
  const rows = rankRows(ev.trials.map((t) => experimentRow(t, ev.objective)), ranking);
  return {
    project: ev.job.project,
    job: ev.job.name,
    ...(ev.objective ? { objective: ev.objective } : {}),
    ...(ranking ? { ranking } : {}),
    parameters: parameterNames(rows),
    metrics: metricNames(rows, ranking?.metric ?? ev.objective?.metric),
    rows,
    summary: summarizeExperiment(rows, ranking),
  };
}

/**
 * The documented `experiments compare --output json` shape (README, "Experiments JSON"):
 * stable keys, trials best first, `null` where there is no value.
 */
export function experimentJson(x: Experiment) {
  return {
    project: x.project,
    job: x.job,
    objective: x.objective ?? null,
    sort: x.ranking ? { metric: x.ranking.metric, goal: x.ranking.goal, by: x.ranking.by } : null,
    parameters: x.parameters,
    metrics: x.metrics,
    summary: { trials: x.summary.trials, counts: x.summary.counts, best: x.summary.best ?? null, costUSD: round(x.summary.costUSD) },
    trials: x.rows.map((r) => ({
      rank: r.rank ?? null,
      trial: r.trial,
      state: r.state,
      parameters: r.parameters,
      value: r.value ?? null,
      best: r.best ?? null,
      final: r.final,
      step: r.step ?? null,
      attempt: r.attempt,
      elapsedMs: r.elapsedMs,
      costUSD: round(r.costUSD),
    })),
  };
}

/** Cents and below: spend accrues in float steps, 0.30000000000000004 helps nobody. */
const round = (usd: number) => Math.round(usd * 1e6) / 1e6;
