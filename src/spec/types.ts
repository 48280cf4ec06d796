// Typed views of a TrainJob after defaults are applied. The generated types (schema.gen.ts)
// mark defaulted fields optional; these make them required so the rest of the code trusts them.
import type {
  AwsCompute, Checkpoint, Code, DataSource, Distributed, Hyperparameters, Limits, LocalCompute, Metrics,
  ParameterValue, Retry, RunpodCompute, S3Trigger, Schedule, TrainJob, Triggers,
} from './schema.gen.js';

export type { ParameterValue, TrainJob } from './schema.gen.js';

type Defaulted<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> };

export type ResolvedCompute =
  | Defaulted<LocalCompute, 'gpus'>
  | Defaulted<AwsCompute, 'market' | 'volumeGiB'>
  | Defaulted<RunpodCompute, 'gpuCount' | 'cloudType' | 'interruptible' | 'image' | 'volumeGiB' | 'containerDiskGiB'>;

export interface ResolvedSpec {
  compute: ResolvedCompute;
  code: Defaulted<Code, 'path' | 'env'> & { /** absolute path of the code directory */ absPath: string };
  data: Defaulted<DataSource, 'verify'>[];
  output: { uri: string };
  checkpoint: Required<Checkpoint>;
  hyperparameters: Defaulted<Hyperparameters, 'strategy' | 'parameters' | 'seed' | 'maxParallel' | 'stopOnFailure' | 'passAs'>;
  distributed: Defaulted<Distributed, 'strategy' | 'nodes' | 'nprocPerNode' | 'backend'>;
  metrics: Defaulted<Metrics, 'patterns'>;
  schedule?: Defaulted<Schedule, 'timezone' | 'concurrencyPolicy'>;
  triggers?: Omit<Triggers, 's3'> & { s3: Defaulted<S3Trigger, 'pattern'> };
  limits: Defaulted<Limits, 'onExceed'>;
  retry: Required<Retry>;
}

/** One TrainJob document, validated and defaulted. */
export interface Job {
  name: string;
  project: string;
  description?: string;
  labels: Record<string, string>;
  spec: ResolvedSpec;
  /** Where it came from (its metadata.name), for messages. */
  source: { file: string; line: number; col: number };
}

export type Parameters = Record<string, ParameterValue>;

/** One run of a job with one set of parameter values: the unit plan and apply work on. */
export interface Trial {
  /** `<job>-<8 hex of the parameter values>`, stable whatever the key order in YAML. */
  id: string;
  job: string;
  project: string;
  /** Position in the job's expansion; launch order. */
  index: number;
  parameters: Parameters;
  /** The training command with this trial's values substituted. */
  command: string;
  /** Hash over everything that changes what this trial would run. */
  specHash: string;
  /** For a scheduled or triggered job: the run it belongs to (UTC minute, `YYYYMMDDtHHMM`); also at the end of its id. */
  slot?: string;
}

export type { TrainJob as RawTrainJob };
