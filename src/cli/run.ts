// `trainctl run <script> [args]`: a one-off job built from flags — the seeds' `trainctl local
// train.py` habit — through the same spec, plan and apply as any TrainJob.
import { existsSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { formatDiagnostic, hasErrors } from '../core/diagnostics.js';
import { ExitError } from '../core/errors.js';
import { shellQuote } from '../core/template.js';
import { planJobs } from '../engine/planning.js';
import { loadText } from '../spec/load.js';
import { carryOut } from './apply.js';
import type { CommandContext } from './commands.js';
import { trainctlHome } from './shared.js';

function count(ctx: CommandContext, flag: string, min: number): number | undefined {
  const v = ctx.values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ExitError(`--${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`, 1);
  return n;
}

/** `train` for train.py; the clock makes each run its own job unless --name says otherwise. */
export function jobName(script: string, now: Date): string {
  const base = basename(script, extname(script)).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^[^a-z]+|-+$/g, '').slice(0, 24) || 'run';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `${base}-${stamp}`;
}

export function scriptCommand(script: string, args: readonly string[], executable: boolean): string {
  const ext = extname(script);
  const launcher = ext === '.py' ? 'python3 ' : ext === '.sh' ? 'bash ' : '';
  if (!launcher && !executable) throw new ExitError(`${script} is neither a .py or .sh script nor executable`, 1, `chmod +x ${script}, or run it through its interpreter`);
  const path = launcher || script.includes('/') ? script : `./${script}`;
  return [`${launcher}${shellQuote(path)}`, ...args.map(shellQuote)].join(' ');
}

export async function run(ctx: CommandContext): Promise<number> {
  const [script, ...args] = ctx.positionals;
  if (!script) throw new ExitError('give the script to run', 1, 'e.g. `trainctl run train.py --epochs 5`');
  const abs = resolve(ctx.cwd, script);
  if (!existsSync(abs) || !statSync(abs).isFile()) throw new ExitError(`no such script: ${script}`, 1);
  const rel = relative(ctx.cwd, abs);
  if (rel.startsWith('..')) throw new ExitError(`${script} is outside the current directory`, 1, 'run trainctl from the directory that holds the code; it is copied for the run');
  const nodes = count(ctx, 'nodes', 1);
  const nproc = count(ctx, 'nproc-per-node', 1);
  const gpus = count(ctx, 'gpus', 0);
  const keep = count(ctx, 'keep-last', 1);
  const name = (ctx.values.name as string | undefined) ?? jobName(script, new Date());
  const executable = (statSync(abs).mode & 0o111) !== 0;
  const spec = {
    apiVersion: 'trainctl.dev/v1',
    kind: 'TrainJob',
    metadata: { name, project: (ctx.values.project as string | undefined) ?? 'default' },
    spec: {
      compute: { provider: 'local', ...(gpus !== undefined ? { gpus } : {}) },
      code: { path: '.', command: scriptCommand(rel, args, executable), ...(ctx.values.setup ? { setup: ctx.values.setup as string } : {}) },
      checkpoint: { dir: (ctx.values['checkpoint-dir'] as string | undefined) ?? 'checkpoints/', ...(keep ? { keepLastN: keep } : {}) },
      ...(nodes !== undefined || nproc !== undefined ? { distributed: { strategy: 'ddp', nodes: nodes ?? 1, nprocPerNode: nproc ?? 1 } } : {}),
      ...(ctx.values['output-uri'] ? { output: { uri: ctx.values['output-uri'] as string } } : {}),
    },
  };
  const text = stringify(spec);
  const home = trainctlHome(ctx.env);
  const { jobs, diagnostics } = loadText(text, `trainctl run ${script}`, { cwd: ctx.cwd, dir: ctx.cwd, defaultOutputUri: pathToFileURL(join(home, 'runs')).href });
  if (hasErrors(diagnostics)) {
    // the spec came from flags: show the messages without YAML positions
    for (const d of diagnostics) ctx.stderr.write(`${formatDiagnostic({ ...d, line: 0, col: 0 })}\n`);
    return 1;
  }
  const options = { prune: false };
  const fresh = await planJobs(jobs, { home }, options, new Date());
  return carryOut({ ...ctx, values: { ...ctx.values, wait: !ctx.values.detach, yes: true } }, { jobs, options, fresh });
}
