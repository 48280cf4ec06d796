// Metric points: the metrics.jsonl line format and the summary result.json keeps (last value of
// each metric, best value of the objective). Pure: the runner and the stores do the I/O.

/** One line of metrics.jsonl: `{"attempt":n,"step":s,"time":ISO,"<name>":value,…}` on disk. */
export interface MetricPoint {
  attempt: number;
  step: number;
  time: string;
  values: Record<string, number>;
}

const RESERVED = new Set(['attempt', 'step', 'time']);

/** `{"attempt":n,"step":s,"time":ISO,"<name>":value,…}`: the identifying fields first, for `head`. */
export function formatMetricPoint(p: MetricPoint): string {
  const out: Record<string, string | number> = { attempt: p.attempt, step: p.step, time: p.time };
  for (const [k, v] of Object.entries(p.values)) if (!RESERVED.has(k) && Number.isFinite(v)) out[k] = v;
  return JSON.stringify(out);
}

/** One metrics.jsonl line, or undefined when it is not one (damaged, cut short). */
export function parseMetricPoint(line: string): MetricPoint | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const obj = raw as Record<string, unknown>;
  if (!Number.isInteger(obj.attempt) || typeof obj.step !== 'number' || typeof obj.time !== 'string') return undefined;
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj)) if (!RESERVED.has(k) && typeof v === 'number') values[k] = v;
  return { attempt: obj.attempt as number, step: obj.step, time: obj.time, values };
}

export interface MetricSummary {
  /** Last value of each metric. */
  finalMetrics: Record<string, number>;
  best?: { metric: string; value: number; step?: number };
}

export function summarizeMetrics(
  points: readonly MetricPoint[],
  objective?: { metric: string; goal: 'minimize' | 'maximize' },
): MetricSummary {
  const finalMetrics: Record<string, number> = {};
  let best: MetricSummary['best'];
  for (const p of points) {
    Object.assign(finalMetrics, p.values);
    const v = objective ? p.values[objective.metric] : undefined;
    if (objective && v !== undefined && Number.isFinite(v)) {
      const better = !best || (objective.goal === 'minimize' ? v < best.value : v > best.value);
      if (better) best = { metric: objective.metric, value: v, step: p.step };
    }
  }
  return best ? { finalMetrics, best } : { finalMetrics };
}
