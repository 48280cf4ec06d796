// The effectful half of schedules: cron times from cron-parser (loaded only when a spec has a
// schedule: it brings luxon), the newest object under each S3 trigger's prefix, and the slots each
// scheduled job's runs have, read off the observed world. core/schedule.ts decides from these.
import { fileURLToPath } from 'node:url';
import type * as CronParser from 'cron-parser';
import { parseDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import { globToRegExp } from '../core/glob.js';
import type { Observed } from '../core/observed.js';
import type { JobSchedule } from '../core/plan.js';
import { decideSchedule, slotOfTrialId, slotText, type CronTimes, type Slot, type TriggerObject } from '../core/schedule.js';
import type { Job } from '../spec/types.js';

type CronParserModule = typeof CronParser;

export interface JobSlots {
  /** Runs whose trials are wanted, oldest first. */
  slots: Slot[];
  schedule: JobSchedule;
  warnings: string[];
}

const key = (project: string, job: string) => `${project}/${job}`;
export const isScheduled = (job: Job): boolean => job.spec.schedule !== undefined || job.spec.triggers !== undefined;

/**
 * A wall-clock time that happens twice when clocks fall back fires once, at its first occurrence,
 * as Vixie cron does for jobs with a fixed hour (a `*` hour fires every real hour). cron-parser
 * alone returns the second occurrence or not depending on where the search starts, which would
 * make the same night's run due twice.
 */
export async function cronTimes(expr: string, tz: string): Promise<CronTimes> {
  // bundled by esbuild, cron-parser's CommonJS exports arrive on `default`; under node they are named
  const mod = await import('cron-parser') as CronParserModule & { default?: Partial<CronParserModule> };
  const CronExpressionParser = mod.CronExpressionParser ?? mod.default?.CronExpressionParser;
  if (!CronExpressionParser) throw new Error('cron-parser has no CronExpressionParser export');
  const it = CronExpressionParser.parse(expr, { tz });
  const everyHour = (expr.trim().split(/\s+/)[1] ?? '').startsWith('*');
  const wall = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  const repeated = (t: Date) => [30, 60].some((m) => wall.format(new Date(t.getTime() - m * 60_000)) === wall.format(t));
  const next = (t: Date): Date | undefined => {
    try {
      it.reset(t);
      return it.next().toDate();
    } catch {
      return undefined; // no further fire time (cron-parser throws past its search limit)
    }
  };
  return {
    nextAfter(t: Date): Date | undefined {
      let n = next(t);
      while (n && !everyHour && repeated(n)) n = next(n);
      return n;
    },
  };
}

/** An object under a trigger's prefix, key relative to the prefix. */
interface Listed { rel: string; etag: string; lastModified: Date }

/** The newest object under each triggered job's prefix that matches its pattern. */
export async function observeTriggers(jobs: readonly Job[], env: NodeJS.ProcessEnv = process.env): Promise<Map<string, TriggerObject | undefined>> {
  const out = new Map<string, TriggerObject | undefined>();
  await Promise.all(jobs.filter((j) => j.spec.triggers).map(async (job) => {
    const { prefix, pattern } = job.spec.triggers!.s3;
    const listed = await listPrefix(prefix, env);
    out.set(key(job.project, job.name), newestMatching(listed, pattern, prefix));
  }));
  return out;
}

/** Pure: the newest listed object whose relative key matches the glob (ties: the greatest key). */
export function newestMatching(listed: readonly Listed[], pattern: string, prefix: string): TriggerObject | undefined {
  const re = globToRegExp(pattern);
  let best: Listed | undefined;
  for (const o of listed) {
    if (!re.test(o.rel)) continue;
    if (!best || o.lastModified.getTime() > best.lastModified.getTime() || (o.lastModified.getTime() === best.lastModified.getTime() && o.rel > best.rel)) best = o;
  }
  return best && { key: `${prefix.replace(/\/?$/, '/')}${best.rel}`, etag: best.etag, lastModified: best.lastModified };
}

async function listPrefix(prefix: string, env: NodeJS.ProcessEnv): Promise<Listed[]> {
  const { createS3Client, listObjects, parseS3Uri, walkLocalTree } = await import('../transfer/index.js');
  if (prefix.startsWith('file://')) {
    const root = fileURLToPath(prefix);
    try {
      const { files } = await walkLocalTree(root);
      return files.map((f) => ({ rel: f.rel, etag: '', lastModified: new Date(f.mtimeMs) }));
    } catch (err) {
      // no directory yet: no data yet, like an empty S3 prefix
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
  const loc = parseS3Uri(prefix);
  if ('error' in loc) throw new ExitError(`triggers.s3.prefix: ${loc.error}`, 1, loc.hint);
  const dir = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
  const client = createS3Client({ env });
  try {
    const listed: Listed[] = [];
    for await (const o of listObjects(client, { ...loc, key: dir })) listed.push({ rel: o.key.slice(dir.length), etag: o.etag, lastModified: o.lastModified });
    return listed;
  } catch (err) {
    throw new ExitError(`cannot list the trigger prefix ${prefix}: ${(err as Error).message}`, 1, 'check the prefix and the credentials that can list it');
  } finally {
    client.destroy();
  }
}

/** For each scheduled or triggered job: its runs' slots and what is due now. */
export async function scheduleJobs(jobs: readonly Job[], observed: Observed, triggers: ReadonlyMap<string, TriggerObject | undefined>, now: Date): Promise<Map<string, JobSlots>> {
  const out = new Map<string, JobSlots>();
  for (const job of jobs) {
    if (!isScheduled(job)) continue;
    const k = key(job.project, job.name);
    const mine = (r: { project: string; job: string }) => r.project === job.project && r.job === job.name;
    const slotsOf = (ids: string[]) => ids.flatMap((id) => slotOfTrialId(job.name, id) ?? []);
    const ran = slotsOf([...observed.records.filter(mine).map((r) => r.trial), ...observed.resources.filter(mine).map((r) => r.trial)]);
    const live = slotsOf(observed.resources.filter(mine).map((r) => r.trial));
    const s = job.spec.schedule;
    const deadline = s?.startingDeadline !== undefined ? parseDuration(s.startingDeadline) : undefined;
    const decision = decideSchedule({
      now, ran, live,
      ...(s ? { cron: { times: await cronTimes(s.cron, s.timezone), ...(deadline !== undefined ? { startingDeadlineMs: deadline } : {}) } } : {}),
      ...(job.spec.triggers ? { trigger: { ...(triggers.get(k) ? { newest: triggers.get(k)! } : {}) } } : {}),
    });
    const warnings: string[] = [];
    if (decision.missed) {
      warnings.push(`job ${job.name}: the run of ${slotText(decision.missed.slot)} missed its startingDeadline ${s!.startingDeadline} and is skipped`);
    }
    out.set(k, {
      slots: decision.slots,
      schedule: {
        concurrencyPolicy: s?.concurrencyPolicy ?? job.spec.triggers?.concurrencyPolicy ?? 'Forbid',
        ...(decision.due ? { due: decision.due } : {}),
        ...(decision.next ? { next: decision.next.toISOString() } : {}),
      },
      warnings,
    });
  }
  return out;
}
