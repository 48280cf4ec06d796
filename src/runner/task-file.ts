// Reads the task file the launcher wrote: parsed and checked once here, trusted afterwards.
import { readFileSync } from 'node:fs';
import { RUNNER_TASK_VERSION, type RunnerTask } from './task.js';

type Check = (v: unknown) => boolean;

const str: Check = (v) => typeof v === 'string';
const nonEmpty: Check = (v) => typeof v === 'string' && v.length > 0;
const int = (min: number): Check => (v) => Number.isSafeInteger(v) && (v as number) >= min;
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const obj: Check = (v) => !!v && typeof v === 'object' && !Array.isArray(v);
const oneOf = (...values: string[]): Check => (v) => values.includes(v as string);
const mapOf = (value: Check): Check => (v) => obj(v) && Object.values(v as object).every(value);
const scalar: Check = (v) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const optional = (c: Check): Check => (v) => v === undefined || c(v);

const globs = optional((v) => Array.isArray(v) && v.every(nonEmpty));
const dataStaging: Check = (v) => {
  if (!obj(v)) return false;
  const d = v as Record<string, unknown>;
  const target = d.target;
  return typeof d.source === 'string' && /^(s3|file):\/\//.test(d.source)
    && typeof target === 'string' && target.length > 0 && !target.startsWith('/') && !target.split('/').includes('..')
    && oneOf('none', 'size', 'etag', 'sha256')(d.verify) && globs(d.include) && globs(d.exclude);
};

const FIELDS: [path: string, check: Check, expected: string][] = [
  ['project', nonEmpty, 'a name'],
  ['job', nonEmpty, 'a name'],
  ['trial', nonEmpty, 'a trial id'],
  ['specHash', nonEmpty, 'a hash'],
  ['attempt', int(1), 'an integer ≥ 1'],
  ['nodeRank', int(0), 'an integer ≥ 0'],
  ['nodes', int(1), 'an integer ≥ 1'],
  ['nprocPerNode', int(1), 'an integer ≥ 1'],
  ['parameters', mapOf(scalar), 'a map of strings, numbers and booleans'],
  ['command', nonEmpty, 'a command'],
  ['setup', optional(str), 'a command'],
  ['env', mapOf(str), 'a map of strings'],
  ['workDir', (v) => typeof v === 'string' && v.startsWith('/'), 'an absolute path'],
  ['storeUri', nonEmpty, 'a URI'],
  ['checkpoint', obj, 'an object'],
  ['checkpoint.dir', nonEmpty, 'a relative path'],
  ['checkpoint.pattern', nonEmpty, 'a glob'],
  ['checkpoint.keepLastN', int(0), 'an integer ≥ 0'],
  ['checkpoint.upload', oneOf('on-save', 'on-exit', 'never'), 'on-save, on-exit or never'],
  ['checkpoint.resumeArg', str, 'a string'],
  ['checkpoint.gracePeriodMs', num, 'milliseconds'],
  ['checkpoint.compress', optional(oneOf('none', 'gzip', 'zstd')), 'none, gzip or zstd'],
  ['data', optional((v) => Array.isArray(v) && v.every(dataStaging)), 'a list of { source, target, verify, include?, exclude? }'],
  ['resumeFromStep', optional(int(0)), 'an integer ≥ 0'],
  ['metrics', obj, 'an object'],
  ['metrics.patterns', mapOf(str), 'a map of regexes'],
  ['metrics.objective', optional(obj), 'an object'],
  ['metrics.objective.metric', optional(nonEmpty), 'a metric name'],
  ['metrics.objective.goal', optional(oneOf('minimize', 'maximize')), 'minimize or maximize'],
  ['metrics.earlyStopping', optional(obj), 'an object'],
  ['metrics.earlyStopping.rule', optional(oneOf('median')), 'median'],
  ['metrics.earlyStopping.minTrials', optional(int(1)), 'an integer ≥ 1'],
  ['metrics.earlyStopping.startStep', optional(int(0)), 'an integer ≥ 0'],
  ['distributed', optional(obj), 'an object'],
  ['distributed.backend', optional(oneOf('nccl', 'gloo')), 'nccl or gloo'],
  ['distributed.masterAddr', optional(nonEmpty), 'a host'],
  ['distributed.masterPort', optional(int(1)), 'a port'],
  ['gpus', optional((v) => Array.isArray(v) && v.every(int(0))), 'a list of GPU ids'],
  ['pricePerHour', num, 'a price ≥ 0'],
  ['limits', obj, 'an object'],
  ['limits.maxDurationMs', optional(num), 'milliseconds'],
  ['limits.costLimitUSD', optional(num), 'an amount ≥ 0'],
  ['limits.onExceed', oneOf('stop', 'warn'), 'stop or warn'],
  ['heartbeatMs', int(1), 'milliseconds ≥ 1'],
];

/** The task, or the first thing wrong with it, as one line. */
export function parseRunnerTask(raw: unknown): RunnerTask | { error: string } {
  if (!obj(raw)) return { error: 'not a JSON object' };
  const task = raw as Record<string, unknown>;
  if (task.formatVersion !== RUNNER_TASK_VERSION) {
    return { error: `formatVersion ${JSON.stringify(task.formatVersion)} is not ${RUNNER_TASK_VERSION}: launcher and runner are from different trainctl versions` };
  }
  for (const [path, check, expected] of FIELDS) {
    const value = path.split('.').reduce<unknown>((v, k) => (obj(v) ? (v as Record<string, unknown>)[k] : undefined), task);
    if (!check(value)) return { error: `${path} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}` };
  }
  const d = task.distributed as Record<string, unknown> | undefined;
  if (d && (d.backend === undefined || d.masterAddr === undefined || d.masterPort === undefined)) {
    return { error: 'distributed needs backend, masterAddr and masterPort' };
  }
  const es = (task.metrics as { earlyStopping?: Record<string, unknown> }).earlyStopping;
  if (es && (es.rule === undefined || es.minTrials === undefined || es.startStep === undefined)) return { error: 'metrics.earlyStopping needs rule, minTrials and startStep' };
  if (es && (task.metrics as { objective?: unknown }).objective === undefined) return { error: 'metrics.earlyStopping needs metrics.objective' };
  const dir = (task.checkpoint as { dir: string }).dir;
  if (dir.startsWith('/') || dir.split('/').includes('..')) return { error: `checkpoint.dir must stay inside workDir, got ${JSON.stringify(dir)}` };
  for (const [name, source] of Object.entries((task.metrics as { patterns: Record<string, string> }).patterns)) {
    try {
      new RegExp(source);
    } catch {
      return { error: `metrics.patterns.${name} is not a valid regex` };
    }
  }
  return task as unknown as RunnerTask;
}

export function readRunnerTask(path: string): RunnerTask | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { error: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { error: `${path} is not valid JSON: ${(err as Error).message}` };
  }
  const task = parseRunnerTask(raw);
  return 'error' in task ? { error: `${path}: ${task.error}` } : task;
}
