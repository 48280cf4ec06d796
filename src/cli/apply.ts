// `trainctl apply`: plan (or read a saved plan), show it, confirm, carry it out; with --wait, keep
// reconciling until every trial has settled, with live progress and a closing summary.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Listr } from 'listr2';
import { parseDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import { hasChanges, type Plan, type PlanOptions } from '../core/plan.js';
import { applyUntilSettled, executePlan, outcomeText, replanChecked, shownMetric, type ActionOutcome, type TrialProgress } from '../engine/apply.js';
import { takeLocks, type ProjectLocks } from '../engine/lock.js';
import { planJobs, type PlanResult } from '../engine/planning.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import type { PlanJson } from '../render/plan-json.js';
import { renderPlanText } from '../render/plan-text.js';
import { progressKey, progressLine, trainingSummary } from '../render/progress.js';
import type { Job } from '../spec/types.js';
import type { CommandContext } from './commands.js';
import { clockOf, confirmOrRefuse, loadJobs, trainctlHome } from './shared.js';

const DEFAULT_INTERVAL = '2s';

export async function run(ctx: CommandContext): Promise<number> {
  // the project's lock is taken before planning, so a run that waited for it plans the world the
  // holder left behind (and finds nothing left to do), never a plan made before it
  let locks: ProjectLocks | undefined;
  try {
    const source = await planSource(ctx, async (jobs, inputs) => {
      locks = await takeLocks(jobs, { command: 'apply', lockTimeout: ctx.values['lock-timeout'] as string | undefined, env: ctx.env, inputs, stderr: ctx.stderr });
    });
    if (!source) return 1;
    return await carryOut(ctx, source, locks);
  } finally {
    await locks?.release();
  }
}

/** Shows the plan, confirms, and applies it once or (with --wait) until every trial settles. */
export async function carryOut(ctx: CommandContext, source: PlanSource, locks?: ProjectLocks): Promise<number> {
  const wait = Boolean(ctx.values.wait);
  const intervalMs = parseInterval(ctx.values.interval as string | undefined, wait);
  const env = { home: trainctlHome(ctx.env) };
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  const tty = Boolean(ctx.stdout.isTTY);
  const started = Date.now();
  const { jobs, options } = source;
  let pr = source.fresh;
  const plan = source.saved ?? pr.plan;

  ctx.stdout.write(renderPlanText(plan, c));
  refuseOverBudget(plan, Boolean(ctx.values['allow-over-budget']));
  const pending = hasChanges(plan) || (wait && plan.summary.wait > 0);
  if (!pending && !wait) return 0;

  if (pending && !ctx.values.yes) {
    await confirmOrRefuse(ctx, 'apply', `\n${c.bold('Apply these changes?')} [y/N] `);
    // the world may have moved while the question was open; the answer was about this plan
    pr = await replanChecked({ observedDigest: plan.observedDigest, desiredDigest: pr.desiredDigest }, jobs, env, options, clockOf(ctx));
  }
  ctx.stdout.write('\n');

  if (!wait) {
    locks?.assertHeld();
    const outcomes = await executePlan(plan, { jobs, trials: pr.trials, resources: pr.observed.resources, records: pr.observed.records, env }, {
      renderer: tty ? 'default' : 'silent',
      ...(tty ? {} : { onOutcome: (o: ActionOutcome) => ctx.stdout.write(`${outcomeText(o)}\n`) }),
    });
    ctx.stdout.write(`\n${applySummary(outcomes, c)}\n`);
    return reportFailures(ctx, outcomes.filter((o) => o.kind === 'failed'));
  }

  const first: PlanResult = source.saved ? { ...pr, plan: source.saved } : pr;
  const board = tty ? new TrialBoard(first.plan.actions.map((a) => a.trial), c) : undefined;
  const printed = new Map<string, string>();
  const idWidth = Math.max(0, ...first.plan.actions.map((a) => a.trial.length));
  const result = await applyUntilSettled({
    jobs, trials: pr.trials, env, options, intervalMs, first,
    renderer: 'silent',
    ...(locks ? { beforePass: () => locks.assertHeld() } : {}),
    ...(tty ? {} : { onOutcome: (o: ActionOutcome) => ctx.stdout.write(`${outcomeText(o)}\n`) }),
    onProgress: (progress) => {
      if (board) return board.update(progress);
      // a plain log gets a line when a trial's state changes, not on every heartbeat
      for (const p of progress) {
        const k = progressKey(p);
        if (printed.get(p.trial) === k || p.phase === 'launching' || p.phase === 'starting') continue;
        printed.set(p.trial, k);
        ctx.stdout.write(`${progressLine(p, c, idWidth)}\n`);
      }
    },
  }).finally(() => board?.close());

  ctx.stdout.write('\n');
  const elapsedMs = Date.now() - started;
  const named = result.last.plan.jobs.length > 1;
  for (const job of result.last.plan.jobs) {
    const progress = result.progress.filter((p) => p.project === job.project && p.job === job.job);
    const spec = jobs.find((j) => j.project === job.project && j.name === job.job);
    const goal = progress.map((p) => shownMetric(spec, p.report)).find((m) => m)?.goal ?? 'minimize';
    ctx.stdout.write(`${trainingSummary({ job, progress, goal, elapsedMs }, named)}\n`);
  }
  if (reportFailures(ctx, result.failures) !== 0) return 1;
  return result.progress.some((p) => p.failed) ? 1 : 0;
}

export interface PlanSource {
  jobs: Job[];
  options: PlanOptions;
  /** The plan as made now: for a saved plan, the check that nothing moved. */
  fresh: PlanResult;
  /** A saved plan, applied exactly as saved. */
  saved?: Plan;
}

/** Specs from -f, or a saved plan whose specs and world are checked to be what it was made from. */
async function planSource(ctx: CommandContext, beforePlan?: (jobs: Job[], inputs: string[]) => Promise<void>): Promise<PlanSource | undefined> {
  const env = { home: trainctlHome(ctx.env) };
  if (ctx.positionals.length > 1) throw new ExitError('apply takes at most one saved plan', 1, 'see `trainctl apply --help`');
  const path = ctx.positionals[0];
  if (path === undefined) {
    const { jobs, ok, inputs } = loadJobs(ctx);
    if (!ok) return undefined;
    await beforePlan?.(jobs, inputs);
    const options = { prune: Boolean(ctx.values.prune) };
    return { jobs, options, fresh: await planJobs(jobs, env, options, clockOf(ctx)) };
  }
  if (ctx.values.file) throw new ExitError('give either a saved plan or -f, not both', 1, 'a saved plan names its own spec files');
  if (ctx.values.prune) throw new ExitError('--prune does not apply to a saved plan', 1, 'pass --prune to `trainctl plan --out` instead');
  const saved = readSavedPlan(resolve(ctx.cwd, path), path);
  const { jobs, ok } = loadJobs({ ...ctx, cwd: saved.cwd, values: { ...ctx.values, file: saved.inputs } });
  if (!ok) throw new ExitError(`the specs of the saved plan ${path} no longer load`, 1, 'fix them and run `trainctl plan --out` again');
  await beforePlan?.(jobs, saved.inputs);
  const fresh = await replanChecked(saved, jobs, env, saved.options, clockOf(ctx));
  const { inputs: _inputs, desiredDigest: _desired, cwd: _cwd, ...plan } = saved;
  return { jobs, options: saved.options, fresh, saved: plan };
}

type SavedPlan = PlanJson & { cwd: string };

function readSavedPlan(abs: string, shown: string): SavedPlan {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ExitError(`cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1, /\.ya?ml$/i.test(shown) ? `to apply a spec, pass it with -f: \`trainctl apply -f ${shown}\`` : undefined);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ExitError(`${shown} is not a saved plan (not JSON)`, 1, /\.ya?ml$/i.test(shown) ? `to apply a spec, pass it with -f: \`trainctl apply -f ${shown}\`` : 'save one with `trainctl plan --out plan.json`');
  }
  const p = raw as Partial<SavedPlan>;
  const valid = p && typeof p === 'object' && p.formatVersion === 1 && Array.isArray(p.actions) && Array.isArray(p.inputs) && typeof p.cwd === 'string'
    && typeof p.observedDigest === 'string' && typeof p.desiredDigest === 'string' && typeof p.options === 'object' && p.options !== null;
  if (!valid) throw new ExitError(`${shown} is not a saved plan of this version of trainctl`, 1, 'save one with `trainctl plan --out plan.json`');
  return { ...(p as SavedPlan), warnings: p.warnings ?? [], jobs: p.jobs ?? [] };
}

/** A plan that could spend more than a job's limits.costUSD launches nothing unless the user says so. */
export function refuseOverBudget(plan: Plan, allowed: boolean): void {
  const over = plan.jobs.filter((j) => j.estimate?.overLimit);
  if (allowed || over.length === 0) return;
  const what = over.map((j) => `job ${j.job} could cost $${(j.estimate!.worstCaseUSD as number).toFixed(2)}, over its limits.costUSD $${j.costLimitUSD!.toFixed(2)}`).join('; ');
  throw new ExitError(`${what}; nothing was launched`, 1, 'raise limits.costUSD, shorten limits.maxDuration or lower the trial count, or pass --allow-over-budget (the runners still stop at the limit)');
}

function parseInterval(text: string | undefined, wait: boolean): number {
  if (text !== undefined && !wait) throw new ExitError('--interval works only with --wait', 1, 'add --wait, or drop --interval');
  const ms = parseDuration(text ?? DEFAULT_INTERVAL);
  if (ms === undefined || ms <= 0) throw new ExitError(`--interval "${text}" is not a duration`, 1, 'write it like 2s, 30s or 1m');
  return ms;
}

function applySummary(outcomes: readonly ActionOutcome[], c: Palette): string {
  const n = (pred: (o: ActionOutcome) => boolean) => outcomes.filter(pred).length;
  const launched = n((o) => o.kind === 'launched');
  const stopped = n((o) => o.kind === 'terminated');
  const waiting = n((o) => o.kind === 'waiting');
  const failed = n((o) => o.kind === 'failed');
  const parts = [`${launched} launched`, `${stopped} stopped`];
  if (waiting) parts.push(`${waiting} waiting for capacity`);
  if (failed) parts.push(c.red(`${failed} failed`));
  return `${c.bold(failed ? 'Apply finished with errors:' : 'Apply complete:')} ${parts.join(', ')}.`;
}

function reportFailures(ctx: CommandContext, failures: readonly ActionOutcome[]): number {
  for (const f of failures) ctx.stderr.write(`error: ${outcomeText(f)}\n`);
  return failures.length ? 1 : 0;
}

/** The live view on a terminal: one listr2 task per trial, its title the trial's progress line. */
class TrialBoard {
  private readonly tasks = new Map<string, { task: { title: string }; resolve(): void; reject(err: Error): void }>();
  private readonly latest = new Map<string, TrialProgress>();
  private readonly done: Promise<unknown>;
  private readonly width: number;

  constructor(trials: readonly string[], private readonly c: Palette) {
    this.width = Math.max(0, ...trials.map((t) => t.length));
    const list = new Listr(trials.map((trial) => ({
      title: trial,
      task: (_ctx: unknown, task: { title: string }) => new Promise<void>((resolve, reject) => {
        this.tasks.set(trial, { task, resolve, reject });
        const seen = this.latest.get(trial);
        if (seen) this.show(seen);
      }),
    })), { concurrent: true, exitOnError: false, renderer: 'default', rendererOptions: { collapseErrors: false } });
    this.done = list.run().catch(() => undefined);
  }

  update(progress: readonly TrialProgress[]): void {
    for (const p of progress) {
      this.latest.set(p.trial, p);
      this.show(p);
    }
  }

  private show(p: TrialProgress): void {
    const entry = this.tasks.get(p.trial);
    if (!entry) return;
    entry.task.title = progressLine(p, this.c, this.width);
    if (!p.settled) return;
    this.tasks.delete(p.trial);
    if (p.failed) entry.reject(new Error(p.note ?? 'failed'));
    else entry.resolve();
  }

  async close(): Promise<void> {
    for (const [trial, entry] of this.tasks) {
      this.tasks.delete(trial);
      entry.resolve();
    }
    await this.done;
  }
}
