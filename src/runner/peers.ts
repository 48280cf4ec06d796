// The runner's view of its job: the other trials' spend and objective curves, read from the store,
// so that limits.costUSD and metrics.earlyStopping hold with no CLI running. Node rank 0 watches;
// the decisions themselves are core/early-stopping and a sum.
import { medianStoppingVerdict, type Series } from '../core/early-stopping.js';
import type { TrialRecord } from '../core/observed.js';
import type { RunStore, TrialRef } from '../store/store.js';
import type { RunnerTask } from './task.js';

/** Why the watch asks its attempt to stop. */
export type JobStopCause = 'early-stopping' | 'cost-limit';

const jobRecords = async (store: RunStore, ref: TrialRef): Promise<TrialRecord[]> =>
  (await store.readRecords(ref.project)).filter((r) => r.job === ref.job);

/** The job's spend apart from one attempt, and how fast the other running attempts add to it. */
export interface JobSpend {
  usd: number;
  /** USD per ms the other running attempts accrue. */
  perMs: number;
}

/**
 * What the job has spent, every trial and attempt but `attempt` of `ref` itself. A running
 * attempt's last heartbeat is up to a heartbeat old, so its spend is carried forward at its own
 * rate to `now`, for at most `staleMs` (a runner that stopped writing may be gone).
 */
export async function jobSpendExcept(store: RunStore, ref: TrialRef, attempt: number, now: Date, staleMs: number): Promise<JobSpend> {
  let usd = 0;
  let perMs = 0;
  for (const r of (await jobRecords(store, ref)).sort((a, b) => (a.trial < b.trial ? -1 : 1))) {
    for (const a of r.attempts) {
      if (r.trial === ref.trial && a.n === attempt) continue;
      usd += a.costUSD;
      if (a.state !== 'running' && a.state !== 'starting') continue;
      const ran = Date.parse(a.updatedAt) - Date.parse(a.startedAt);
      if (!(ran > 0) || a.costUSD <= 0) continue;
      const rate = a.costUSD / ran;
      usd += rate * Math.min(staleMs, Math.max(0, now.getTime() - Date.parse(a.updatedAt)));
      perMs += rate;
    }
  }
  return { usd, perMs };
}

/**
 * The objective over steps of this trial and of each other trial of the job, from metrics.jsonl,
 * counting only the attempts of each trial's current spec (an old spec's curve says nothing).
 */
export async function objectiveCurves(store: RunStore, ref: TrialRef, specHash: string, metric: string): Promise<{ own: Series; peers: Series[] }> {
  const records = await jobRecords(store, ref);
  const curve = async (r: TrialRecord, hash: string): Promise<Series> => {
    const ours = new Set(r.attempts.filter((a) => a.specHash === hash).map((a) => a.n));
    const points = await store.readMetrics({ project: r.project, job: r.job, trial: r.trial });
    return points
      .filter((p) => ours.has(p.attempt) && p.values[metric] !== undefined)
      .map((p) => ({ step: p.step, value: p.values[metric]! }))
      // stable: of two points at one step (a resumed attempt redoing it), the later one wins
      .sort((a, b) => a.step - b.step);
  };
  const self = records.find((r) => r.trial === ref.trial);
  const [own, peers] = await Promise.all([
    self ? curve(self, specHash) : Promise.resolve([]),
    Promise.all(records.filter((r) => r.trial !== ref.trial).map((r) => curve(r, r.specHash))),
  ]);
  return { own, peers };
}

/**
 * Checks, every heartbeat, the job's total spend against limits.costUSD and this trial against its
 * peers (median rule). Between heartbeats a timer stops the trial when the job's spend, at the
 * rates last seen, reaches the limit: so it stops at the limit, not up to a heartbeat past it.
 */
export class JobWatch {
  private timer: NodeJS.Timeout | undefined;
  private limitTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private warned = false;

  constructor(
    private readonly task: RunnerTask,
    private readonly store: RunStore,
    /** This attempt's spend so far (all its nodes). */
    private readonly ownCost: () => number,
    private readonly requestStop: (cause: JobStopCause) => void,
    private readonly note: (line: string) => void,
  ) {}

  /** Whether the task asks for anything to be watched. */
  static wanted(t: RunnerTask): boolean {
    return (t.limits.costLimitUSD !== undefined && t.pricePerHour > 0) || (t.metrics.earlyStopping !== undefined && t.metrics.objective !== undefined);
  }

  start(): this {
    const tick = () => {
      this.running = this.check().catch((err: unknown) => this.note(`watching the job: ${err instanceof Error ? err.message : String(err)}`)).finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.task.heartbeatMs);
      });
    };
    this.timer = setTimeout(tick, Math.min(this.task.heartbeatMs, 1000));
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.limitTimer);
    await this.running;
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    const t = this.task;
    if (t.limits.costLimitUSD !== undefined && t.pricePerHour > 0) await this.checkSpend(t.limits.costLimitUSD);
    if (!this.stopped && t.metrics.earlyStopping && t.metrics.objective) await this.checkPeers(t.metrics.earlyStopping, t.metrics.objective);
  }

  private async checkSpend(limit: number): Promise<void> {
    const t = this.task;
    const others = await jobSpendExcept(this.store, { project: t.project, job: t.job, trial: t.trial }, t.attempt, new Date(), 3 * t.heartbeatMs);
    if (this.overLimit(others.usd, limit)) return;
    // between heartbeats, stop at the moment the job's spend is due to reach the limit
    const perMs = (t.pricePerHour * t.nodes) / 3_600_000 + others.perMs;
    const read = Date.now();
    const eta = (limit - others.usd - this.ownCost()) / perMs;
    clearTimeout(this.limitTimer);
    this.limitTimer = setTimeout(() => {
      if (!this.stopped) this.overLimit(others.usd + others.perMs * (Date.now() - read), limit);
    }, Math.min(Math.max(0, Math.ceil(eta)), 2 * t.heartbeatMs));
  }

  /** True when the job's spend has reached the limit (and, with onExceed stop, the stop is asked for). */
  private overLimit(others: number, limit: number): boolean {
    const total = others + this.ownCost();
    if (total < limit) return false;
    if (this.task.limits.onExceed === 'stop') {
      this.note(`the job has spent $${total.toFixed(4)} of its limits.costUSD $${limit.toFixed(2)}: stopping this trial`);
      this.stopped = true;
      this.requestStop('cost-limit');
    } else if (!this.warned) {
      this.warned = true;
      this.note(`the job has spent $${total.toFixed(4)}, past its limits.costUSD $${limit.toFixed(2)}; onExceed is warn, so training goes on`);
    }
    return true;
  }

  private async checkPeers(rule: NonNullable<RunnerTask['metrics']['earlyStopping']>, objective: NonNullable<RunnerTask['metrics']['objective']>): Promise<void> {
    const t = this.task;
    const { own, peers } = await objectiveCurves(this.store, { project: t.project, job: t.job, trial: t.trial }, t.specHash, objective.metric);
    const v = medianStoppingVerdict(rule, objective.goal, own, peers);
    if (!v.stop || this.stopped) return;
    this.note(`early stopping: ${objective.metric} ${v.value} at step ${v.step} is ${objective.goal === 'minimize' ? 'above' : 'below'} the median ${v.median} of ${v.peers} peers`);
    this.stopped = true;
    this.requestStop('early-stopping');
  }
}
