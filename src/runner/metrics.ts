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

const STEP_FIELDS = ['step', 'epoch', 'iteration'] as const;

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
  const values: Record<string, number> = {};
  for (const { name, re } of patterns) {
    const m = re.exec(text);
    const v = m?.[1] === undefined ? NaN : Number(m[1]);
    if (Number.isFinite(v)) values[name] = v;
  }
  return sampleOf(values);
}

function jsonSample(text: string): MetricSample | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
  return sampleOf(values);
}

function sampleOf(values: Record<string, number>): MetricSample | undefined {
  if (Object.keys(values).length === 0) return undefined;
  const stepField = STEP_FIELDS.find((f) => values[f] !== undefined);
  const step = stepField === undefined ? undefined : values[stepField];
  // the step is where a point sits, not something it measured
  delete values.step;
  return step === undefined ? { values } : { step, values };
}

/** Splits a byte stream into lines; a line longer than maxLine is dropped rather than buffered. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private overflow = false;
  constructor(private readonly maxLine = 64 * 1024) {}

  push(chunk: Buffer): string[] {
    const parts = (this.partial + this.decoder.write(chunk)).split(/\r\n|\n|\r/);
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
