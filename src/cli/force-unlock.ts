// `trainctl force-unlock <id>`: releases a project's lock that an apply or controller left behind,
// as Terraform's force-unlock does. The id is the lease token the "is locked" error prints; the
// lease is looked for in the output stores of the given specs.
import { ExitError } from '../core/errors.js';
import { leaseStoreFor, lockTargets } from '../engine/lock.js';
import { isFree } from '../store/lock.js';
import type { CommandContext } from './commands.js';
import { confirmOrRefuse, loadJobs } from './shared.js';

export async function run(ctx: CommandContext): Promise<number> {
  const [id, extra] = ctx.positionals;
  if (id === undefined) throw new ExitError('force-unlock needs the lock id', 1, 'the "is locked" error of apply or reconcile prints it: `trainctl force-unlock <id> -f <spec>`');
  if (extra !== undefined) throw new ExitError('force-unlock takes one lock id', 1, 'see `trainctl force-unlock --help`');
  if (!/^[0-9a-f]{8,64}$/.test(id)) throw new ExitError(`"${id}" is not a lock id`, 1, 'a lock id is the hex string after "lock id" in the "is locked" error');
  const { jobs, ok } = loadJobs(ctx);
  if (!ok) return 1;

  const targets = lockTargets(jobs);
  for (const target of targets) {
    const store = await leaseStoreFor(target.uri);
    const current = await store.readLease(target.project);
    if (!current || current.lease.token !== id) continue;
    const { lease } = current;
    if (isFree(lease, Date.now())) {
      ctx.stdout.write(`Lock ${id} of project ${target.project} is not held (${lease.released ? 'released' : `expired ${lease.expiresAt}`}); nothing to do.\n`);
      return 0;
    }
    ctx.stdout.write(`Lock ${id} of project ${target.project} in ${target.uri}\n  held by ${lease.holder} since ${lease.acquiredAt}, expires ${lease.expiresAt} unless renewed\n`);
    await confirmOrRefuse(ctx, 'force-unlock', 'Release it? Only do so if that process is gone: otherwise two runs may launch the same trials. [y/N] ');
    // conditional on the version read: a lease renewed or taken meanwhile is not released blindly
    const version = await store.replaceLease(target.project, current.version, { ...lease, released: true });
    if (version === undefined) {
      const now = await store.readLease(target.project);
      if (now?.lease.token !== id || now.lease.released) throw new ExitError(`lock ${id} changed hands while asking; nothing was released`, 1, 'run `trainctl apply` to see who holds the project now');
      // renewed meanwhile: its holder is alive
      throw new ExitError(`lock ${id} was renewed while asking: its holder ${lease.holder} is still running; nothing was released`, 1, 'stop that process instead, or wait for it');
    }
    ctx.stdout.write(`Released lock ${id} of project ${target.project}.\n`);
    return 0;
  }
  const where = targets.map((t) => `${t.project} in ${t.uri}`).join(', ');
  throw new ExitError(`no lock ${id} in the stores of these specs (${where})`, 1, 'it may have been released already; the "is locked" error names the id of a lock that is held');
}
