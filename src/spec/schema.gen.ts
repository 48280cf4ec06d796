/* Generated from schema/trainjob.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Job name, unique within its project. Trial ids start with it.
 */
export type Name = string;
/**
 * Project the job belongs to. Resources and run records are grouped by project.
 */
export type Name1 = string;
/**
 * Where the job runs; `provider` selects the fields that apply. Default: `{ provider: local }`.
 */
export type Compute = LocalCompute | AwsCompute | RunpodCompute;
/**
 * How long training may take to write its final checkpoint after SIGTERM.
 */
export type Duration = string;
/**
 * A non-empty list of values, or a distribution for random search.
 */
export type ParameterSpace = ([ParameterValue, ...ParameterValue[]] | Distribution) | undefined;
/**
 * One hyperparameter value: a string, a number or a boolean.
 */
export type ParameterValue = string | number | boolean;
/**
 * A missed slot still starts if no later than this; default: only the latest missed slot runs.
 */
export type Duration1 = string;
/**
 * Longest a trial may run, over all its attempts.
 */
export type Duration2 = string;

/**
 * A trainctl training job: what to train, where, with which data, and within which limits.
 */
export interface TrainJob {
  /**
   * Version of the TrainJob format. Always `trainctl.dev/v1`.
   */
  apiVersion: 'trainctl.dev/v1';
  /**
   * Kind of document. Always `TrainJob`.
   */
  kind: 'TrainJob';
  metadata: Metadata;
  spec: TrainJobSpec;
}
/**
 * Identity of the job.
 */
export interface Metadata {
  name: Name;
  project?: Name1;
  /**
   * Free text shown by `trainctl status` and in reports.
   */
  description?: string;
  /**
   * Free-form key/value labels copied onto run records.
   */
  labels?: {
    [k: string]: string | undefined;
  };
}
/**
 * What to train and how.
 */
export interface TrainJobSpec {
  compute?: Compute;
  code: Code;
  /**
   * Data staged onto every node before training starts.
   */
  data?: DataSource[];
  output?: Output;
  checkpoint?: Checkpoint;
  hyperparameters?: Hyperparameters;
  distributed?: Distributed;
  metrics?: Metrics;
  schedule?: Schedule;
  triggers?: Triggers;
  limits?: Limits;
  retry?: Retry;
}
/**
 * Run on this machine as detached processes.
 */
export interface LocalCompute {
  /**
   * Run on this machine.
   */
  provider: 'local';
  /**
   * GPUs a trial uses: a count taken from the free GPUs, or a list of device ids. 0 trains on CPU.
   */
  gpus?: number | number[];
}
/**
 * Run on EC2 instances started for each trial.
 */
export interface AwsCompute {
  /**
   * Run on AWS EC2.
   */
  provider: 'aws';
  /**
   * AWS region. Default: the SDK's default chain (`AWS_REGION`, profile).
   */
  region?: string;
  /**
   * EC2 instance type, such as `g5.xlarge`.
   */
  instanceType: string;
  /**
   * Purchase option. `spot-with-fallback` tries spot and falls back to on-demand on capacity errors.
   */
  market?: 'spot' | 'on-demand' | 'spot-with-fallback';
  /**
   * Highest spot price in USD per instance-hour.
   */
  maxPricePerHour?: number;
  /**
   * AMI id (`ami-…`) or an SSM parameter alias (`resolve:ssm:/aws/service/…`). Default: the Deep Learning AMI for the region.
   */
  ami?: string;
  /**
   * Subnet to launch into. Default: the default VPC.
   */
  subnetId?: string;
  /**
   * Security groups for the instances. Multi-node jobs need one that lets the nodes reach each other.
   */
  securityGroupIds?: string[];
  /**
   * Instance profile name; it needs SSM and S3 access to the output store.
   */
  iamInstanceProfile?: string;
  /**
   * EC2 key pair for SSH access (optional; trainctl itself uses SSM).
   */
  keyName?: string;
  /**
   * Root volume size in GiB.
   */
  volumeGiB?: number;
  /**
   * Cluster placement group for multi-node jobs. Default: one created per trial when `distributed.nodes > 1`.
   */
  placementGroup?: string;
}
/**
 * Run on RunPod pods started for each trial.
 */
export interface RunpodCompute {
  /**
   * Run on RunPod.
   */
  provider: 'runpod';
  /**
   * GPU type id, such as `NVIDIA GeForce RTX 4090`.
   */
  gpuType?: string;
  /**
   * GPU types in order of preference, tried when the first has no capacity.
   *
   * @minItems 1
   */
  gpuTypes?: [string, ...string[]];
  /**
   * GPUs per pod.
   */
  gpuCount?: number;
  /**
   * RunPod cloud to use.
   */
  cloudType?: 'SECURE' | 'COMMUNITY' | 'ALL';
  /**
   * Use interruptible (spot) pods; trainctl resumes them from checkpoints when they are taken away.
   */
  interruptible?: boolean;
  /**
   * Bid in USD per GPU-hour for interruptible pods.
   */
  bidPerGpu?: number;
  /**
   * Container image for the pod.
   */
  image?: string;
  /**
   * Pod volume size in GiB.
   */
  volumeGiB?: number;
  /**
   * Container disk size in GiB.
   */
  containerDiskGiB?: number;
}
/**
 * The training code and how to start it.
 */
export interface Code {
  /**
   * Directory with the code, relative to the spec file. It is shipped to every node.
   */
  path?: string;
  /**
   * Command that trains, run in the code directory. `{name}` placeholders take hyperparameter values, quoted for the shell.
   */
  command: string;
  /**
   * Command run once per node before training, such as `pip install -r requirements.txt`.
   */
  setup?: string;
  /**
   * Extra environment variables for setup and training.
   */
  env?: {
    [k: string]: string | undefined;
  };
}
/**
 * One dataset to stage before training.
 */
export interface DataSource {
  /**
   * Where the data is: `s3://bucket/prefix/`, `file:///path/`, or `file://./dir` relative to the spec file.
   */
  source: string;
  /**
   * Directory on the node, relative to the code directory.
   */
  target: string;
  /**
   * How staged files are checked against the source.
   */
  verify?: 'none' | 'size' | 'etag' | 'sha256';
  /**
   * Glob patterns of keys to stage; default all.
   */
  include?: string[];
  /**
   * Glob patterns of keys to skip.
   */
  exclude?: string[];
}
/**
 * The output store: run records, logs, metrics and checkpoints. Default for local jobs: `file://$TRAINCTL_HOME/runs`.
 */
export interface Output {
  /**
   * `s3://bucket/prefix/` or `file:///absolute/path/` (`file://./dir` is relative to the spec file).
   */
  uri: string;
}
/**
 * Where training writes checkpoints, which are kept and how a trial resumes.
 */
export interface Checkpoint {
  /**
   * Directory the training code writes checkpoints to, relative to the code directory.
   */
  dir?: string;
  /**
   * Glob of checkpoint files inside `dir`.
   */
  pattern?: string;
  /**
   * Complete checkpoints kept in the store; older ones are pruned.
   */
  keepLastN?: number;
  /**
   * When checkpoints go to the store: as soon as they are written, or once at the end.
   */
  upload?: 'on-save' | 'on-exit' | 'never';
  /**
   * `auto` resumes an interrupted trial from its newest complete checkpoint.
   */
  resume?: 'auto' | 'never';
  /**
   * Appended to the command on resume; `{path}` is the restored checkpoint.
   */
  resumeArg?: string;
  /**
   * Compression for checkpoint uploads.
   */
  compress?: 'none' | 'gzip' | 'zstd';
  gracePeriod?: Duration;
}
/**
 * How one job becomes several trials.
 */
export interface Hyperparameters {
  /**
   * `grid`: every combination; `random`: `samples` draws with `seed`; `list`: the `trials` as written.
   */
  strategy?: 'grid' | 'random' | 'list';
  /**
   * Parameter name → list of values, or (random only) a distribution.
   */
  parameters?: {
    [k: string]: ParameterSpace | undefined;
  };
  /**
   * Number of trials drawn by `random`.
   */
  samples?: number;
  /**
   * Seed for `random`; the same seed gives the same trials.
   */
  seed?: number;
  /**
   * Explicit trials for `list`, each a map of parameter values.
   *
   * @minItems 1
   */
  trials?: [
    {
      [k: string]: ParameterValue;
    },
    ...{
      [k: string]: ParameterValue;
    }[]
  ];
  /**
   * Trials running at once; the rest wait for a slot.
   */
  maxParallel?: number;
  /**
   * Stop launching, and stop running trials, after the first failed trial.
   */
  stopOnFailure?: boolean;
  /**
   * How values reach the code besides `{name}` placeholders: `args` appends `--name=value` for parameters the command does not name; `env` sets `HP_NAME` only.
   */
  passAs?: 'args' | 'env';
}
/**
 * A distribution to draw values from (random search only).
 */
export interface Distribution {
  /**
   * `uniform` and `log_uniform` draw reals, `int_uniform` draws integers in [min, max].
   */
  distribution: 'uniform' | 'log_uniform' | 'int_uniform';
  /**
   * Lower bound.
   */
  min: number;
  /**
   * Upper bound.
   */
  max: number;
}
/**
 * Data-parallel training over several processes and nodes (launched with torchrun).
 */
export interface Distributed {
  /**
   * Parallelism strategy.
   */
  strategy?: 'ddp';
  /**
   * Machines per trial.
   */
  nodes?: number;
  /**
   * Processes per machine, usually one per GPU.
   */
  nprocPerNode?: number;
  /**
   * Collective backend; `auto` is nccl with GPUs, gloo without.
   */
  backend?: 'auto' | 'nccl' | 'gloo';
  /**
   * Rendezvous port; default a free port.
   */
  masterPort?: number;
}
/**
 * How metrics are read from training output and which one ranks trials.
 */
export interface Metrics {
  /**
   * Metric name → regular expression with one capture group, matched on each log line. JSON lines and `TRAINCTL_METRICS_FILE` are read as well.
   */
  patterns?: {
    [k: string]: string | undefined;
  };
  objective?: Objective;
  earlyStopping?: EarlyStopping;
}
/**
 * The metric that ranks trials.
 */
export interface Objective {
  /**
   * Metric name, such as `val_loss`.
   */
  metric: string;
  /**
   * Whether lower or higher is better.
   */
  goal?: 'minimize' | 'maximize';
}
/**
 * Stop trials that fall behind their peers (needs `metrics.objective`).
 */
export interface EarlyStopping {
  /**
   * `median`: stop a trial whose objective at step s is worse than the median of its peers at s.
   */
  rule?: 'median';
  /**
   * Peers that must have reached step s before the rule applies.
   */
  minTrials?: number;
  /**
   * No trial is stopped before this step.
   */
  startStep?: number;
}
/**
 * Run the job on a schedule; each due slot becomes a run with its own trials.
 */
export interface Schedule {
  /**
   * Five-field cron expression, such as `0 2 * * *`.
   */
  cron: string;
  /**
   * IANA time zone the cron expression is read in.
   */
  timezone?: string;
  /**
   * What happens when a slot is due while the previous run is still going.
   */
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  startingDeadline?: Duration1;
}
/**
 * Start a run when new data lands: each newer matching object is a slot, keyed by its LastModified minute, and runs once.
 */
export interface Triggers {
  s3: S3Trigger;
  /**
   * As `schedule.concurrencyPolicy`, for a job without a schedule (default `Forbid`); with a schedule, that one covers triggered runs too.
   */
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
}
/**
 * Where new data is watched for.
 */
export interface S3Trigger {
  /**
   * `s3://bucket/prefix/` (or `file:///path/` for local data) listed on every plan.
   */
  prefix: string;
  /**
   * Glob of keys, relative to the prefix, that count as new data (`*`, `**`, `?`, `{a,b}`).
   */
  pattern?: string;
}
/**
 * Spend and time limits for the whole job.
 */
export interface Limits {
  /**
   * Most the job may spend, over all trials and attempts, in USD.
   */
  costUSD?: number;
  maxDuration?: Duration2;
  /**
   * `stop` stops trials at a limit; `warn` only reports it.
   */
  onExceed?: 'stop' | 'warn';
}
/**
 * How often a trial is started again.
 */
export interface Retry {
  /**
   * Resumes after spot interruptions or node loss.
   */
  onSpotInterruption?: number;
  /**
   * Retries after the training command fails.
   */
  onFailure?: number;
  /**
   * Spot interruptions after which `spot-with-fallback` switches a trial to on-demand.
   */
  fallbackToOnDemandAfter?: number;
}
