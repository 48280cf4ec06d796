// The machinery every transfer shares: one request with retries (src/core/retry.ts), progress
// with a moving rate, and resolved options. The pool of requests in flight is Slots (src/core/bounded.ts).
import type { S3Client } from '@aws-sdk/client-s3';
import { withRetry, type Backoff } from '../core/retry.js';
import { isTransient, toTransferError, TransferError, type ErrorContext } from './errors.js';
import type { TransferOptions, TransferProgress, VerifyMode } from './types.js';

export const MiB = 1024 * 1024;

/** Throttling wants a longer, more random wait than a store hiccup: many clients must not retry in step. */
export const S3_BACKOFF: Backoff = { baseMs: 100, maxMs: 10_000, factor: 2, jitter: 0.5 };

export interface Resolved {
  concurrency: number;
  streamsPerObject: number;
  partSize: number;
  multipartThreshold: number;
  verify: VerifyMode;
  retries: number;
  signal: AbortSignal | undefined;
}

/** S3 allows 10,000 parts; a larger file gets larger parts (whole MiB). */
export function partSizeFor(size: number, partSize: number): number {
  const min = Math.ceil(size / 10_000 / MiB) * MiB;
  return Math.max(partSize, min);
}

/**
 * Options with their defaults. `verify` defaults by direction: an upload checks every part's MD5
 * against the ETag the server returns (the bytes are read anyway); a download checks sizes and pins
 * every range to the listed ETag (If-Match), and hashes only when asked — MD5 costs about a second
 * of CPU per GiB, which is most of what a download of a large object costs the client.
 */
export function resolveOptions(opts: TransferOptions, direction: 'up' | 'down' = 'up'): Resolved {
  const partSize = Math.max(1, Math.floor(opts.partSize ?? 16 * MiB));
  return {
    concurrency: Math.max(1, Math.floor(opts.concurrency ?? 64)),
    streamsPerObject: Math.max(1, Math.floor(opts.streamsPerObject ?? 4)),
    partSize,
    multipartThreshold: Math.max(1, Math.floor(opts.multipartThreshold ?? partSize)),
    verify: opts.verify ?? (direction === 'up' ? 'etag' : 'size'),
    retries: opts.retries ?? 8,
    signal: opts.signal,
  };
}

/** Resolves after ms, or rejects at once when the signal aborts. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortError(): TransferError {
  return new TransferError('aborted', 'transfer cancelled');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

const endpoints = new WeakMap<S3Client, Promise<string | undefined>>();

/** The endpoint a client talks to, for error messages ("cannot reach http://…"); no credentials in it. */
export function endpointOf(client: S3Client): Promise<string | undefined> {
  let p = endpoints.get(client);
  if (!p) {
    p = (async () => {
      try {
        const ep = await client.config.endpoint?.();
        if (!ep) return undefined;
        return `${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}${ep.path && ep.path !== '/' ? ep.path : ''}`;
      } catch {
        return undefined;
      }
    })();
    endpoints.set(client, p);
  }
  return p;
}

/**
 * One S3 request, retried with backoff and jitter while the failure is transient (throttling,
 * 5xx, dropped connections). `attempt` must build a fresh request (and body stream) each time.
 * Failures come out as TransferError.
 */
export async function request<T>(client: S3Client, r: Pick<Resolved, 'retries' | 'signal'>, ctx: ErrorContext, attempt: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(
      async () => {
        throwIfAborted(r.signal);
        return await attempt();
      },
      { retries: r.retries, backoff: S3_BACKOFF, isTransient: (err) => !r.signal?.aborted && isTransient(err), sleep: (ms) => abortableSleep(ms, r.signal) },
    );
  } catch (err) {
    if (r.signal?.aborted) throw abortError();
    throw toTransferError(err, { ...ctx, endpoint: ctx.endpoint ?? (await endpointOf(client)) });
  }
}

/** Byte and file counts of one transfer, reported to onProgress at most every 100 ms. */
export class Meter {
  bytesDone = 0;
  bytesTotal = 0;
  filesDone = 0;
  filesTotal = 0;
  private readonly started = Date.now();
  private lastEmit = 0;
  private readonly samples: Array<{ t: number; bytes: number }> = [];
  constructor(private readonly onProgress: ((p: TransferProgress) => void) | undefined) {}

  add(bytes: number): void {
    this.bytesDone += bytes;
    this.tick();
  }

  fileDone(): void {
    this.filesDone++;
    this.tick();
  }

  tick(force = false): void {
    if (!this.onProgress) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < 100) return;
    this.lastEmit = now;
    this.samples.push({ t: now, bytes: this.bytesDone });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 5000) this.samples.shift();
    const first = this.samples[0]!;
    const span = now - first.t;
    const bytesPerSecond = span > 0 ? ((this.bytesDone - first.bytes) * 1000) / span : 0;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    this.onProgress({
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      bytesPerSecond,
      etaMs: bytesPerSecond > 0 ? (left * 1000) / bytesPerSecond : left === 0 ? 0 : undefined,
      elapsedMs: now - this.started,
    });
  }
}

/** ETag without its quotes. */
export function bareEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}
