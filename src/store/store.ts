// The run-record store (DESIGN §4): where run records, logs, metrics and checkpoints live.
// Same layout on file:// and s3://. The planner needs only the read side; the runner writes.
import type { MetricPoint } from '../core/metrics.js';
import type { AttemptRecord, FinalState, TrialRecord } from '../core/observed.js';

export type { MetricPoint } from '../core/metrics.js';

export interface RunStoreReader {
  readonly uri: string;
  /** Every trial record of the project. A missing store or project is empty, not an error. */
  readRecords(project: string): Promise<TrialRecord[]>;
}

export interface TrialRef { project: string; job: string; trial: string }

/** spec.json: the resolved trial as it was launched. */
export interface TrialSpecRecord {
  project: string;
  job: string;
  trial: string;
  specHash: string;
  parameters: Record<string, string | number | boolean>;
  command: string;
}

/** How a checkpoint file's stored bytes are compressed; size and sha256 always describe the file itself. */
export type CheckpointEncoding = 'gzip' | 'zstd';

/** `checkpoint.compress`: what the runner asks for; the store compresses only when it helps. */
export type CheckpointCompression = 'none' | CheckpointEncoding;

export interface CheckpointFile {
  /** Relative to the checkpoint dir, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
  /**
   * Where the bytes are, relative to the trial dir ('/'-separated, under `checkpoints/`), when not
   * at `checkpoints/<step>/<path>`: an unchanged file points at the copy an earlier checkpoint
   * of the same trial holds, and a compressed file has its own name.
   */
  object?: string;
  encoding?: CheckpointEncoding;
}

/** checkpoints/<step>/MANIFEST.json, written after every file of the checkpoint. */
export interface CheckpointManifest {
  step: number;
  createdAt: string;
  attempt: number;
  files: CheckpointFile[];
}

export interface PutCheckpointOptions {
  /** Default none. Honoured by stores that upload (s3://); file:// copies as is. */
  compress?: CheckpointCompression;
}

/** A checkpoint that must not be restored: incomplete, tampered with, or with unsafe paths. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** result.json: how the trial ended for good. */
export interface TrialResult {
  state: FinalState;
  specHash: string;
  finishedAt: string;
  exitCode?: number;
  attempt: number;
  durationMs: number;
  costUSD: number;
  /** Last value of each metric. */
  finalMetrics: Record<string, number>;
  /** Best value of the objective metric, when the job names one. */
  best?: { metric: string; value: number; step?: number };
  /** Why a `stopped` trial was stopped by its runner: it ran its whole maxDuration, or its job reached limits.costUSD. */
  stopReason?: 'max-duration' | 'cost-limit';
}

/** The write side, used by the runner. Every write that replaces a file is atomic. */
export interface RunStore extends RunStoreReader {
  readTrial(ref: TrialRef): Promise<TrialRecord | undefined>;
  /**
   * Claims (attempt, rank) for one runner: exclusive create (O_EXCL on file://, a conditional put
   * on s3://). False when another runner holds it, so a re-run launch never trains twice.
   */
  claimAttempt(ref: TrialRef, attempt: number, rank: number, holder: string): Promise<boolean>;
  writeSpec(ref: TrialRef, spec: TrialSpecRecord): Promise<void>;
  /**
   * A node of the attempt got a spot interruption notice. Every node of a multi-node attempt stops
   * when one is reclaimed, so the group is replaced together and resumes from one checkpoint.
   */
  noteInterruption(ref: TrialRef, attempt: number, rank: number): Promise<void>;
  /** Ranks that noted an interruption of the attempt, ascending. */
  interruptedRanks(ref: TrialRef, attempt: number): Promise<number[]>;
  writeStatus(ref: TrialRef, status: AttemptRecord & Record<string, unknown>): Promise<void>;
  appendMetrics(ref: TrialRef, jsonLines: string): Promise<void>;
  /** Every metric point of the trial, all attempts, in the order written; damaged lines are skipped. */
  readMetrics(ref: TrialRef): Promise<MetricPoint[]>;
  appendLog(ref: TrialRef, attempt: number, rank: number, chunk: string | Uint8Array): Promise<void>;
  /**
   * The node's log from byte `fromOffset` to its current end (empty when nothing is new);
   * undefined when the attempt has no log for that rank yet. Offsets are stable: a log only grows.
   */
  readLog(ref: TrialRef, attempt: number, rank: number, fromOffset?: number): Promise<Buffer | undefined>;
  /**
   * Stores the files (paths relative to localDir), then MANIFEST.json, then moves LATEST. A file
   * whose sha256 an earlier complete checkpoint of the trial already holds may be stored as a
   * reference to that copy (the entry's `object`).
   */
  putCheckpoint(ref: TrialRef, step: number, attempt: number, localDir: string, files: readonly string[], opts?: PutCheckpointOptions): Promise<CheckpointManifest>;
  /** Steps of complete checkpoints (with a MANIFEST), ascending. */
  listCheckpoints(ref: TrialRef): Promise<number[]>;
  /**
   * Deletes the checkpoint (MANIFEST first, so a crash leaves it merely incomplete) and moves
   * LATEST back when it pointed here; bytes another complete checkpoint refers to are kept.
   */
  deleteCheckpoint(ref: TrialRef, step: number): Promise<void>;
  /** Restores a complete checkpoint into destDir, verifying every sha256; throws CheckpointError on a mismatch. */
  fetchCheckpoint(ref: TrialRef, step: number, destDir: string): Promise<CheckpointManifest>;
  writeResult(ref: TrialRef, result: TrialResult): Promise<void>;
}

/** Project, job and trial names become path segments (file) or key segments (s3): none may climb out. */
export function checkComponents(parts: readonly string[]): void {
  for (const part of parts) {
    if (!part || part === '.' || part === '..' || /[/\\\0]/.test(part)) throw new Error(`bug: invalid store path component ${JSON.stringify(part)}`);
  }
}

/** How every JSON record is written, so both stores hold the same bytes. */
export const recordJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
