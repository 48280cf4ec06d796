// The parts of a Job that steer planning, as the pure planner takes them.
import { parseDuration } from '../core/duration.js';
import type { JobPolicy } from '../core/plan.js';
import type { Job } from './types.js';

export function jobPolicy(job: Job): JobPolicy {
  const { hyperparameters: hp, retry, limits, checkpoint } = job.spec;
  return {
    project: job.project,
    job: job.name,
    maxParallel: hp.maxParallel,
    stopOnFailure: hp.stopOnFailure,
    retryOnFailure: retry.onFailure,
    retryOnInterruption: retry.onSpotInterruption,
    resume: checkpoint.resume,
    ...(limits.costUSD !== undefined ? { costLimitUSD: limits.costUSD } : {}),
    ...(limits.maxDuration !== undefined ? { maxDurationMs: parseDuration(limits.maxDuration)! } : {}),
    onExceed: limits.onExceed,
    nodes: job.spec.distributed.nodes,
  };
}
