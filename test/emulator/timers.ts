// The timers of an emulated world (instance and pod lifecycles, notices): none fires after the
// world stopped, and stopping clears every one, so a test's teardown leaves nothing scheduled.

export class WorldTimers {
  private readonly pending = new Set<NodeJS.Timeout>();
  private ended = false;

  get stopped(): boolean {
    return this.ended;
  }

  schedule(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.pending.delete(t);
      if (!this.ended) fn();
    }, ms);
    this.pending.add(t);
  }

  stop(): void {
    this.ended = true;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}
