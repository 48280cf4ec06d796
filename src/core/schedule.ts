// When a scheduled or triggered job runs: which slot is due now, which slots' trials are wanted,
// and what the concurrency policy makes of a new run beside an older one. Pure; the cron times
// come in through `CronTimes` so that cron-parser (and luxon behind it) is loaded only by the
// engine, and only for jobs that have a schedule.
import type { Action, DesiredTrial } from './plan.js';

/**
 * A slot is the UTC minute a run belongs to, `YYYYMMDDtHHMM`: it sorts as time does, is a valid
 * store path component, and keeps `<job(40)>-<8 hex>-<slot>` within 63 characters.
 */
export type Slot = string;

export const SLOT_PATTERN = /^\d{8}t\d{4}$/;

export function slotOf(t: Date): Slot {
  const iso = t.toISOString(); // 2026-11-25T02:00:13.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}t${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

export function slotTime(slot: Slot): Date {
  return new Date(`${slot.slice(0, 4)}-${slot.slice(4, 6)}-${slot.slice(6, 8)}T${slot.slice(9, 11)}:${slot.slice(11, 13)}:00Z`);
}

/** `2026-11-25 02:00 UTC`, for plans and warnings. */
export function slotText(slot: Slot): string {
  return `${slot.slice(0, 4)}-${slot.slice(4, 6)}-${slot.slice(6, 8)} ${slot.slice(9, 11)}:${slot.slice(11, 13)} UTC`;
}

/** The id of a trial of a scheduled job: its unscheduled id with the slot appended. */
export const slotTrialId = (baseId: string, slot: Slot): string => `${baseId}-${slot}`;

/** The slot a trial id of `job` belongs to, or undefined for an unscheduled trial's id. */
export function slotOfTrialId(job: string, id: string): Slot | undefined {
  if (!id.startsWith(`${job}-`)) return undefined;
  const m = /^[0-9a-f]{8}-(\d{8}t\d{4})$/.exec(id.slice(job.length + 1));
  return m ? m[1] : undefined;
}

/** The cron expression's fire times after a moment, in its time zone (cron-parser's `next()`). */
export interface CronTimes {
  /** The first fire time strictly after `t`, or undefined when there is none. */
  nextAfter(t: Date): Date | undefined;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/**
 * Windows searched backwards for the latest fire time: a fire time is found in the smallest
 * window that holds one, so an every-minute cron costs a few steps and a leap-day cron still
 * resolves. Only `nextAfter` is used, never a backwards iterator: cron-parser's `prev()` skips a
 * spring-forward day that `next()` keeps (02:00 in a zone where 02:00 does not exist runs at 03:00).
 */
const WINDOWS = [2 * 60 * MINUTE, 2 * DAY, 32 * DAY, 367 * DAY, 8 * 366 * DAY];

/** The latest fire time at or before `now`. */
export function latestFireTime(cron: CronTimes, now: Date): Date | undefined {
  for (const w of WINDOWS) {
    let t = cron.nextAfter(new Date(now.getTime() - w));
    let latest: Date | undefined;
    while (t && t.getTime() <= now.getTime()) {
      latest = t;
      t = cron.nextAfter(t);
    }
    if (latest) return latest;
  }
  return undefined;
}

/** The newest object under a trigger's prefix that matches its pattern. */
export interface TriggerObject { key: string; etag: string; lastModified: Date }

export interface ScheduleInput {
  now: Date;
  cron?: { times: CronTimes; startingDeadlineMs?: number };
  /** Present when the job has an S3 trigger: the newest matching object, if any. */
  trigger?: { newest?: TriggerObject };
  /** Slots that have a run: any trial of the job with that slot in the store or live. */
  ran: readonly Slot[];
  /** Slots that have a live resource. */
  live: readonly Slot[];
}

export interface ScheduleDecision {
  /** The slot that starts a new run now. */
  due?: { slot: Slot; by: 'cron' | 's3'; object?: string };
  /** Slots whose trials are wanted, oldest first: every live one, the latest that ran, and the due one. */
  slots: Slot[];
  /** The next cron fire time after now. */
  next?: Date;
  /** A fire time that will not run: it missed its startingDeadline. */
  missed?: { slot: Slot; late: number };
}

/**
 * Only the latest fire time at or before now is ever a candidate, so a missed tick is never made
 * up more than once, and a slot is done once any run exists at or after it: a run started for new
 * data at 02:10 also stands for the 02:00 cron tick it followed, and the other way round. A new
 * job's latest slot runs at once when it is within startingDeadline (no deadline: until the
 * next tick); set a deadline to keep a job added at noon from running its 02:00 slot.
 */
export function decideSchedule(input: ScheduleInput): ScheduleDecision {
  const ran = [...new Set(input.ran)].sort();
  const newestRun = ran.at(-1);
  const done = (slot: Slot) => newestRun !== undefined && newestRun >= slot;
  let due: ScheduleDecision['due'];
  let missed: ScheduleDecision['missed'];
  let next: Date | undefined;
  if (input.cron) {
    const fired = latestFireTime(input.cron.times, input.now);
    next = input.cron.times.nextAfter(input.now);
    if (fired && !done(slotOf(fired))) {
      const late = input.now.getTime() - fired.getTime();
      const deadline = input.cron.startingDeadlineMs;
      if (deadline === undefined || late <= deadline) due = { slot: slotOf(fired), by: 'cron' };
      else missed = { slot: slotOf(fired), late };
    }
  }
  const newest = input.trigger?.newest;
  if (newest) {
    // data written "in the future" by a skewed clock still starts a run, in the slot of now
    const slot = slotOf(newest.lastModified.getTime() > input.now.getTime() ? input.now : newest.lastModified);
    if (!done(slot) && (!due || slot > due.slot)) due = { slot, by: 's3', object: newest.key };
  }
  const slots = new Set(input.live);
  if (newestRun !== undefined) slots.add(newestRun);
  if (due) slots.add(due.slot);
  return { ...(due ? { due } : {}), slots: [...slots].sort(), ...(next ? { next } : {}), ...(missed && !due ? { missed } : {}) };
}

export type ConcurrencyPolicy = 'Allow' | 'Forbid' | 'Replace';

const LAUNCHING = new Set(['create', 'resume', 'retry', 'replace']);

/**
 * Applies a job's concurrencyPolicy to its decided actions (`actions[i]` is `trials[i]`'s). The
 * newest slot is the current run; older slots' trials are wanted only while they still run.
 * Forbid: the current run waits while an older one has a trial live or still to launch (as a
 * Kubernetes CronJob, the slot is skipped if that outlasts its startingDeadline: it then stops
 * being due). Replace: older runs' live trials are stopped and their pending launches dropped.
 * Allow: both go on, sharing maxParallel. Rewrites `actions` in place.
 */
export function applyConcurrency(actions: Action[], trials: readonly DesiredTrial[], policy: ConcurrencyPolicy | undefined): void {
  if (!policy || policy === 'Allow') return;
  const current = newestSlot(trials);
  if (current === undefined) return;
  const older = (i: number) => trials[i]!.slot !== undefined && trials[i]!.slot! < current;
  const isLive = (a: Action) => (a.resources?.length ?? 0) > 0;
  if (policy === 'Forbid') {
    if (!actions.some((a, i) => older(i) && (isLive(a) || LAUNCHING.has(a.kind) || a.kind === 'wait'))) return;
    actions.forEach((a, i) => {
      if (!older(i) && LAUNCHING.has(a.kind) && !isLive(a)) actions[i] = { ...a, kind: 'wait', reason: 'schedule-forbid' };
    });
    return;
  }
  actions.forEach((a, i) => {
    if (!older(i)) return;
    const { attempt: _attempt, previousSpecHash: _previous, resumeFromStep: _step, ...rest } = a;
    if (isLive(a) && a.kind !== 'stop') actions[i] = { ...rest, kind: 'stop', reason: 'schedule-replaced' };
    else if (!isLive(a) && (LAUNCHING.has(a.kind) || a.kind === 'wait')) actions[i] = { ...rest, kind: 'noop', reason: 'schedule-replaced' };
  });
}

/** The newest slot among a job's trials: the run that is current. */
export function newestSlot(trials: readonly DesiredTrial[]): Slot | undefined {
  let newest: Slot | undefined;
  for (const t of trials) if (t.slot !== undefined && (newest === undefined || t.slot > newest)) newest = t.slot;
  return newest;
}

/** Whether a trial belongs to its job's current run (always, for an unscheduled job). */
export const inCurrentRun = (t: DesiredTrial, current: Slot | undefined): boolean => t.slot === undefined || t.slot === current;
