// What a launching action asks of a provider: the trial's runner task, fully resolved from its Job
// and Trial, leaving the provider only what it alone knows (work dir, GPUs, ports, price).
import { parseDuration } from '../core/duration.js';
import type { Action } from '../core/plan.js';
import type { LaunchRequest, NodeTask } from '../providers/provider.js';
import { RUNNER_TASK_VERSION } from '../runner/task.js';
import type { Job, Trial } from '../spec/types.js';

/** Heartbeat period: often enough for live progress, rarely enough to cost nothing on S3. */
export const HEARTBEAT_MS = 2000;

const defined = (o: Readonly<Record<string, string | undefined>>): Record<string, string> =>
  Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined));

export function nodeTask(job: Job, trial: Trial, attempt: number, resumeFromStep: number | undefined): NodeTask {
  const { code, checkpoint, data, distributed, metrics, limits, output } = job.spec;
  const maxDurationMs = limits.maxDuration !== undefined ? parseDuration(limits.maxDuration) : undefined;
  return {
    formatVersion: RUNNER_TASK_VERSION,
    project: job.project,
    job: job.name,
    trial: trial.id,
    specHash: trial.specHash,
    attempt,
    nodes: distributed.nodes,
    nprocPerNode: distributed.nprocPerNode,
    parameters: { ...trial.parameters },
    command: trial.command,
    ...(code.setup !== undefined ? { setup: code.setup } : {}),
    env: defined(code.env),
    storeUri: output.uri,
    checkpoint: {
      dir: checkpoint.dir,
      pattern: checkpoint.pattern,
      keepLastN: checkpoint.keepLastN,
      upload: checkpoint.upload,
      resumeArg: checkpoint.resumeArg,
      gracePeriodMs: parseDuration(checkpoint.gracePeriod) ?? 60_000,
      ...(checkpoint.compress !== 'none' ? { compress: checkpoint.compress } : {}),
    },
    ...(data.length > 0 ? {
      data: data.map((d) => ({
        source: d.source, target: d.target, verify: d.verify,
        ...(d.include ? { include: [...d.include] } : {}),
        ...(d.exclude ? { exclude: [...d.exclude] } : {}),
      })),
    } : {}),
    ...(resumeFromStep !== undefined ? { resumeFromStep } : {}),
    metrics: {
      patterns: defined(metrics.patterns),
      ...(metrics.objective ? { objective: { metric: metrics.objective.metric, goal: metrics.objective.goal ?? 'minimize' } } : {}),
      ...(metrics.objective && metrics.earlyStopping ? {
        earlyStopping: { rule: metrics.earlyStopping.rule ?? 'median', minTrials: metrics.earlyStopping.minTrials ?? 3, startStep: metrics.earlyStopping.startStep ?? 0 },
      } : {}),
    },
    limits: {
      ...(maxDurationMs !== undefined ? { maxDurationMs } : {}),
      ...(limits.costUSD !== undefined ? { costLimitUSD: limits.costUSD } : {}),
      onExceed: limits.onExceed,
    },
    heartbeatMs: HEARTBEAT_MS,
  };
}

/** The launch a create, resume, retry or replace action makes. */
export function launchRequest(job: Job, trial: Trial, action: Pick<Action, 'attempt' | 'resumeFromStep'>, interruptions = 0): LaunchRequest {
  if (action.attempt === undefined) throw new Error(`launching action for ${trial.id} has no attempt number`);
  const { distributed } = job.spec;
  return {
    project: job.project,
    job: job.name,
    trial: trial.id,
    specHash: trial.specHash,
    attempt: action.attempt,
    nodes: distributed.nodes,
    compute: job.spec.compute,
    codeDir: job.spec.code.absPath,
    distributed: { backend: distributed.backend, ...(distributed.masterPort !== undefined ? { masterPort: distributed.masterPort } : {}) },
    task: nodeTask(job, trial, action.attempt, action.resumeFromStep),
    interruptions,
    ...(job.spec.retry.fallbackToOnDemandAfter !== undefined ? { fallbackToOnDemandAfter: job.spec.retry.fallbackToOnDemandAfter } : {}),
  };
}
