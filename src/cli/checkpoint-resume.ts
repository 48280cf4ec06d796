// `trainctl checkpoint resume <checkpoint> -f <spec> [--trial ID]`: makes the next apply resume a
// trial from a chosen checkpoint. The trial's LATEST is pointed at it (a checkpoint from elsewhere
// is first stored in the trial's store as a new step); when the planner would not resume the trial
// as its records stand (it ended, failed, or never ran), an `interrupted` attempt record is added,
// which is what the planner resumes from. What the planner will then do is worked out before
// anything is written, and printed after, from a fresh plan.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitError } from '../core/errors.js';
import type { AttemptRecord, Observed, TrialRecord } from '../core/observed.js';
import { plan as makePlan, type Action } from '../core/plan.js';
import { desiredOf, planJobs } from '../engine/planning.js';
import { colorEnabled, palette } from '../render/color.js';
import { reasonText, renderPlanText } from '../render/plan-text.js';
import { stepFromPath } from '../runner/checkpoints.js';
import type { TrialRef } from '../store/store.js';
import type { Job, Trial } from '../spec/types.js';
import { downloadObject, downloadTree, headObject, parseS3Uri, uploadFile } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { openStore, readCheckpointSet } from './checkpoint-source.js';
import { loadJobs, trainctlHome } from './shared.js';
import { dirPrefix, isS3Uri, positionals, s3Client, s3Location } from './s3-shared.js';

/** What the checkpoint argument comes to. */
type Chosen =
  | { kind: 'in-store'; step: number }
  /** Files to store as a new checkpoint of the trial: `dir` holds them (relative paths). */
  | { kind: 'import'; step: number; shown: string; load(): Promise<{ dir: string; files: string[]; cleanup(): Promise<void> }> };

const key = (project: string, trial: string) => `${project}/${trial}`;

export async function resume(ctx: CommandContext): Promise<number> {
  const [arg] = positionals(ctx, ['checkpoint'], 'trainctl checkpoint resume <checkpoint> -f <spec> [--trial ID]');
  const { jobs, ok } = loadJobs(ctx);
  if (!ok) return 1;
  const env = { home: trainctlHome(ctx.env) };
  const { trials } = desiredOf(jobs);
  const trialHint = await trialFromPath(ctx, arg!);
  const trial = pickTrial(ctx, trials, trialHint);
  const job = jobs.find((j) => j.project === trial.project && j.name === trial.job)!;
  const ref: TrialRef = { project: trial.project, job: trial.job, trial: trial.id };
  const uri = job.spec.output.uri;

  const before = await planJobs(jobs, env, { prune: false }, new Date());
  const live = before.observed.resources.filter((r) => r.project === trial.project && r.trial === trial.id);
  if (live.length) {
    throw new ExitError(`trial ${trial.id} is live (${live.map((r) => `${r.provider} ${r.id}`).join(', ')}); its checkpoints are still being written`, 1, `stop it first: \`trainctl destroy -f ${(ctx.values.file as string[] | undefined)?.join(' -f ') ?? 'trainjob.yaml'} ${trial.id}\``);
  }
  const store = await openStore(ctx, uri);
  const complete = await store.listCheckpoints(ref);
  const chosen = await chooseCheckpoint(ctx, arg!, uri, ref);
  const step = chosen.step;
  if (chosen.kind === 'in-store' && !complete.includes(step)) {
    throw new ExitError(`trial ${trial.id} has no complete checkpoint at step ${step}`, 1, complete.length ? `complete checkpoints: ${complete.join(', ')} (see \`trainctl checkpoint list\`)` : 'it has no complete checkpoint; pass a checkpoint file to import');
  }
  if (chosen.kind === 'import' && complete.includes(step)) {
    throw new ExitError(`trial ${trial.id} already has a checkpoint at step ${step}`, 1, `to resume from the stored one, pass ${step}; to use ${chosen.shown} instead, give it another step in its name`);
  }

  // Decide purely, on the observed world as it will be, before writing anything.
  const rec = before.observed.records.find((r) => r.project === trial.project && r.trial === trial.id);
  const now = new Date();
  const pointed = withRecord(before.observed, trial, { ...(rec ?? { project: trial.project, job: trial.job, trial: trial.id, specHash: trial.specHash, attempts: [] }), checkpoint: { step } });
  let action = actionFor(jobs, pointed, trial, now);
  let marker: AttemptRecord | undefined;
  if (!(action.kind === 'resume' && action.resumeFromStep === step)) {
    const n = Math.max(0, ...(rec?.attempts ?? []).map((a) => a.n)) + 1;
    const iso = now.toISOString();
    marker = { n, specHash: trial.specHash, state: 'interrupted', step, startedAt: iso, updatedAt: iso, costUSD: 0 };
    const simulated = withRecord(pointed, trial, { ...pointedRecord(pointed, trial), attempts: [...(rec?.attempts ?? []), marker] });
    action = actionFor(jobs, simulated, trial, now);
    if (!(action.kind === 'resume' && action.resumeFromStep === step)) {
      throw new ExitError(`the planner would not resume trial ${trial.id} even so: it would ${action.kind} (${reasonText(action)})`, 1, resumeHint(action));
    }
  }

  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  const steps = [
    chosen.kind === 'import' ? `store ${chosen.shown} in ${trial.id}'s store as checkpoint ${step}` : '',
    `point ${trial.id}'s LATEST at checkpoint ${step}${rec?.checkpoint ? ` (now ${rec.checkpoint.step})` : ''}`,
    marker ? `record attempt ${marker.n} as interrupted at step ${step}, so that the planner resumes the trial${rec?.result ? ` (its ${rec.result.state} result stays in the store as history)` : ''}` : '',
  ].filter(Boolean);
  const dry = Boolean(ctx.values['dry-run']);
  ctx.stdout.write(`${c.bold(`${dry ? 'Would resume' : 'Resuming'} ${trial.id} from checkpoint ${step}:`)}\n${steps.map((x) => `  - ${x}\n`).join('')}`);
  if (dry) {
    ctx.stdout.write(`\nThen \`trainctl apply\` would resume ${trial.id} from step ${step} (attempt ${action.attempt}). Dry run: nothing changed.\n`);
    return 0;
  }

  if (chosen.kind === 'import') {
    const staged = await chosen.load();
    try {
      // the attempt the checkpoint is filed under: the last one the trial had, as the runner would
      await store.putCheckpoint(ref, step, Math.max(0, ...(rec?.attempts ?? []).map((a) => a.n)), staged.dir, staged.files);
    } finally {
      await staged.cleanup();
    }
  }
  await pointLatest(ctx, uri, ref, step);
  if (marker) await store.writeStatus(ref, { ...marker, resumePoint: { step, by: 'trainctl checkpoint resume' } });

  const after = await planJobs(jobs, env, { prune: false }, new Date());
  ctx.stdout.write(`\n${c.bold('trainctl plan will now do:')}\n${renderPlanText(after.plan, c)}`);
  const mine = after.plan.actions.find((a) => key(a.project, a.trial) === key(trial.project, trial.id));
  if (!(mine?.kind === 'resume' && mine.resumeFromStep === step)) {
    ctx.stderr.write(`warning: the plan now says ${mine?.kind ?? 'nothing'} for ${trial.id}, not resume from step ${step}: the world changed while this ran\n`);
    return 1;
  }
  return 0;
}

function resumeHint(a: Action): string {
  switch (a.reason) {
    case 'interruptions-exhausted': return 'it was interrupted more often than retry.onSpotInterruption allows; raise it in the spec';
    case 'max-duration': return 'it has run longer than limits.maxDuration; raise it in the spec';
    default: return a.kind === 'wait' ? 'other trials hold every slot (maxParallel); it resumes when one frees up' : 'check checkpoint.resume (must be auto) and the spec';
  }
}

function withRecord(observed: Observed, trial: Trial, rec: TrialRecord): Observed {
  return { ...observed, records: [...observed.records.filter((r) => !(r.project === trial.project && r.trial === trial.id)), rec] };
}

function pointedRecord(observed: Observed, trial: Trial): TrialRecord {
  return observed.records.find((r) => r.project === trial.project && r.trial === trial.id)!;
}

function actionFor(jobs: readonly Job[], observed: Observed, trial: Trial, now: Date): Action {
  const { desired } = desiredOf(jobs);
  const p = makePlan(desired, observed, { prune: false }, now);
  return p.actions.find((a) => a.project === trial.project && a.trial === trial.id)!;
}

function pickTrial(ctx: CommandContext, trials: readonly Trial[], fromPath: string | undefined): Trial {
  const given = ctx.values.trial as string | undefined;
  if (given && fromPath && given !== fromPath) throw new ExitError(`--trial ${given} does not match the checkpoint's trial ${fromPath}`, 1, 'drop --trial, or pass a checkpoint of that trial');
  const id = given ?? fromPath;
  if (id) {
    const t = trials.find((x) => x.id === id);
    if (!t) throw new ExitError(`no trial ${id} in the given specs`, 1, `trials: ${trials.map((x) => x.id).slice(0, 8).join(', ')}${trials.length > 8 ? ', …' : ''}`);
    return t;
  }
  if (trials.length === 1) return trials[0]!;
  throw new ExitError(`the specs have ${trials.length} trials; say which one to resume`, 1, `pass --trial (one of: ${trials.map((x) => x.id).slice(0, 8).join(', ')}${trials.length > 8 ? ', …' : ''})`);
}

/** The trial a store path names: …/<trial>/checkpoints/<step>[/file]. */
async function trialFromPath(ctx: CommandContext, arg: string): Promise<string | undefined> {
  if (/^\d+$/.test(arg)) return undefined;
  const path = isS3Uri(arg) ? arg : resolve(ctx.cwd, arg);
  const m = /([^/\\]+)[/\\]checkpoints[/\\]\d+(?:[/\\].*)?$/.exec(path.replace(/[/\\]+$/, ''));
  return m ? m[1] : undefined;
}

/** The trial directory in the store at `uri`: a local path or an S3 key prefix ending in '/'. */
function trialDirOf(uri: string, ref: TrialRef): { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string } {
  if (uri.startsWith('file://')) return { kind: 'local', dir: join(fileURLToPath(uri), ref.project, ref.job, ref.trial) };
  const loc = parseS3Uri(uri);
  if ('error' in loc) throw new ExitError(loc.error, 1, loc.hint);
  return { kind: 's3', bucket: loc.bucket, prefix: `${dirPrefix(loc.key)}${ref.project}/${ref.job}/${ref.trial}/` };
}

async function chooseCheckpoint(ctx: CommandContext, arg: string, uri: string, ref: TrialRef): Promise<Chosen> {
  if (/^\d+$/.test(arg)) return { kind: 'in-store', step: Number(arg) };
  const trialDir = trialDirOf(uri, ref);
  const checkpointRoot = trialDir.kind === 'local' ? join(trialDir.dir, 'checkpoints') : `s3://${trialDir.bucket}/${trialDir.prefix}checkpoints`;
  // a checkpoint of this very trial, named by its path
  const normalized = (isS3Uri(arg) ? arg : resolve(ctx.cwd, arg)).replace(/[/\\]+$/, '');
  const rel = isS3Uri(arg) ? (normalized.startsWith(`${checkpointRoot}/`) ? normalized.slice(checkpointRoot.length + 1) : undefined) : (() => {
    const r = relative(checkpointRoot, normalized);
    return r && !r.startsWith('..') && !r.startsWith(sep) ? r.split(sep).join('/') : undefined;
  })();
  const own = rel !== undefined ? /^(\d+)(?:\/|$)/.exec(rel) : null;
  if (own) return { kind: 'in-store', step: Number(own[1]) };
  return importedCheckpoint(ctx, arg);
}

/** A checkpoint file or directory from outside the trial's store (local or s3://), to be stored in it. */
async function importedCheckpoint(ctx: CommandContext, arg: string): Promise<Chosen> {
  if (!isS3Uri(arg) && !existsSync(resolve(ctx.cwd, arg))) throw new ExitError(`${arg}: no such file or directory`, 1, 'pass a step number, a checkpoint directory or a checkpoint file');
  const name = basename(arg.replace(/[/\\]+$/, ''));
  const step = stepFromPath(name) ?? stepFromPath(basename(dirname(arg.replace(/[/\\]+$/, ''))));
  if (step === undefined) throw new ExitError(`cannot tell the step of ${arg} from its name`, 1, 'name it after its step (step-000500.pt, checkpoint-500/) or copy it into a directory named by the step');
  if (isS3Uri(arg)) {
    const loc = s3Location(arg);
    const client = s3Client(ctx);
    const single = loc.key && !loc.key.endsWith('/') ? await headObject(client, loc) : undefined;
    if (!single) {
      const set = await readCheckpointSet(ctx, arg);
      if (set.all.length === 0) throw new ExitError(`nothing at ${arg}`, 1, 'check the URI (`trainctl s3 list`)');
    }
    return {
      kind: 'import', step, shown: arg, load: async () => {
        const dir = await mkdtemp(join(tmpdir(), 'trainctl-import-'));
        if (single) await downloadObject(client, loc, join(dir, name)); // name carries a step: never '..'
        else await downloadTree(client, loc, dir, { exclude: ['MANIFEST.json'] });
        return { dir, files: filesUnder(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
      },
    };
  }
  const path = resolve(ctx.cwd, arg);
  const isFile = statSync(path).isFile();
  const files = isFile ? [basename(path)] : filesUnder(path);
  if (files.length === 0) throw new ExitError(`${arg} holds no files`, 1, 'pass a checkpoint file or a directory with its files');
  return { kind: 'import', step, shown: arg, load: async () => ({ dir: isFile ? dirname(path) : path, files, cleanup: async () => {} }) };
}

/** Regular files under dir, relative and '/'-separated; MANIFEST.json and dotfiles left out (the store writes its own). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const full = join(d, e.name);
      if (e.isDirectory()) visit(full);
      else if (e.isFile()) out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  visit(dir);
  return out.filter((f) => f !== 'MANIFEST.json').sort();
}

/** Moves the trial's LATEST pointer (the store writes it only when a checkpoint is added or removed). */
async function pointLatest(ctx: CommandContext, uri: string, ref: TrialRef, step: number): Promise<void> {
  const where = trialDirOf(uri, ref);
  if (where.kind === 'local') {
    const path = join(where.dir, 'checkpoints', 'LATEST');
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.LATEST.tmp-${process.pid}`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${step}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'trainctl-latest-'));
  try {
    await writeFile(join(dir, 'LATEST'), `${step}\n`);
    await uploadFile(s3Client(ctx), join(dir, 'LATEST'), { bucket: where.bucket, key: `${where.prefix}checkpoints/LATEST` }, { resumeDir: false });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

