// Bounded concurrency, two shapes. mapBounded: fn over a known list, at most `limit` at a time,
// results in order (stores, deletes in batches). Slots: a budget of tasks in flight that work of
// different kinds draws on as it goes (the transfer engine: the small objects of a tree and the
// parts of several large ones share one pool of requests, and a task can hold its slot across
// nested steps), which a map over one list cannot express.

/**
 * Results in the items' order. After a failure no new item starts; the ones under way finish
 * (so cleanup sees all their effects), then the first error is thrown.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/** At most n tasks at once; waiters are served in order. A slot may be acquired and released by different code. */
export class Slots {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
