// The runner's task: everything one node needs to run its part of one attempt of one trial.
// The launcher (local, or a cloud bootstrap) writes it as JSON and starts
// `node runner.js <task.json>`; the runner reads nothing else from the CLI's world.
import type { ParameterValue } from '../spec/schema.gen.js';

export const RUNNER_TASK_VERSION = 1;

/** One dataset to stage: every object under an s3:// prefix (or file under a file:// dir) into workDir/target. */
export interface DataStaging {
  /** `s3://bucket/prefix/` or an absolute `file:///dir/`. */
  source: string;
  /** Relative to workDir. */
  target: string;
  verify: 'none' | 'size' | 'etag' | 'sha256';
  include?: string[];
  exclude?: string[];
}

export interface RunnerTask {
  formatVersion: typeof RUNNER_TASK_VERSION;
  project: string;
  job: string;
  trial: string;
  specHash: string;
  /** 1-based attempt number; each launch (create, resume, retry, replace) is a new attempt. */
  attempt: number;
  /** This node's rank, 0 … nodes-1. Only node rank 0 uploads checkpoints and writes result.json. */
  nodeRank: number;
  nodes: number;
  nprocPerNode: number;
  parameters: Record<string, ParameterValue>;
  /** The training command with parameters substituted and quoted (no resume argument yet). */
  command: string;
  /** Run once before the command, in the same directory and environment. */
  setup?: string;
  /** Extra environment (code.env). The runner adds TRAINCTL_* and HP_* itself. */
  env: Record<string, string>;
  /** The directory the command runs in: a private copy of the code for this node and attempt. */
  workDir: string;
  /** `file://…` (later `s3://…`): where records, logs, metrics and checkpoints go. */
  storeUri: string;
  checkpoint: {
    /** Relative to workDir. */
    dir: string;
    /** Glob of checkpoint files inside dir. */
    pattern: string;
    keepLastN: number;
    upload: 'on-save' | 'on-exit' | 'never';
    /** With `{path}`; appended to the command when resuming. */
    resumeArg: string;
    /** How long training may take to write its final checkpoint after SIGTERM. */
    gracePeriodMs: number;
    /** checkpoint.compress; stores that upload compress a file only when it saves ≥ 10%. Default none. */
    compress?: 'none' | 'gzip' | 'zstd';
  };
  /** spec.data: staged into workDir on every node before setup runs. */
  data?: DataStaging[];
  /** Set on resume: the step of the store checkpoint to restore before starting. */
  resumeFromStep?: number;
  metrics: {
    /** name → regex source with one capture group. */
    patterns: Record<string, string>;
    objective?: { metric: string; goal: 'minimize' | 'maximize' };
    /** metrics.earlyStopping: node rank 0 judges the trial against its peers' curves in the store. */
    earlyStopping?: { rule: 'median'; minTrials: number; startStep: number };
  };
  /** Present when the job is distributed (nodes > 1 or nprocPerNode > 1): launch through torchrun. */
  distributed?: {
    backend: 'nccl' | 'gloo';
    masterAddr: string;
    masterPort: number;
  };
  /** CUDA_VISIBLE_DEVICES for this node; undefined leaves it unset, [] hides all GPUs. */
  gpus?: number[];
  /** Price of this node per hour, for cost accrual in heartbeats. */
  pricePerHour: number;
  limits: { maxDurationMs?: number; costLimitUSD?: number; onExceed: 'stop' | 'warn' };
  /** Heartbeat period (status.json rewrite). */
  heartbeatMs: number;
}
