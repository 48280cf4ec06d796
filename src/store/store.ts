// The run-record store (DESIGN §4): where run records, logs, metrics and checkpoints live.
// Same layout on file:// and s3://; this is the read side the planner needs.
import type { TrialRecord } from '../core/observed.js';

export interface RunStoreReader {
  readonly uri: string;
  /** Every trial record of the project. A missing store or project is empty, not an error. */
  readRecords(project: string): Promise<TrialRecord[]>;
}
