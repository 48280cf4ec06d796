// Experiments: a job's trials as comparable rows (parameters, final metrics, best objective),
// ranked best first, and the curves and per-parameter series the HTML report draws. Pure.
import { summarizeMetrics, type MetricPoint } from './metrics.js';
import type { TrialRecord } from './observed.js';
import type { TrialState } from './status.js';

export type Goal = 'minimize' | 'maximize';
export interface Objective { metric: string; goal: Goal }
export type ParameterValue = string | number | boolean;

/** What is known of one trial: where it stands (plan + world) and what its store holds. */
export interface TrialEvidence {
  trial: string;
  parameters: Readonly<Record<string, ParameterValue>>;
  state: TrialState;
  attempt: number;
  costUSD: number;
  elapsedMs: number;
  record?: TrialRecord;
  /** metrics.jsonl: every attempt, in the order written. */
  points: readonly MetricPoint[];
}

export interface ExperimentRow {
  trial: string;
  parameters: Readonly<Record<string, ParameterValue>>;
  state: TrialState;
  attempt: number;
  /** Step of the latest metric point. */
  step?: number;
  costUSD: number;
  elapsedMs: number;
  /** Last value of each metric. */
  final: Record<string, number>;
  /** Best value of the objective seen (goal-aware) and the step it was reached at. */
  best?: { metric: string; value: number; step?: number };
}

/**
 * What rows are ordered by. The objective ranks by its best value; any other metric (or the
 * objective against its goal) by its final value, since "best" is known only along the goal.
 */
export interface Ranking { metric: string; goal: Goal; by: 'best' | 'final' }

export interface RankedRow extends ExperimentRow {
  /** 1-based; ties share a rank. Absent for a trial without a value, and for a failed one. */
  rank?: number;
  /** The value the ranking used. */
  value?: number;
}

const NOT_METRICS = new Set(['step', 'attempt', 'time']);

/**
 * Points of the trial's current spec: after a `replace`, old attempts (another specHash) are kept
 * in the store but are not this trial's results. Points of unrecorded attempts are kept.
 */
export function currentPoints(ev: Pick<TrialEvidence, 'record' | 'points'>): MetricPoint[] {
  const rec = ev.record;
  if (!rec) return [...ev.points];
  const stale = new Set(rec.attempts.filter((a) => a.specHash !== rec.specHash).map((a) => a.n));
  return ev.points.filter((p) => !stale.has(p.attempt));
}

export function experimentRow(ev: TrialEvidence, objective?: Objective): ExperimentRow {
  const points = currentPoints(ev);
  const row: ExperimentRow = {
    trial: ev.trial, parameters: ev.parameters, state: ev.state, attempt: ev.attempt,
    costUSD: ev.costUSD, elapsedMs: ev.elapsedMs, final: {},
  };
  if (points.length) {
    const summary = summarizeMetrics(points, objective);
    row.final = summary.finalMetrics;
    row.step = points.at(-1)!.step;
    if (summary.best) row.best = summary.best;
    return row;
  }
  // no metrics.jsonl (or none of this spec): what result.json and the last heartbeat recorded
  const rec = ev.record;
  const last = rec?.attempts.at(-1);
  const result = rec?.result && rec.result.specHash === rec.specHash ? rec.result : undefined;
  const heartbeat = last && last.specHash === rec!.specHash ? last : undefined;
  for (const [k, v] of Object.entries({ ...result?.finalMetrics, ...heartbeat?.metrics })) {
    if (!NOT_METRICS.has(k) && Number.isFinite(v)) row.final[k] = v;
  }
  if (heartbeat?.step !== undefined) row.step = heartbeat.step;
  if (objective) {
    if (result?.best?.metric === objective.metric) row.best = { ...result.best };
    else if (row.final[objective.metric] !== undefined) row.best = { metric: objective.metric, value: row.final[objective.metric]! };
  }
  return row;
}

/**
 * The ranking for `--sort <metric>[:min|max]`, or the objective when no sort is asked for;
 * undefined when there is neither. A metric other than the objective defaults to min.
 */
export function rankingFor(objective: Objective | undefined, sort?: string): Ranking | { error: string; hint: string } | undefined {
  if (sort === undefined) return objective ? { ...objective, by: 'best' } : undefined;
  const m = /^([^:]+?)(?::(min|max|minimize|maximize))?$/.exec(sort.trim());
  if (!m) return { error: `--sort ${JSON.stringify(sort)} is not <metric>[:min|max]`, hint: 'e.g. --sort val_loss or --sort accuracy:max' };
  const metric = m[1]!;
  const asked: Goal | undefined = m[2] ? (m[2].startsWith('max') ? 'maximize' : 'minimize') : undefined;
  if (objective && metric === objective.metric && (asked === undefined || asked === objective.goal)) return { ...objective, by: 'best' };
  return { metric, goal: asked ?? 'minimize', by: 'final' };
}

export function rankValue(row: ExperimentRow, ranking: Ranking): number | undefined {
  const v = ranking.by === 'best' && row.best?.metric === ranking.metric ? row.best.value : row.final[ranking.metric];
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/**
 * Best first: trials with a value by the ranking's goal, then those without one, then failed
 * trials (a value reached before a crash is not a result). Ties keep the given order and share a
 * rank. Without a ranking the given order is kept and nothing is ranked.
 */
export function rankRows(rows: readonly ExperimentRow[], ranking: Ranking | undefined): RankedRow[] {
  if (!ranking) return rows.map((r) => ({ ...r }));
  const sign = ranking.goal === 'minimize' ? 1 : -1;
  const keyed = rows.map((row, i) => {
    const value = rankValue(row, ranking);
    const tier = (row.state === 'failed' ? 2 : 0) + (value === undefined ? 1 : 0);
    return { row, i, value, tier };
  });
  keyed.sort((a, b) => a.tier - b.tier || (a.value !== undefined && b.value !== undefined ? sign * (a.value - b.value) : 0) || a.i - b.i);
  let rank = 0;
  let prev: number | undefined;
  return keyed.map(({ row, value, tier }, i) => {
    const out: RankedRow = { ...row };
    if (value !== undefined) out.value = value;
    if (tier === 0) {
      if (value !== prev) rank = i + 1;
      prev = value;
      out.rank = rank;
    }
    return out;
  });
}

export interface ExperimentSummary {
  trials: number;
  counts: Partial<Record<TrialState, number>>;
  /** The top-ranked trial. */
  best?: { trial: string; metric: string; value: number };
  costUSD: number;
}

export function summarizeExperiment(ranked: readonly RankedRow[], ranking: Ranking | undefined): ExperimentSummary {
  const counts: ExperimentSummary['counts'] = {};
  for (const r of ranked) counts[r.state] = (counts[r.state] ?? 0) + 1;
  const top = ranked.find((r) => r.rank === 1);
  return {
    trials: ranked.length,
    counts,
    ...(top && ranking ? { best: { trial: top.trial, metric: ranking.metric, value: top.value! } } : {}),
    costUSD: ranked.reduce((s, r) => s + r.costUSD, 0),
  };
}

/** Metric names in the order first seen, the objective (or ranking metric) first. */
export function metricNames(rows: readonly ExperimentRow[], first?: string): string[] {
  const names = new Set<string>(first ? [first] : []);
  for (const r of rows) for (const k of Object.keys(r.final)) names.add(k);
  if (first && !rows.some((r) => r.final[first] !== undefined || r.best?.metric === first)) names.delete(first);
  return [...names];
}

/** Parameter names in the order first seen. */
export function parameterNames(rows: readonly { parameters: Readonly<Record<string, ParameterValue>> }[]): string[] {
  const names = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.parameters)) names.add(k);
  return [...names];
}

export type CurvePoint = readonly [step: number, value: number];

/**
 * One metric's curve: a value per step, sorted by step. A resumed attempt rewinds to its
 * checkpoint and writes those steps again; the later value wins. At most `maxPoints` points:
 * longer curves keep each bucket's lowest and highest value, so spikes survive.
 */
export function curveOf(points: readonly MetricPoint[], metric: string, maxPoints = 500): CurvePoint[] {
  const byStep = new Map<number, number>();
  for (const p of points) {
    const v = p.values[metric];
    if (v !== undefined && Number.isFinite(v) && Number.isFinite(p.step)) byStep.set(p.step, v);
  }
  const curve = [...byStep].sort((a, b) => a[0] - b[0]) as CurvePoint[];
  if (curve.length <= maxPoints) return curve;
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const size = curve.length / buckets;
  const out: CurvePoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const slice = curve.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (!slice.length) continue;
    let lo = slice[0]!;
    let hi = slice[0]!;
    for (const p of slice) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    out.push(...(lo === hi ? [lo] : lo[0] < hi[0] ? [lo, hi] : [hi, lo]));
  }
  return out;
}

/** Metrics worth a curve: those whose value changes within some trial (an echoed `lr` does not). */
export function curveMetrics(pointSets: readonly (readonly MetricPoint[])[], first?: string): string[] {
  const seen = new Set<string>(first ? [first] : []);
  const varies = new Set<string>();
  for (const points of pointSets) {
    const firstValue = new Map<string, number>();
    for (const p of points) {
      for (const [k, v] of Object.entries(p.values)) {
        seen.add(k);
        const f = firstValue.get(k);
        if (f === undefined) firstValue.set(k, v);
        else if (f !== v) varies.add(k);
      }
    }
  }
  return [...seen].filter((k) => varies.has(k));
}

export interface ParameterSeries {
  parameter: string;
  /** Every value a number: a numeric axis; otherwise one slot per distinct value. */
  numeric: boolean;
  /** Distinct values, ascending when numeric, else in order first seen. */
  values: ParameterValue[];
  points: { trial: string; x: ParameterValue; y: number; state: TrialState }[];
}

/** The ranking metric against each parameter, one point per trial that has a value. */
export function parameterSeries(ranked: readonly RankedRow[], parameters: readonly string[]): ParameterSeries[] {
  return parameters.map((parameter) => {
    const all = ranked.map((r) => r.parameters[parameter]).filter((v): v is ParameterValue => v !== undefined);
    const numeric = all.length > 0 && all.every((v) => typeof v === 'number');
    const distinct = [...new Map(all.map((v) => [`${typeof v}:${String(v)}`, v])).values()];
    if (numeric) (distinct as number[]).sort((a, b) => a - b);
    const points = ranked.flatMap((r) => {
      const x = r.parameters[parameter];
      return x === undefined || r.value === undefined ? [] : [{ trial: r.trial, x, y: r.value, state: r.state }];
    });
    return { parameter, numeric, values: distinct, points };
  });
}
