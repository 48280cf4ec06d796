// Metrics from training output: JSON object lines and `metrics.patterns` regexes on stdout, and
// JSON lines the code appends to TRAINCTL_METRICS_FILE. Points go to metrics.jsonl in batches.
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { formatMetricPoint } from '../core/metrics.js';

export interface MetricPattern { name: string; re: RegExp }

export function compilePatterns(patterns: Record<string, string>): MetricPattern[] {
  return Object.entries(patterns).map(([name, source]) => ({ name, re: new RegExp(source) }));
}

/** What one line says: the values it reports, and its step when it names one. */
export interface MetricSample { step?: number; values: Record<string, number> }

/**
 * A JSON object line with at least one numeric field is a metric line (its `step`, else `epoch`,
 * else `iteration` field is the step); any other line is tried against the patterns, whose
 * first capture group is the value. A pattern named `step` sets the step.
 */
export function extractMetrics(line: string, patterns: readonly MetricPattern[]): MetricSample | undefined {
  const text = line.trim();
  if (text.startsWith('{')) {
    const sample = jsonSample(text);
    if (sample) return sample;
  }
  if (patterns.length === 0) return undefined;
  const values: Record<string, number> = {};
  let step: number | undefined;
  for (const { name, re } of patterns) {
    const m = re.exec(text);
    const v = m?.[1] === undefined ? NaN : Number(m[1]);
    if (!Number.isFinite(v)) continue;
    if (name === 'step') step = v;
    else values[name] = v;
  }
  return sampleOf(values, step);
}

// Runs for every line the training prints (thousands a second): no Object.entries, and the step
// is kept out of `values` rather than deleted from it, which would turn it into a slow dictionary.
function jsonSample(text: string): MetricSample | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  const values: Record<string, number> = {};
  let step: number | undefined;
  for (const k of Object.keys(fields)) {
    const v = fields[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (k === 'step') step = v;
    else values[k] = v;
  }
  return sampleOf(values, step);
}

/** `values` without the step, which is where a point sits, not something it measured. */
function sampleOf(values: Record<string, number>, step: number | undefined): MetricSample | undefined {
  if (step !== undefined) return { step, values };
  if (Object.keys(values).length === 0) return undefined;
  const other = values.epoch ?? values.iteration;
  return other === undefined ? { values } : { step: other, values };
}

/** Splits a byte stream into lines; a line longer than maxLine is dropped rather than buffered. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private overflow = false;
  constructor(private readonly maxLine = 64 * 1024) {}

  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.write(chunk);
    // splitting on a string is much cheaper than on the regex, and gives the same lines without \r
    const parts = text.includes('\r') ? text.split(/\r\n|\n|\r/) : text.split('\n');
    this.partial = parts.pop() ?? '';
    const lines = this.overflow ? parts.slice(1) : parts;
    if (parts.length > 0) this.overflow = false;
    if (this.partial.length > this.maxLine) {
      this.partial = '';
      this.overflow = true;
    }
    return lines;
  }

  end(): string[] {
    const last = this.partial + this.decoder.end();
    this.partial = '';
    return last && !this.overflow ? [last] : [];
  }
}

/**
 * Turns samples into metric points of this attempt: a sample without a step sits at the last step
 * seen (on resume, the restored checkpoint's step). Points are written in batches by flush().
 */
export class MetricsRecorder {
  private pending: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  /** Last value of each metric in this attempt, for heartbeats. */
  readonly latest: Record<string, number> = {};
  step: number;

  constructor(
    private readonly attempt: number,
    initialStep: number,
    private readonly write: (jsonLines: string) => Promise<void>,
  ) {
    this.step = initialStep;
  }

  record(sample: MetricSample, now: Date = new Date()): void {
    if (sample.step !== undefined) this.step = sample.step;
    if (Object.keys(sample.values).length === 0) return;
    Object.assign(this.latest, sample.values);
    this.pending.push(formatMetricPoint({ attempt: this.attempt, step: this.step, time: now.toISOString(), values: sample.values }));
  }

  /** Writes what is pending; concurrent calls queue behind each other so lines stay in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      await this.write(`${batch.join('\n')}\n`);
    });
    return this.flushing;
  }
}

/** Follows a file the training code appends JSON lines to; it may not exist yet. */
export class MetricsFileTail {
  private offset = 0;
  private readonly lines = new LineSplitter();
  constructor(private readonly path: string) {}

  /** Complete lines appended since the last call. */
  async read(): Promise<string[]> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const out: string[] = [];
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        out.push(...this.lines.push(buf.subarray(0, bytesRead)));
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  /** The last line when the file does not end with a newline (the writer is gone). */
  rest(): string[] {
    return this.lines.end();
  }
}
