// `trainctl logs <trial>`: a trial's log from its output store (file:// or s3://) — the latest
// attempt unless told, node rank 0 unless told — and with --follow, what is appended until the
// attempt ends.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExitError } from '../core/errors.js';
import { expandJob } from '../spec/expand.js';
import { loadSpecs } from '../spec/load.js';
import { openRunStore } from '../store/open.js';
import type { RunStore, TrialRef } from '../store/store.js';
import type { CommandContext } from './commands.js';
import { trainctlHome } from './shared.js';

const subdirs = (p: string) => {
  try {
    return readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    return [];
  }
};

/** Where the trial's records are: a job of the given specs names it, else the default local store holds it. */
async function locate(ctx: CommandContext, trial: string): Promise<{ store: RunStore; ref: TrialRef } | undefined> {
  const home = trainctlHome(ctx.env);
  const defaultUri = pathToFileURL(join(home, 'runs')).href;
  const files = ctx.values.file as string[] | undefined;
  const inputs = files?.length ? files : existsSync(join(ctx.cwd, 'trainjob.yaml')) ? ['trainjob.yaml'] : [];
  const candidates: { uri: string; ref: TrialRef }[] = [];
  if (inputs.length) {
    const { jobs, diagnostics } = loadSpecs(inputs, { cwd: ctx.cwd, defaultOutputUri: defaultUri });
    if (diagnostics.some((d) => d.severity === 'error')) throw new ExitError(`the specs in ${inputs.join(', ')} have errors`, 1, 'run `trainctl validate` to see them');
    for (const j of jobs) {
      if (expandJob(j).trials.some((t) => t.id === trial)) candidates.push({ uri: j.spec.output.uri, ref: { project: j.project, job: j.name, trial } });
    }
  }
  // the default local store, scanned: `trainctl run` jobs and trials no spec names any more
  const root = fileURLToPath(defaultUri);
  for (const project of subdirs(root)) {
    for (const job of subdirs(join(root, project))) {
      if (existsSync(join(root, project, job, trial, 'spec.json'))) candidates.push({ uri: defaultUri, ref: { project, job, trial } });
    }
  }
  for (const c of candidates) {
    const store = await openRunStore(c.uri);
    if ('error' in store) throw new ExitError(store.error, 1, store.hint);
    if (await store.readTrial(c.ref)) return { store, ref: c.ref };
  }
  return undefined;
}

function parseCount(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ExitError(`${flag} must be a whole number, got ${JSON.stringify(v)}`, 1);
  return n;
}

export async function run(ctx: CommandContext): Promise<number> {
  const trial = ctx.positionals[0];
  if (!trial || ctx.positionals.length > 1) throw new ExitError('give exactly one trial id', 1, 'e.g. `trainctl logs quickstart-0446f601`; `trainctl status` lists them');
  const rankArg = parseCount(ctx.values.rank, '--rank');
  const attemptArg = parseCount(ctx.values.attempt, '--attempt');
  const found = await locate(ctx, trial);
  if (!found) throw new ExitError(`no records of trial "${trial}"`, 1, 'check the id with `trainctl status`, or pass --file <spec> when its output store is not the default');
  const { store, ref } = found;
  const record = await store.readTrial(ref);
  const attempts = (record?.attempts ?? []).map((a) => a.n);
  const attempt = attemptArg ?? attempts.at(-1);
  if (attempt === undefined || !attempts.includes(attempt)) throw new ExitError(`trial ${trial} has no attempt ${attempt ?? ''}`.trim(), 1, attempts.length ? `attempts: ${attempts.join(', ')}` : 'it has not started yet');
  const rank = rankArg ?? 0;
  let offset = 0;
  const pump = async (): Promise<boolean> => {
    const chunk = await store.readLog(ref, attempt, rank, offset);
    if (!chunk) return false;
    if (chunk.length) ctx.stdout.write(chunk);
    offset += chunk.length;
    return true;
  };
  const any = await pump();
  if (!ctx.values.follow) {
    if (!any) throw new ExitError(`attempt ${attempt} of ${trial} has no log for rank ${rank}`, 1);
    return 0;
  }
  const ended = async () => {
    const a = (await store.readTrial(ref))?.attempts.find((x) => x.n === attempt);
    return a !== undefined && a.state !== 'starting' && a.state !== 'running';
  };
  while (!(await ended())) {
    await new Promise((r) => setTimeout(r, 300));
    await pump();
  }
  await pump();
  return 0;
}
