// What progress and summaries show about a trial beyond its run record: result.json in full
// (final metrics, best objective, cost) and the latest value of each metric in metrics.jsonl.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMetricPoint, type MetricPoint } from '../core/metrics.js';
import type { S3Store } from './s3.js';
import type { TrialRef, TrialResult } from './store.js';

export interface TrialReport {
  result?: TrialResult;
  /** Latest value of each metric seen so far. */
  latest: Record<string, number>;
  /** Step of the latest metric point. */
  step?: number;
}

/** Enough of metrics.jsonl's end for the latest value of every metric, without reading it all. */
const TAIL_BYTES = 64 * 1024;

export async function readTrialReport(storeUri: string, ref: TrialRef): Promise<TrialReport> {
  if (storeUri.startsWith('s3://')) return readS3Report(storeUri, ref);
  if (!storeUri.startsWith('file://')) return { latest: {} };
  const dir = join(fileURLToPath(storeUri), ref.project, ref.job, ref.trial);
  const report: TrialReport = { latest: {} };
  const result = readJson<TrialResult>(join(dir, 'result.json'));
  if (result?.state) report.result = result;
  for (const line of tail(join(dir, 'metrics.jsonl'))) {
    const point = parseMetricPoint(line);
    if (!point) continue;
    report.step = point.step;
    Object.assign(report.latest, point.values);
  }
  return report;
}

/** One S3 store per URI for the life of the process: `apply --wait` asks every pass. */
const s3Stores = new Map<string, Promise<S3Store | undefined>>();

async function readS3Report(storeUri: string, ref: TrialRef): Promise<TrialReport> {
  let opening = s3Stores.get(storeUri);
  if (!opening) {
    opening = import('./open.js').then(async ({ openRunStore }) => {
      const store = await openRunStore(storeUri);
      return 'error' in store ? undefined : (store as S3Store);
    });
    s3Stores.set(storeUri, opening);
  }
  const store = await opening;
  if (!store) return { latest: {} };
  try {
    const [result, points] = await Promise.all([store.readResult(ref), store.readRecentMetrics(ref)]);
    return { ...(result ? { result } : {}), ...latestOf(points) };
  } catch {
    // progress is a view: a store hiccup shows less this pass, observation reports real failures
    return { latest: {} };
  }
}

function latestOf(points: readonly MetricPoint[]): Pick<TrialReport, 'latest' | 'step'> {
  const out: Pick<TrialReport, 'latest' | 'step'> = { latest: {} };
  for (const p of points) {
    out.step = p.step;
    Object.assign(out.latest, p.values);
  }
  return out;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Complete lines in the last TAIL_BYTES of a file; none when it is missing. */
function tail(path: string): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // cut mid-line
    return lines.filter((l) => l.trim() !== '');
  } finally {
    closeSync(fd);
  }
}
