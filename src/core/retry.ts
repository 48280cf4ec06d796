// The one retry/backoff helper: transient failures (a store write that hiccups, throttling) are
// retried with capped exponential backoff; the delay computation is pure so it is tested alone.

export interface Backoff {
  /** Delay before the first retry. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  factor: number;
  /** 0…1: the share of each delay that is random, so many clients do not retry in step. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 200, maxMs: 5000, factor: 2, jitter: 0.2 };

/** Delay before retry number `retry` (1-based), in [raw × (1 − jitter), raw], raw = capped exponential. */
export function backoffDelay(retry: number, backoff: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const raw = Math.min(backoff.maxMs, backoff.baseMs * backoff.factor ** Math.max(0, retry - 1));
  return Math.round(raw * (1 - backoff.jitter * random()));
}

export interface RetryOptions {
  /** Retries after the first try; 0 tries once. */
  retries: number;
  backoff?: Backoff;
  /** Errors for which a retry cannot help are thrown at once. Default: every error is transient. */
  isTransient?: (err: unknown) => boolean;
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? defaultSleep;
  for (let retry = 0; ; retry++) {
    try {
      return await fn();
    } catch (err) {
      if (retry >= opts.retries || (opts.isTransient && !opts.isTransient(err))) throw err;
      const delay = backoffDelay(retry + 1, opts.backoff);
      opts.onRetry?.(err, retry + 1, delay);
      await sleep(delay);
    }
  }
}
