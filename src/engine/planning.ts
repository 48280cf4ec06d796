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

export interface PlanResult {
  plan: Plan;
  trials: Trial[];
  /** Hash of what the specs want (trials with their specHash, and the policies). */
  desiredDigest: string;
  /** The world the plan was made from (apply reads providers and run records off it). */
  observed: Observed;
}

export function desiredOf(jobs: readonly Job[]): { desired: Desired; trials: Trial[]; warnings: string[] } {
  const trials: Trial[] = [];
  const warnings: string[] = [];
  for (const job of jobs) {
    const { trials: ts, duplicates } = expandJob(job);
    if (duplicates > 0) warnings.push(`job ${job.name}: ${duplicates} random draw${duplicates === 1 ? '' : 's'} repeated an earlier trial and ${duplicates === 1 ? 'was' : 'were'} dropped; raise samples or widen the space`);
    trials.push(...ts);
  }
  return { desired: { jobs: jobs.map(jobPolicy), trials }, trials, warnings };
}

export async function planJobs(jobs: readonly Job[], env: Environment, options: PlanOptions, now: Date): Promise<PlanResult> {
  const { desired, trials, warnings } = desiredOf(jobs);
  const [observed, prices] = await Promise.all([observeWorld(jobs, env), jobPrices(jobs, env)]);
  const plan = makePlan({ ...desired, prices }, observed, options, now);
  plan.warnings.unshift(...warnings);
  const desiredDigest = hashValue({ jobs: desired.jobs, trials: trials.map((t) => [t.project, t.id, t.specHash]) }, 16);
  return { plan, trials, desiredDigest, observed };
}
