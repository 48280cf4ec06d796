// `trainctl destroy`: stop the live trials of the given specs (or just the named trials)
// gracefully, keeping their checkpoints and records; they stay stopped on later applies.
import { ExitError } from '../core/errors.js';
import { destroy, destroyActions } from '../engine/destroy.js';
import { outcomeText } from '../engine/apply.js';
import { takeLocks } from '../engine/lock.js';
import { planJobs } from '../engine/planning.js';
import { colorEnabled, palette } from '../render/color.js';
import { formatParameters, reasonText } from '../render/plan-text.js';
import type { Job } from '../spec/types.js';
import type { CommandContext } from './commands.js';
import { confirmOrRefuse, loadJobs, trainctlHome } from './shared.js';

export async function run(ctx: CommandContext): Promise<number> {
  const { jobs, ok, inputs } = loadJobs(ctx);
  if (!ok) return 1;
  // the projects' leases, as apply takes them: an apply launching meanwhile would start trials
  // this destroy never saw (a dry run changes nothing, so it locks nothing)
  const locks = ctx.values['dry-run'] ? undefined
    : await takeLocks(jobs, { command: 'destroy', lockTimeout: ctx.values['lock-timeout'] as string | undefined, env: ctx.env, inputs, stderr: ctx.stderr });
  try {
    return await destroyLocked(ctx, jobs);
  } finally {
    await locks?.release();
  }
}

async function destroyLocked(ctx: CommandContext, jobs: Job[]): Promise<number> {
  const env = { home: trainctlHome(ctx.env) };
  const { trials, observed } = await planJobs(jobs, env, { prune: false }, new Date());
  const only = ctx.positionals.length ? new Set(ctx.positionals) : undefined;
  if (only) {
    const known = new Set([...trials.map((t) => t.id), ...observed.resources.map((r) => r.trial)]);
    const unknown = [...only].filter((t) => !known.has(t));
    if (unknown.length) throw new ExitError(`no trial ${unknown.map((t) => `"${t}"`).join(', ')} in the given specs`, 1, 'see `trainctl status` for trial ids');
  }
  const actions = destroyActions(jobs, trials, observed, only);
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  if (actions.length === 0) {
    ctx.stdout.write(`Nothing to destroy: no live trials${only ? ' by those ids' : ` of ${jobs.map((j) => `${j.project}/${j.name}`).join(', ')}`}.\n`);
    return 0;
  }
  for (const a of actions) ctx.stdout.write(`  ${c.red('-')} ${c.red('stop')}  ${a.trial}  ${formatParameters(a.parameters)}  ${c.dim(`${reasonText(a)} [${(a.resources ?? []).join(', ')}]`)}\n`);
  ctx.stdout.write(`\n${c.bold('Destroy:')} ${actions.length} trial${actions.length === 1 ? '' : 's'} to stop.\n`);
  if (ctx.values['dry-run']) return 0;
  await confirmOrRefuse(ctx, 'destroy', `\n${c.bold('Stop these trials?')} [y/N] `);
  const outcomes = await destroy(actions, jobs, observed, env, (o) => ctx.stdout.write(`${outcomeText(o)}\n`));
  const failed = outcomes.filter((o) => o.kind === 'failed');
  const stopped = outcomes.length - failed.length;
  ctx.stdout.write(`\nDestroyed: ${stopped} trial${stopped === 1 ? '' : 's'} stopped, checkpoints kept.\n`);
  for (const f of failed) ctx.stderr.write(`error: ${outcomeText(f)}\n`);
  return failed.length ? 1 : 0;
}
