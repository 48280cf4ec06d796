// `trainctl logs <trial>`: a trial's log from its output store — the latest attempt unless told,
// node rank 0 unless told — and with --follow, what is appended until the attempt ends.
import { existsSync, openSync, readdirSync, readSync, closeSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExitError } from '../core/errors.js';
import { loadSpecs } from '../spec/load.js';
import type { CommandContext } from './commands.js';
import { trainctlHome } from './shared.js';

interface TrialDir { dir: string; project: string; job: string }

/** Output stores to search: those of the given specs, else the default local store. */
function storeRoots(ctx: CommandContext): string[] {
  const home = trainctlHome(ctx.env);
  const defaultUri = pathToFileURL(join(home, 'runs')).href;
  const files = ctx.values.file as string[] | undefined;
  const inputs = files?.length ? files : existsSync(join(ctx.cwd, 'trainjob.yaml')) ? ['trainjob.yaml'] : [];
  const uris = new Set<string>([defaultUri]);
  if (inputs.length) {
    const { jobs, diagnostics } = loadSpecs(inputs, { cwd: ctx.cwd, defaultOutputUri: defaultUri });
    if (diagnostics.some((d) => d.severity === 'error')) throw new ExitError(`the specs in ${inputs.join(', ')} have errors`, 1, 'run `trainctl validate` to see them');
    for (const j of jobs) uris.add(j.spec.output.uri);
  }
  return [...uris].filter((u) => u.startsWith('file://')).map((u) => fileURLToPath(u));
}

const subdirs = (p: string) => {
  try {
    return readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    return [];
  }
};

function findTrial(roots: readonly string[], trial: string): TrialDir | undefined {
  for (const root of roots) {
    for (const project of subdirs(root)) {
      for (const job of subdirs(join(root, project))) {
        const dir = join(root, project, job, trial);
        if (existsSync(join(dir, 'spec.json'))) return { dir, project, job };
      }
    }
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
  const found = findTrial(storeRoots(ctx), trial);
  if (!found) throw new ExitError(`no records of trial "${trial}"`, 1, 'check the id with `trainctl status`, or pass --file <spec> when its output store is not the default');
  const attempts = subdirs(join(found.dir, 'attempts')).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
  const attempt = parseCount(ctx.values.attempt, '--attempt') ?? attempts.at(-1);
  if (attempt === undefined || !attempts.includes(attempt)) throw new ExitError(`trial ${trial} has no attempt ${attempt ?? ''}`.trim(), 1, attempts.length ? `attempts: ${attempts.join(', ')}` : 'it has not started yet');
  const rank = parseCount(ctx.values.rank, '--rank') ?? 0;
  const attemptDir = join(found.dir, 'attempts', String(attempt));
  const logPath = join(attemptDir, 'logs', `${rank}.log`);
  if (!existsSync(logPath) && !ctx.values.follow) throw new ExitError(`attempt ${attempt} of ${trial} has no log for rank ${rank}`, 1);
  let offset = 0;
  const pump = () => {
    if (!existsSync(logPath)) return;
    const size = statSync(logPath).size;
    if (size <= offset) return;
    const fd = openSync(logPath, 'r');
    try {
      const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
      while (offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
        if (n <= 0) break;
        ctx.stdout.write(buf.subarray(0, n));
        offset += n;
      }
    } finally {
      closeSync(fd);
    }
  };
  pump();
  if (!ctx.values.follow) return 0;
  const ended = () => {
    try {
      const s = JSON.parse(readFileSync(join(attemptDir, 'status.json'), 'utf8')) as { state?: string };
      return s.state !== undefined && s.state !== 'starting' && s.state !== 'running';
    } catch {
      return false;
    }
  };
  while (!ended()) {
    await new Promise((r) => setTimeout(r, 300));
    pump();
  }
  pump();
  return 0;
}
