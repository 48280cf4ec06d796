// The node's log in the store (attempts/<n>/logs/<rank>.log): output is batched into few appends,
// and a store slower than the training code pushes back on the child instead of piling up here.

export interface LogSinkOptions {
  flushMs: number;
  /** A batch this big is written at once instead of waiting for the timer. */
  batchBytes: number;
  /** Above this, push() says stop until the pending bytes are written. */
  highWaterBytes: number;
}

const DEFAULTS: LogSinkOptions = { flushMs: 250, batchBytes: 256 * 1024, highWaterBytes: 4 * 1024 * 1024 };

export class LogSink {
  private chunks: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private drainWaiters: (() => void)[] = [];
  private readonly opts: LogSinkOptions;

  constructor(
    private readonly write: (chunk: Buffer) => Promise<void>,
    private readonly onError: (err: unknown) => void,
    opts: Partial<LogSinkOptions> = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** Queues output; false when the caller should pause its source until drained() resolves. */
  push(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.opts.batchBytes) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs);
    return this.size < this.opts.highWaterBytes;
  }

  /** A line from the runner itself, marked so it stands out from the training output. */
  note(text: string): void {
    this.push(Buffer.from(`[trainctl] ${text}\n`));
  }

  drained(): Promise<void> {
    if (this.size < this.opts.highWaterBytes) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Writes everything queued so far; appends stay in order. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      if (this.chunks.length === 0) return;
      const batch = Buffer.concat(this.chunks);
      this.chunks = [];
      try {
        await this.write(batch);
      } catch (err) {
        // the write already retried: dropping this batch keeps memory bounded and training going
        this.onError(err);
      } finally {
        this.size -= batch.length;
        if (this.size < this.opts.highWaterBytes) for (const w of this.drainWaiters.splice(0)) w();
      }
    });
    return this.writing;
  }
}
