// Process supervision: setup and training run as `/bin/sh -c` in their own process group, so a
// stop reaches every process they start (torchrun's workers included). A watchdog outside both
// groups stops that group if the runner itself dies without cleaning up (SIGKILL, OOM killer).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';

export interface ExitStatus {
  /** The exit code, or 128 + signal number when a signal ended it (the shell's convention). */
  code: number;
  signal?: NodeJS.Signals;
}

export interface GroupOptions {
  cwd: string;
  env: Record<string, string>;
  /** Output of the group; a returned promise pauses that stream until it resolves. */
  onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => Promise<void> | undefined;
  /** How long the watchdog lets the group finish after SIGTERM when the runner has died. */
  watchdogGraceMs: number;
}

/**
 * Waits for one line on stdin. "done" means the runner finished with the group; end of file means
 * the runner died: stop the group as the runner would have, SIGTERM then SIGKILL after the grace.
 */
const WATCHDOG = `
read -r line
[ "$line" = done ] && exit 0
kill -TERM -"$1" 2>/dev/null || exit 0
i=0
while [ "$i" -lt "$2" ]; do
  sleep 1
  kill -0 -"$1" 2>/dev/null || exit 0
  i=$((i + 1))
done
kill -KILL -"$1" 2>/dev/null
exit 0
`;

export class ProcessGroup {
  readonly pid: number;
  /** The shell's exit: the command is over, though stragglers may still hold its output open. */
  readonly exited: Promise<ExitStatus>;
  private readonly closed: Promise<void>;
  private watchdog: ChildProcess | undefined;
  private isClosed = false;

  private constructor(private readonly child: ChildProcess, opts: GroupOptions) {
    if (child.pid === undefined) throw new Error('bug: spawned child without a pid');
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
    });
    this.closed = new Promise((resolve) => {
      child.once('close', () => {
        this.isClosed = true;
        resolve();
      });
    });
    this.pipe(child.stdout!, 'stdout', opts);
    this.pipe(child.stderr!, 'stderr', opts);
    this.watchdog = startWatchdog(this.pid, opts.watchdogGraceMs);
  }

  /** Starts `script` under /bin/sh in a new process group; spawn errors come back as exit 127. */
  static start(script: string, opts: GroupOptions): ProcessGroup | { error: string } {
    // A shell that is not the command itself (dash does not exec it) would die of the group's
    // SIGTERM at once and report 143; trapped, it waits for the command, keeps its exit status,
    // and runs nothing after it. Traps reset on exec, so the command sees SIGTERM as usual.
    const child = spawn('/bin/sh', ['-c', `trap 'exit $?' TERM\n${script}`], {
      cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) {
      child.on('error', () => {}); // reported by the return value
      return { error: `cannot start /bin/sh in ${opts.cwd}` };
    }
    return new ProcessGroup(child, opts);
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, sig);
    } catch {
      // ESRCH: every process of the group is gone already
    }
  }

  /** SIGTERM to the group, SIGKILL when it has not finished within graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.signal('SIGTERM');
    if (!(await this.closedWithin(graceMs))) this.signal('SIGKILL');
    await this.closedWithin(5000);
  }

  /**
   * After the shell exits: lets the rest of the group finish writing its output, then ends
   * whatever still runs in it, so nothing outlives the attempt that started it.
   */
  async settle(lingerMs = 2000): Promise<void> {
    await this.exited;
    if (!(await this.closedWithin(lingerMs))) await this.stop(lingerMs);
    else this.signal('SIGKILL');
  }

  /** Tells the watchdog the group is taken care of. */
  release(): void {
    const w = this.watchdog;
    this.watchdog = undefined;
    w?.stdin?.end('done\n');
  }

  private closedWithin(ms: number): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private pipe(stream: Readable, name: 'stdout' | 'stderr', opts: GroupOptions): void {
    stream.on('data', (chunk: Buffer) => {
      const wait = opts.onOutput(chunk, name);
      if (wait) {
        stream.pause();
        void wait.then(() => stream.resume());
      }
    });
  }
}

function startWatchdog(pgid: number, graceMs: number): ChildProcess | undefined {
  const seconds = Math.max(1, Math.ceil(graceMs / 1000));
  const w = spawn('/bin/sh', ['-c', WATCHDOG, 'trainctl-watchdog', String(pgid), String(seconds)], {
    detached: true, stdio: ['pipe', 'ignore', 'ignore'],
  });
  w.on('error', () => {}); // without a watchdog the runner still stops the group itself
  if (w.pid === undefined) return undefined;
  // neither the watchdog nor its pipe may keep the runner alive
  w.unref();
  (w.stdin as Socket | null)?.unref();
  w.stdin?.on('error', () => {});
  return w;
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): ExitStatus {
  if (code !== null) return { code };
  const n = signal ? constants.signals[signal] : undefined;
  return signal ? { code: 128 + (n ?? 0), signal } : { code: 1 };
}
