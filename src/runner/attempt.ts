// One attempt on one node, start to end (DESIGN §5): claim it, restore the checkpoint, run setup
// and the command, watch output and checkpoints, stop on request, record how it ended. Node rank 0
// writes the attempt's records; every rank writes its own log.
import { mkdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { summarizeMetrics } from '../core/metrics.js';
import type { AttemptRecord, AttemptState } from '../core/observed.js';
import { DEFAULT_BACKOFF, withRetry, type Backoff } from '../core/retry.js';
import { zstdAvailable } from '../store/manifest.js';
import { CheckpointError, type RunStore, type TrialRef, type TrialResult } from '../store/store.js';
import { CheckpointWatcher, checkpointsToPrune, type CheckpointGroup } from './checkpoints.js';
import { distributedCommand, trainingEnv, withResumeArg, type AttemptPaths } from './command.js';
import { LogSink } from './log.js';
import { compilePatterns, extractMetrics, LineSplitter, MetricsFileTail, MetricsRecorder, type MetricPattern } from './metrics.js';
import { fillNodeRecord } from './node-record.js';
import { ProcessGroup, type ExitStatus } from './process.js';
import { stageData, StagingError } from './stage.js';
import type { RunnerTask } from './task.js';
import { JobWatch, type JobStopCause } from './peers.js';
import { needsRedirectMap, torchrunPython } from './torch.js';

/** Why an attempt is being stopped before its command ended by itself. */
export type StopCause = 'signal' | 'spot-notice' | 'max-duration' | JobStopCause;

const POLL_MS = 500;

export interface AttemptOptions {
  /** Retries of a failing store call before the runner gives up on it. */
  storeRetries: number;
  backoff: Backoff;
}

const DEFAULT_OPTIONS: AttemptOptions = { storeRetries: 5, backoff: DEFAULT_BACKOFF };

/** Runs fn now and then every ms after it finishes, never overlapping itself. */
class Loop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  constructor(private readonly ms: number, private readonly fn: () => Promise<void>, private readonly onError: (err: unknown) => void) {}

  start(): this {
    const tick = () => {
      this.running = this.fn().catch(this.onError).finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.ms);
      });
    };
    this.timer = setTimeout(tick, this.ms);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

export class AttemptRun {
  private readonly ref: TrialRef;
  /** Node rank 0: the node that speaks for the attempt in the store. */
  private readonly leader: boolean;
  private readonly startedAt = new Date();
  private readonly host = hostname();
  private readonly paths: AttemptPaths;
  private readonly log: LogSink;
  private readonly metrics: MetricsRecorder;
  private readonly patterns: MetricPattern[];
  private readonly metricsTail: MetricsFileTail;
  private state: AttemptState = 'starting';
  private finishing = false;
  private crashed = false;
  /** Set just before the final status write: no heartbeat may follow it. */
  private closed = false;
  private stopCause: StopCause | undefined;
  private stopping: Promise<void> | undefined;
  private group: ProcessGroup | undefined;
  private exitCode: number | undefined;
  private error: string | undefined;
  private watcher: CheckpointWatcher | undefined;
  private loops: { stop(): Promise<void> }[] = [];
  private timers: NodeJS.Timeout[] = [];
  private statusWrites: Promise<void> = Promise.resolve();
  private statusPending = false;
  /** Aborted by a stop request: staging need not finish for an attempt that is ending. */
  private readonly stopSignal = new AbortController();

  constructor(
    private readonly task: RunnerTask,
    private readonly store: RunStore,
    /** One line to the runner's own stderr (the launcher's log of the node). */
    private readonly say: (line: string) => void,
    private readonly options: AttemptOptions = DEFAULT_OPTIONS,
  ) {
    this.ref = { project: task.project, job: task.job, trial: task.trial };
    this.leader = task.nodeRank === 0;
    const workDir = resolve(task.workDir);
    this.paths = {
      workDir,
      checkpointDir: resolve(workDir, task.checkpoint.dir),
      metricsFile: join(workDir, '.trainctl-metrics.jsonl'),
    };
    this.log = new LogSink(
      (chunk) => this.persist(() => this.store.appendLog(this.ref, task.attempt, task.nodeRank, chunk)),
      (err) => this.say(`log lost: ${message(err)}`),
    );
    this.metrics = new MetricsRecorder(task.attempt, task.resumeFromStep ?? 0, (lines) => this.persist(() => this.store.appendMetrics(this.ref, lines)));
    this.patterns = compilePatterns(task.metrics.patterns);
    this.metricsTail = new MetricsFileTail(this.paths.metricsFile);
  }

  /** The runner's exit code: 0 when the attempt succeeded, stopped or was interrupted (or is not ours), 1 when it failed. */
  async run(): Promise<number> {
    const t = this.task;
    if (process.env.TRAINCTL_NODE_RECORD) {
      try {
        const problem = fillNodeRecord(process.env.TRAINCTL_NODE_RECORD);
        if (problem) this.say(problem);
      } catch (err) {
        this.say(`node record not updated: ${message(err)}`);
      }
    }
    const claimed = await this.persist(() => this.store.claimAttempt(this.ref, t.attempt, t.nodeRank, `${this.host}:${process.pid}`));
    if (!claimed) {
      this.say(`attempt ${t.attempt} of ${t.trial}, node rank ${t.nodeRank}, is claimed by another runner; not starting it again`);
      return 0;
    }
    try {
      return await this.attempt();
    } catch (err) {
      return await this.crash(err);
    }
  }

  /**
   * Stops the attempt as a spot interruption or a SIGTERM does: the training code gets SIGTERM
   * and the grace period to write its final checkpoint, which is uploaded; the attempt ends
   * `interrupted`. A spot notice on one node of a multi-node attempt is noted in the store first,
   * so every other node stops too (peerInterruptions) and the group is replaced together.
   */
  interrupt(cause: 'signal' | 'spot-notice'): void {
    const t = this.task;
    if (cause === 'spot-notice' && t.nodes > 1 && !this.stopCause) {
      void this.persist(() => this.store.noteInterruption(this.ref, t.attempt, t.nodeRank))
        .catch((err: unknown) => this.say(`interruption not noted in the store: ${message(err)}`))
        .finally(() => this.requestStop(cause));
      return;
    }
    this.requestStop(cause);
  }

  /** Multi-node: another node was reclaimed, so this one stops as if it got the notice itself. */
  private async peerInterruptions(): Promise<void> {
    const t = this.task;
    if (this.stopCause || this.finishing) return;
    const ranks = await this.store.interruptedRanks(this.ref, t.attempt);
    const peer = ranks.find((r) => r !== t.nodeRank);
    if (peer !== undefined) {
      this.log.note(`node rank ${peer} of this attempt got a spot interruption notice: stopping with it`);
      this.requestStop('spot-notice');
    }
  }

  /** A failure of the runner itself: the attempt still ends, as `failed`, and nothing outlives it. */
  async crash(err: unknown): Promise<number> {
    if (this.crashed) return 1;
    this.crashed = true;
    this.error = `runner error: ${message(err)}`;
    this.say(err instanceof Error && err.stack ? err.stack : this.error);
    this.finishing = true;
    await this.group?.stop(Math.min(this.task.checkpoint.gracePeriodMs, 10_000));
    this.group?.release();
    await Promise.allSettled(this.loops.map((l) => l.stop()));
    this.state = 'failed';
    this.stopTimers();
    this.closed = true;
    if (this.leader) await this.writeStatus().catch((e: unknown) => this.say(`could not record the failure: ${message(e)}`));
    this.log.note(this.error);
    await this.log.flush();
    return 1;
  }

  private async attempt(): Promise<number> {
    const t = this.task;
    if (this.leader) {
      await this.persist(() => this.store.writeSpec(this.ref, {
        project: t.project, job: t.job, trial: t.trial, specHash: t.specHash, parameters: t.parameters, command: t.command,
      }));
      await this.writeStatus();
      const hb = setInterval(() => this.heartbeat(), t.heartbeatMs);
      this.timers.push(hb);
    }
    await this.startLimitTimer();
    if (!(await isDirectory(this.paths.workDir))) {
      this.error = `workDir ${this.paths.workDir} does not exist: the launcher prepares it before starting the runner`;
      return this.finish(undefined);
    }
    await mkdir(this.paths.checkpointDir, { recursive: true });
    if (t.data?.length) {
      try {
        for (const d of await stageData(t.data, this.paths.workDir, this.stopSignal.signal)) {
          this.log.note(`staged ${d.source} → ${d.target}: ${d.files} files, ${d.bytes} bytes in ${d.ms} ms`);
        }
      } catch (err) {
        if (this.stopCause) return this.finish(undefined);
        if (!(err instanceof StagingError)) throw err;
        this.error = err.message;
        return this.finish(undefined);
      }
    }
    await this.metricsTail.read(); // lines left by an earlier run in this work dir are not this attempt's

    if (t.resumeFromStep !== undefined) {
      const step = t.resumeFromStep;
      this.log.note(`restoring checkpoint ${step} into ${t.checkpoint.dir}`);
      try {
        const manifest = await this.persist(() => this.store.fetchCheckpoint(this.ref, step, this.paths.checkpointDir));
        const only = manifest.files.length === 1 ? manifest.files[0] : undefined;
        this.paths.resumeFrom = only ? join(this.paths.checkpointDir, only.path) : this.paths.checkpointDir;
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        this.error = err.message;
        return this.finish(undefined);
      }
    }
    if (this.leader && t.checkpoint.upload !== 'never') {
      if (t.checkpoint.compress === 'zstd' && !zstdAvailable()) this.log.note(`checkpoint.compress is zstd, which node ${process.version} lacks (node ≥ 22.15 has it): compressing with gzip`);
      this.watcher = new CheckpointWatcher(this.paths.checkpointDir, t.checkpoint.pattern, () => this.metrics.step);
      await this.watcher.baseline();
    }
    if (this.stopCause) return this.finish(undefined);

    const env = trainingEnv(t, this.paths, process.env);
    if (t.setup) {
      this.log.note(`setup: ${t.setup}`);
      const setup = await this.runGroup(t.setup, env, false);
      if (this.stopCause) return this.finish(setup);
      if (setup.code !== 0) {
        this.error = `setup exited with code ${setup.code}`;
        return this.finish(setup);
      }
    }
    const command = await this.launchCommand(withResumeArg(t.command, t.checkpoint.resumeArg, this.paths.resumeFrom), env);
    if (this.stopCause) return this.finish(undefined);

    this.state = 'running';
    this.heartbeat();
    if (t.nodes > 1) this.loops.push(new Loop(t.heartbeatMs, () => this.peerInterruptions(), (err) => this.say(`watching peers: ${message(err)}`)).start());
    if (this.leader) {
      const onError = (err: unknown) => this.say(`watching output: ${message(err)}`);
      this.loops.push(new Loop(POLL_MS, () => this.followMetricsFile(), onError).start());
      if (this.watcher && t.checkpoint.upload === 'on-save') this.loops.push(new Loop(POLL_MS, () => this.pollCheckpoints(), onError).start());
      if (JobWatch.wanted(t)) this.loops.push(new JobWatch(t, this.store, () => this.cost(new Date()), (cause) => this.requestStop(cause), (line) => this.log.note(line)).start());
    }
    this.log.note(`running: ${command}`);
    const exit = await this.runGroup(command, env, this.leader);
    return this.finish(exit);
  }

  /** The command as this node runs it: through torch.distributed.run when the job is distributed. */
  private async launchCommand(command: string, env: Record<string, string>): Promise<string> {
    const t = this.task;
    const plain = distributedCommand(command, t, false);
    if (!t.distributed) return command;
    if (!plain) {
      this.log.note('distributed job, but the command does not start with python or torchrun: running it as written; TRAINCTL_* variables give this node its place');
      return command;
    }
    const python = plain.python ?? torchrunPython(command.trim().split(/\s+/)[0]!, env, this.paths.workDir) ?? 'python3';
    if (!(await needsRedirectMap(python, env, this.paths.workDir))) return plain.command;
    this.log.note(`${python}: torch.distributed.run needs per-rank --redirects/--tee maps here (torch < 2 on Python ≥ 3.11)`);
    return distributedCommand(command, t, true)!.command;
  }

  private async runGroup(script: string, env: Record<string, string>, readMetrics: boolean): Promise<ExitStatus> {
    const lines = new LineSplitter();
    const started = ProcessGroup.start(script, {
      cwd: this.paths.workDir,
      env,
      watchdogGraceMs: this.task.checkpoint.gracePeriodMs,
      onOutput: (chunk, stream) => {
        const room = this.log.push(chunk);
        if (readMetrics && stream === 'stdout') for (const line of lines.push(chunk)) this.onLine(line);
        return room ? undefined : this.log.drained();
      },
    });
    if ('error' in started) {
      this.error = started.error;
      return { code: 127 };
    }
    this.group = started;
    // a stop that arrived while the group was being started
    if (this.stopCause) this.stopping = started.stop(this.task.checkpoint.gracePeriodMs);
    const exit = await started.exited;
    await (this.stopping ?? started.settle());
    if (readMetrics) for (const line of lines.end()) this.onLine(line);
    started.release();
    this.group = undefined;
    return exit;
  }

  private onLine(line: string): void {
    const sample = extractMetrics(line, this.patterns);
    if (sample) this.metrics.record(sample);
  }

  private async followMetricsFile(): Promise<void> {
    for (const line of await this.metricsTail.read()) this.onLine(line);
    await this.metrics.flush().catch((err: unknown) => this.say(`metrics not written: ${message(err)}`));
  }

  private async pollCheckpoints(): Promise<void> {
    for (const group of await this.watcher!.poll()) await this.upload(group);
  }

  /** One store checkpoint, then keep-last-N. A failed upload costs this checkpoint, not the attempt. */
  private async upload(group: CheckpointGroup): Promise<void> {
    const t = this.task;
    try {
      await this.persist(() => this.store.putCheckpoint(this.ref, group.step, t.attempt, this.paths.checkpointDir, group.files, t.checkpoint.compress ? { compress: t.checkpoint.compress } : {}));
      this.log.note(`checkpoint ${group.step} uploaded (${group.files.join(', ')})`);
      const steps = await this.persist(() => this.store.listCheckpoints(this.ref));
      for (const old of checkpointsToPrune(steps, t.checkpoint.keepLastN)) await this.persist(() => this.store.deleteCheckpoint(this.ref, old));
    } catch (err) {
      this.log.note(`checkpoint ${group.step} not uploaded: ${message(err)}`);
    }
  }

  private requestStop(cause: StopCause): void {
    if (this.stopCause || this.finishing) return;
    this.stopCause = cause;
    this.stopSignal.abort();
    const grace = this.task.checkpoint.gracePeriodMs;
    const why = { 'max-duration': 'maxDuration reached', 'signal': 'stop requested', 'spot-notice': 'spot interruption notice', 'early-stopping': 'early-stopped', 'cost-limit': 'limits.costUSD reached' }[cause];
    this.log.note(`${why}: SIGTERM to the training processes, up to ${grace} ms to finish`);
    if (this.group) this.stopping = this.group.stop(grace);
  }

  private async startLimitTimer(): Promise<void> {
    const t = this.task;
    const { maxDurationMs, onExceed } = t.limits;
    if (maxDurationMs === undefined) return;
    // maxDuration bounds the trial over all its attempts under this spec: a resumed trial gets what is left
    const rec = await this.persist(() => this.store.readTrial(this.ref)).catch(() => undefined);
    const ranMs = (rec?.attempts ?? []).filter((a) => a.specHash === t.specHash && a.n !== t.attempt)
      .reduce((ms, a) => ms + Math.max(0, Date.parse(a.updatedAt) - Date.parse(a.startedAt)), 0);
    const timer = setTimeout(() => {
      if (onExceed === 'stop') this.requestStop('max-duration');
      else this.log.note(`maxDuration (${maxDurationMs} ms) exceeded; onExceed is warn, so training goes on`);
    }, Math.max(0, maxDurationMs - ranMs));
    this.timers.push(timer);
  }

  /** Collects the last output and checkpoints, then records the outcome. */
  private async finish(exit: ExitStatus | undefined): Promise<number> {
    const t = this.task;
    // crash() has recorded the end already; nothing may overwrite it
    if (this.crashed) return 1;
    this.finishing = true;
    await Promise.all(this.loops.map((l) => l.stop()));
    if (this.leader) {
      for (const line of [...(await this.metricsTail.read()), ...this.metricsTail.rest()]) this.onLine(line);
      // what the code wrote while stopping (or at its end) is the checkpoint a resume needs
      if (this.watcher && exit) for (const group of await this.watcher.final(t.checkpoint.upload === 'on-exit')) await this.upload(group);
      await this.metrics.flush();
    }
    this.exitCode = exit?.code;
    // a peer's reclaim ends the others' training before they see its note (a broken collective,
    // or a stop all ranks agreed on): that end is the interruption, not a failure or a success
    if (!this.stopCause && !this.error && t.nodes > 1 && exit) {
      const ranks = await this.persist(() => this.store.interruptedRanks(this.ref, t.attempt)).catch(() => []);
      if (ranks.length > 0) this.stopCause = 'spot-notice';
    }
    // a runner-side error (bad checkpoint, missing work dir) fails the attempt even when a stop came too
    this.state = this.error ? 'failed'
      : this.stopCause === 'max-duration' || this.stopCause === 'cost-limit' ? 'stopped'
      : this.stopCause === 'early-stopping' ? 'early-stopped'
      : this.stopCause ? 'interrupted'
      : exit?.code === 0 ? 'succeeded'
      : 'failed';
    if (this.crashed) return 1;
    this.stopTimers();
    this.closed = true;
    if (this.leader) {
      // result before status: a reader that sees the final state also sees the result
      if (this.state === 'succeeded' || this.state === 'stopped' || this.state === 'early-stopped') {
        const result = await this.result(this.state);
        await this.persist(() => this.store.writeResult(this.ref, result));
      }
      await this.writeStatus();
    }
    this.log.note(`attempt ${t.attempt} ${this.state}${this.exitCode === undefined ? '' : ` (exit code ${this.exitCode})`}${this.error ? `: ${this.error}` : ''}`);
    await this.log.flush();
    if (this.error) this.say(this.error);
    return this.state === 'failed' ? 1 : 0;
  }

  /** The trial's summary over every attempt under this specHash. */
  private async result(state: 'succeeded' | 'stopped' | 'early-stopped'): Promise<TrialResult> {
    const t = this.task;
    const now = new Date();
    const rec = await this.persist(() => this.store.readTrial(this.ref));
    const earlier = (rec?.attempts ?? []).filter((a) => a.specHash === t.specHash && a.n !== t.attempt);
    const ours = new Set([t.attempt, ...earlier.map((a) => a.n)]);
    const points = (await this.persist(() => this.store.readMetrics(this.ref))).filter((p) => ours.has(p.attempt));
    const summary = summarizeMetrics(points, t.metrics.objective);
    const durationMs = earlier.reduce((s, a) => s + Math.max(0, Date.parse(a.updatedAt) - Date.parse(a.startedAt)), now.getTime() - this.startedAt.getTime());
    const costUSD = earlier.reduce((s, a) => s + a.costUSD, this.cost(now));
    return {
      state, specHash: t.specHash, finishedAt: now.toISOString(), attempt: t.attempt, durationMs, costUSD,
      ...(this.stopCause === 'max-duration' || this.stopCause === 'cost-limit' ? { stopReason: this.stopCause } : {}),
      ...(this.exitCode === undefined ? {} : { exitCode: this.exitCode }),
      finalMetrics: summary.finalMetrics,
      ...(summary.best ? { best: summary.best } : {}),
    };
  }

  /** Every node of the attempt runs as long as rank 0, so rank 0 accounts for all of them. */
  private cost(now: Date): number {
    return (this.task.pricePerHour * this.task.nodes * (now.getTime() - this.startedAt.getTime())) / 3_600_000;
  }

  private status(): AttemptRecord & Record<string, unknown> {
    const t = this.task;
    const now = new Date();
    return {
      n: t.attempt, specHash: t.specHash, state: this.state, step: this.metrics.step,
      startedAt: this.startedAt.toISOString(), updatedAt: now.toISOString(), costUSD: this.cost(now),
      ...(this.exitCode === undefined ? {} : { exitCode: this.exitCode }),
      metrics: { ...this.metrics.latest },
      nodeRank: t.nodeRank, host: this.host, pid: process.pid,
      ...(this.group ? { childPid: this.group.pid } : {}),
      ...(t.resumeFromStep === undefined ? {} : { resumedFromStep: t.resumeFromStep }),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** Writes status.json now, after any write already queued; the content is taken when it runs. */
  private writeStatus(): Promise<void> {
    const write = this.statusWrites.then(() => this.persist(() => this.store.writeStatus(this.ref, this.status())));
    this.statusWrites = write.catch(() => {});
    return write;
  }

  /** A periodic heartbeat (also while final uploads run); skipped while one is being written, never after the end. */
  private heartbeat(): void {
    if (!this.leader || this.statusPending || this.closed) return;
    this.statusPending = true;
    this.writeStatus()
      .catch((err: unknown) => this.say(`heartbeat not written: ${message(err)}`))
      .finally(() => { this.statusPending = false; });
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /** A store call, retried with backoff while the failure may pass; a bad checkpoint never will. */
  private persist<T>(fn: () => Promise<T>): Promise<T> {
    const { storeRetries, backoff } = this.options;
    return withRetry(fn, {
      retries: storeRetries,
      backoff,
      isTransient: (err) => !(err instanceof CheckpointError),
      onRetry: (err, n, delay) => this.say(`store: ${message(err)}; retry ${n}/${storeRetries} in ${delay} ms`),
    });
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
