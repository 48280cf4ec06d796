// What several commands share: finding the spec inputs, loading them with diagnostics printed,
// the trainctl home directory, and the output format flag.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { formatDiagnostic, hasErrors } from '../core/diagnostics.js';
import { ExitError } from '../core/errors.js';
import { loadSpecs } from '../spec/load.js';
import type { Job } from '../spec/types.js';
import type { CommandContext } from './commands.js';

export function trainctlHome(env: NodeJS.ProcessEnv): string {
  return env.TRAINCTL_HOME || join(homedir(), '.trainctl');
}

/**
 * The clock commands judge by: ages, limits, which scheduled slot is due. TRAINCTL_NOW (an ISO
 * time) moves it, for tests and for "what would insights say tomorrow".
 */
export function clockOf(ctx: CommandContext): Date {
  const raw = ctx.env.TRAINCTL_NOW;
  if (!raw) return new Date();
  const t = Date.parse(raw);
  if (!Number.isFinite(t)) throw new ExitError(`TRAINCTL_NOW ${JSON.stringify(raw)} is not a time`, 1, 'write it as an ISO time, e.g. 2026-06-01T12:00:00Z, or unset it');
  return new Date(t);
}

export function specInputs(ctx: CommandContext): string[] {
  const given = ctx.values.file as string[] | undefined;
  if (given?.length) return given;
  if (existsSync(join(ctx.cwd, 'trainjob.yaml'))) return ['trainjob.yaml'];
  throw new ExitError('no spec given and no trainjob.yaml here', 1, 'pass -f <file or directory>, or run `trainctl init`');
}

export function outputFormat<T extends string>(ctx: CommandContext, allowed: readonly T[]): T {
  const value = (ctx.values.output as string | undefined) ?? allowed[0]!;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ExitError(`unknown output format "${value}"`, 1, `use one of: ${allowed.join(', ')}`);
  }
  return value as T;
}

export interface Loaded { jobs: Job[]; ok: boolean; inputs: string[] }

/** Loads specs; prints diagnostics (errors and warnings) on stderr unless `quiet`. */
export function loadJobs(ctx: CommandContext, opts: { quiet?: boolean } = {}): Loaded & { diagnostics: ReturnType<typeof loadSpecs>['diagnostics'] } {
  const inputs = specInputs(ctx);
  const { jobs, diagnostics } = loadSpecs(inputs, {
    cwd: ctx.cwd,
    defaultOutputUri: pathToFileURL(join(trainctlHome(ctx.env), 'runs')).href,
  });
  if (!opts.quiet) for (const d of diagnostics) ctx.stderr.write(`${formatDiagnostic(d)}\n`);
  return { jobs, ok: !hasErrors(diagnostics), inputs, diagnostics };
}

/**
 * Asks before a change unless --yes; refuses when nobody can answer (stdin not a terminal, as in
 * CI). Throws ExitError on refusal or a "no".
 */
export async function confirmOrRefuse(ctx: CommandContext, verb: string, question: string): Promise<void> {
  if (ctx.values.yes) return;
  if (!process.stdin.isTTY) throw new ExitError(`refusing to ${verb} without confirmation: stdin is not a terminal`, 1, `pass --yes to ${verb} non-interactively (CI)`);
  const rl = createInterface({ input: process.stdin, output: ctx.stdout });
  let answer: string;
  try {
    answer = await rl.question(question);
  } finally {
    rl.close();
  }
  if (!/^y(es)?$/i.test(answer.trim())) throw new ExitError(`${verb} cancelled`, 1);
}
