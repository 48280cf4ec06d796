// Expansion: one Job → its Trials. Grid, seeded random and explicit list. Parameter names are
// sorted first, so the same spec gives byte-identical trials whatever the key order in YAML.
import { canonicalJson, hashValue, sha256 } from '../core/hash.js';
import { slotTrialId, type Slot } from '../core/schedule.js';
import { placeholders, renderTemplate, shellQuote } from '../core/template.js';
import type { Distribution, ParameterValue } from './schema.gen.js';
import type { Job, Parameters, Trial } from './types.js';

export interface Expansion { trials: Trial[]; /** parameter sets drawn more than once and dropped */ duplicates: number }

/**
 * `slots`: for a job with a schedule or trigger, the runs whose trials are wanted (the engine
 * decides them from the clock and the world); each slot repeats the job's trials, with the slot
 * at the end of their ids and the same specHash, so runs compare. Unscheduled jobs ignore it.
 */
export function expandJob(job: Job, slots: readonly Slot[] = []): Expansion {
  const hp = job.spec.hyperparameters;
  const sets =
    hp.strategy === 'grid' ? gridSets(hp.parameters as Record<string, ParameterValue[]>)
    : hp.strategy === 'random' ? randomSets(hp.parameters, hp.samples ?? 1, hp.seed)
    : (hp.trials ?? []).map(sortKeys);
  const named = new Set(placeholders(job.spec.code.command).map((p) => p.name));
  const common = commonSpecJson(job);
  const trials: Trial[] = [];
  const seen = new Set<string>();
  for (const parameters of sets) {
    const paramsJson = canonicalJson(parameters);
    if (seen.has(paramsJson)) continue;
    seen.add(paramsJson);
    const command = trialCommand(job.spec.code.command, parameters, named, hp.passAs);
    trials.push({
      id: `${job.name}-${sha256(paramsJson).slice(0, 8)}`,
      job: job.name,
      project: job.project,
      index: trials.length,
      parameters,
      command,
      specHash: sha256(`${common}\n${paramsJson}\n${command}`).slice(0, 12),
    });
  }
  const duplicates = sets.length - trials.length;
  if (!job.spec.schedule && !job.spec.triggers) return { trials, duplicates };
  const runs = [...slots].sort().flatMap((slot) => trials.map((t) => ({ ...t, id: slotTrialId(t.id, slot), slot })));
  return { trials: runs.map((t, index) => ({ ...t, index })), duplicates };
}

export function expandJobs(jobs: readonly Job[]): Trial[] {
  return jobs.flatMap((j) => expandJob(j).trials);
}

/**
 * Everything besides parameters that changes what a trial would run. Left out on purpose:
 * metadata, limits, retry, schedule, maxParallel, stopOnFailure and checkpoint.resume (they
 * steer, not define, a run: the planner reads them, and changing one must not replace every
 * live trial), the output store (it is where records live, not what runs) and the code
 * directory's absolute path (it differs between a laptop and CI).
 */
function commonSpecJson(job: Job): string {
  const { compute, code, data, checkpoint, distributed, metrics, hyperparameters } = job.spec;
  const { resume: _resume, ...runnerCheckpoint } = checkpoint;
  return canonicalJson({
    v: 1,
    compute,
    code: { path: code.path, setup: code.setup, env: code.env },
    data,
    checkpoint: runnerCheckpoint,
    distributed,
    metrics: { patterns: metrics.patterns },
    passAs: hyperparameters.passAs,
  });
}

/** The command with `{name}` values substituted; with passAs args, unnamed parameters are appended. */
export function trialCommand(template: string, params: Parameters, named: ReadonlySet<string>, passAs: 'args' | 'env'): string {
  let cmd = renderTemplate(template, params);
  if (passAs === 'args') {
    for (const [k, v] of Object.entries(params)) if (!named.has(k)) cmd += ` ${shellQuote(`--${k}=${v}`)}`;
  }
  return cmd;
}

function sortKeys(p: Parameters): Parameters {
  return Object.fromEntries(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function gridSets(space: Record<string, ParameterValue[]>): Parameters[] {
  const names = Object.keys(space).sort();
  let sets: Parameters[] = [{}];
  for (const name of names) {
    const next: Parameters[] = [];
    for (const s of sets) for (const v of space[name]!) next.push({ ...s, [name]: v });
    sets = next;
  }
  return sets;
}

/** Number of grid trials without building them (for limits and benchmarks). */
export function gridSize(space: Record<string, unknown[]>): number {
  return Object.values(space).reduce((n, vs) => n * vs.length, 1);
}

function randomSets(space: Record<string, ParameterValue[] | Distribution | undefined>, samples: number, seed: number): Parameters[] {
  const names = Object.keys(space).sort();
  const next = prng(seed);
  const sets: Parameters[] = [];
  for (let i = 0; i < samples; i++) {
    const p: Parameters = {};
    for (const name of names) {
      const s = space[name]!;
      const r = next();
      if (Array.isArray(s)) p[name] = s[Math.min(s.length - 1, Math.floor(r * s.length))]!;
      else if (s.distribution === 'int_uniform') p[name] = s.min + Math.min(s.max - s.min, Math.floor(r * (s.max - s.min + 1)));
      else if (s.distribution === 'log_uniform') p[name] = roundWithin(Math.exp(Math.log(s.min) + r * (Math.log(s.max) - Math.log(s.min))), s.min, s.max);
      else p[name] = roundWithin(s.min + r * (s.max - s.min), s.min, s.max);
    }
    sets.push(p);
  }
  return sets;
}

/**
 * Six significant digits: readable values that print the same everywhere. Rounding may step
 * past a bound written with more digits (max 0.9999996 → 1), so the result is kept inside.
 */
const roundWithin = (x: number, min: number, max: number) => Math.min(max, Math.max(min, Number(x.toPrecision(6))));

/** sfc32 seeded from a hash of the seed: the same seed draws the same values on every platform. */
export function prng(seed: number): () => number {
  const h = hashValue({ seed }, 32);
  let a = parseInt(h.slice(0, 8), 16), b = parseInt(h.slice(8, 16), 16), c = parseInt(h.slice(16, 24), 16), d = parseInt(h.slice(24, 32), 16);
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}
