// Checkpoint watching on node rank 0: files matching checkpoint.pattern in checkpoint.dir become
// store checkpoints once they stop changing; keep-last-N prunes the oldest. A file's step is the
// last integer in its name, so `model_0300.pt` is checkpoint 300.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { globToRegExp } from '../core/glob.js';

/** The last integer in a relative path, ignoring extensions that start with a letter (`.h5`, `.pt`). */
export function stepFromPath(relPath: string): number | undefined {
  let name = relPath;
  for (let m; (m = /\.[A-Za-z][A-Za-z0-9]*$/.exec(name)) && m.index > 0;) name = name.slice(0, m.index);
  const digits = /(\d+)\D*$/.exec(name)?.[1];
  const n = digits === undefined ? NaN : Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Steps to delete so that the newest keepLastN remain (steps ascending in, oldest first out). */
export function checkpointsToPrune(steps: readonly number[], keepLastN: number): number[] {
  const sorted = [...steps].sort((a, b) => a - b);
  return keepLastN < 1 ? [] : sorted.slice(0, Math.max(0, sorted.length - keepLastN));
}

/** Files of one checkpoint, relative to the checkpoint dir. */
export interface CheckpointGroup { step: number; files: string[] }

/** Groups files by step; a file without a number in its name takes the step it was first seen at. */
export function groupByStep(files: readonly string[], fallbackStep: (file: string) => number): CheckpointGroup[] {
  const byStep = new Map<number, string[]>();
  for (const f of files) {
    const step = stepFromPath(f) ?? fallbackStep(f);
    byStep.set(step, [...(byStep.get(step) ?? []), f]);
  }
  return [...byStep].sort(([a], [b]) => a - b).map(([step, fs]) => ({ step, files: fs.sort() }));
}

type Signature = string;

/**
 * Polls the checkpoint dir. A file counts once it is stable (same size and mtime on two polls in
 * a row); when the training code is gone, every file counts. Files present at the start (a
 * restored checkpoint, leftovers in the work dir) are not new.
 */
export class CheckpointWatcher {
  private readonly re: RegExp;
  /** What each file looked like when it was last handed out (or found at the start). */
  private readonly handled = new Map<string, Signature>();
  private lastSeen = new Map<string, Signature>();
  /** The metric step when a file was first seen in its current form. */
  private readonly seenAtStep = new Map<string, number>();

  constructor(
    private readonly dir: string,
    pattern: string,
    private readonly currentStep: () => number,
  ) {
    this.re = globToRegExp(pattern);
  }

  async baseline(): Promise<void> {
    for (const [f, sig] of await this.scan()) this.handled.set(f, sig);
  }

  /** New checkpoints that have become stable since the last poll, oldest step first. */
  async poll(): Promise<CheckpointGroup[]> {
    const now = await this.scan();
    const before = this.lastSeen;
    const stable = (f: string) => before.get(f) === now.get(f);
    const ready = [...now.keys()].filter((f) => stable(f) && this.handled.get(f) !== now.get(f));
    this.track(now);
    return this.take(now, ready, stable);
  }

  /** Everything new once training has ended; `newest` keeps only the highest step (upload: on-exit). */
  async final(newest: boolean): Promise<CheckpointGroup[]> {
    const now = await this.scan();
    this.track(now);
    const ready = [...now].filter(([f, sig]) => this.handled.get(f) !== sig).map(([f]) => f);
    const groups = this.take(now, ready, () => true);
    return newest ? groups.slice(-1) : groups;
  }

  /**
   * A step's checkpoint holds every stable file of that step, so a file that turns up a poll
   * later than its siblings re-puts the step whole instead of replacing it with itself alone.
   */
  private take(now: Map<string, Signature>, ready: string[], stable: (f: string) => boolean): CheckpointGroup[] {
    if (ready.length === 0) return [];
    const fallback = (f: string) => this.seenAtStep.get(f) ?? this.currentStep();
    const steps = new Set(groupByStep(ready, fallback).map((g) => g.step));
    const members = [...now.keys()].filter((f) => stable(f) && steps.has(stepFromPath(f) ?? fallback(f)));
    for (const f of members) this.handled.set(f, now.get(f)!);
    return groupByStep(members, fallback);
  }

  private track(now: Map<string, Signature>): void {
    for (const [f, sig] of now) if (this.lastSeen.get(f) !== sig) this.seenAtStep.set(f, this.currentStep());
    this.lastSeen = now;
  }

  private async scan(): Promise<Map<string, Signature>> {
    const out = new Map<string, Signature>();
    const walk = async (rel: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.dir, rel), { withFileTypes: true });
      } catch {
        return; // not created yet, or removed under us
      }
      for (const e of entries) {
        // dot files are the training code's temp files (written, then renamed into place)
        if (e.name.startsWith('.')) continue;
        const path = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (depth < 8) await walk(path, depth + 1);
        } else if (e.isFile() && this.re.test(path)) {
          try {
            const s = await stat(join(this.dir, path));
            out.set(path, `${s.size}:${s.mtimeMs}`);
          } catch {
            // deleted between readdir and stat: the code rotates its own checkpoints
          }
        }
      }
    };
    await walk('', 0);
    return out;
  }
}
