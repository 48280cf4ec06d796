// spec → expand → observe → plan: the flow of DESIGN §1 up to a Plan, shared by `plan` and
// `apply`, which re-runs it to refuse a saved plan whose world has moved.
import { hashValue } from '../core/hash.js';
import type { Observed } from '../core/observed.js';
import { plan as makePlan, type Desired, type Plan, type PlanOptions } from '../core/plan.js';
import { expandJob } from '../spec/expand.js';
import { jobPolicy } from '../spec/policy.js';
import type { Job, Trial } from '../spec/types.js';
import { observeWorld, type Environment } from './observe.js';
import { jobPrices } from './prices.js';
import { observeTriggers, scheduleJobs, type JobSlots } from './schedule.js';

export interface PlanResult {
  plan: Plan;
  trials: Trial[];
  /** Hash of what the specs want (trials with their specHash, and the policies). */
  desiredDigest: string;
  /** The world the plan was made from (apply reads providers and run records off it). */
  observed: Observed;
}

/**
 * `schedules`: the slots of scheduled and triggered jobs (scheduleJobs); without them such a job
 * wants no trials, so callers that act on trials (plan, apply, status) pass them.
 */
export function desiredOf(jobs: readonly Job[], schedules: ReadonlyMap<string, JobSlots> = new Map()): { desired: Desired; trials: Trial[]; warnings: string[] } {
  const trials: Trial[] = [];
  const warnings: string[] = [];
  for (const job of jobs) {
    const scheduled = schedules.get(`${job.project}/${job.name}`);
    if (scheduled) warnings.push(...scheduled.warnings);
    const { trials: ts, duplicates } = expandJob(job, scheduled?.slots);
    if (duplicates > 0) warnings.push(`job ${job.name}: ${duplicates} random draw${duplicates === 1 ? '' : 's'} repeated an earlier trial and ${duplicates === 1 ? 'was' : 'were'} dropped; raise samples or widen the space`);
    trials.push(...ts);
  }
  const policies = jobs.map((j) => {
    const scheduled = schedules.get(`${j.project}/${j.name}`);
    return scheduled ? { ...jobPolicy(j), schedule: scheduled.schedule } : jobPolicy(j);
  });
  return { desired: { jobs: policies, trials }, trials, warnings };
}

export async function planJobs(jobs: readonly Job[], env: Environment, options: PlanOptions, now: Date): Promise<PlanResult> {
  const [observed, prices, triggers] = await Promise.all([observeWorld(jobs, env), jobPrices(jobs, env), observeTriggers(jobs)]);
  // scheduled jobs' trials depend on the runs observed, so they are expanded after observation
  const { desired, trials, warnings } = desiredOf(jobs, await scheduleJobs(jobs, observed, triggers, now));
  const plan = makePlan({ ...desired, prices }, observed, options, now);
  plan.warnings.unshift(...warnings);
  const desiredDigest = hashValue({ jobs: desired.jobs, trials: trials.map((t) => [t.project, t.id, t.specHash]) }, 16);
  return { plan, trials, desiredDigest, observed };
}
