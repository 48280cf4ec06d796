// `trainctl resources cleanup [<instance>...] [--dry-run] [--force] [--yes]`: terminates zombies and
// orphans (or the named instances). Without --force it only shows the list; with it, after
// confirmation, only instances tagged trainctl:managed=true are terminated, their tags read again
// right before TerminateInstances. An untagged instance is never terminated, named or not.
import { ExitError } from '../core/errors.js';
import type { Finding, InventoryInstance } from '../core/insights.js';
import { colorEnabled, palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { assess } from './resources-insights.js';
import { usd } from './resources-shared.js';
import { confirmOrRefuse, outputFormat } from './shared.js';

interface Target { instance: InventoryInstance; findings: Finding[] }

export async function cleanup(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const dryRun = Boolean(ctx.values['dry-run']);
  const force = Boolean(ctx.values.force);
  const a = await assess(ctx);
  const byId = new Map(a.instances.map((i) => [i.id, i]));
  const targets = targetsOf(ctx.positionals, a.insights.findings, byId, a.regions);
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  const burn = targets.reduce((s, t) => s + (t.instance.price?.usdPerHour ?? 0), 0);
  const json = (extra: Record<string, unknown> = {}) => ({
    formatVersion: 1, now: a.now.toISOString(), regions: a.regions, dryRun, force,
    targets: targets.map((t) => ({
      instance: t.instance.id, region: t.instance.region, instanceType: t.instance.instanceType, state: t.instance.state,
      project: t.instance.project ?? null, job: t.instance.job ?? null, trial: t.instance.trial ?? null,
      kinds: t.findings.map((f) => f.kind), why: t.findings.map((f) => f.why),
    })),
    ...extra,
  });

  if (format === 'text') {
    if (targets.length === 0) ctx.stdout.write(`Nothing to clean up: no zombie or orphan instances in ${a.regions.join(', ')}.\n`);
    else {
      ctx.stdout.write(renderTable(targets, [
        { header: '', value: () => c.red('-') },
        { header: 'INSTANCE', value: (t) => t.instance.id },
        { header: 'REGION', value: (t) => t.instance.region },
        { header: 'TYPE', value: (t) => t.instance.instanceType },
        { header: 'TRIAL', value: (t) => (t.instance.trial ? `${t.instance.project}/${t.instance.trial}` : '-'), max: 48 },
        { header: 'KIND', value: (t) => t.findings.map((f) => f.kind).join(', ') || 'named' },
        { header: 'WHY', value: (t) => c.dim(t.findings.map((f) => f.why).join('; ') || 'named on the command line') },
      ], { header: c.bold }));
      ctx.stdout.write(`\nCleanup: ${targets.length} managed instance${targets.length === 1 ? '' : 's'} to terminate (burning ${usd(burn)}/h where the price is known).\n`);
    }
    const untagged = a.insights.findings.filter((f) => f.kind === 'untagged-training').length;
    if (untagged) ctx.stdout.write(c.dim(`${untagged} untagged instance${untagged === 1 ? '' : 's'} that look${untagged === 1 ? 's' : ''} like training ${untagged === 1 ? 'is' : 'are'} left alone (see \`trainctl resources insights\`).\n`));
  }
  if (targets.length === 0 || dryRun || !force) {
    if (format === 'json') ctx.stdout.write(`${JSON.stringify(json(), null, 2)}\n`);
    else if (targets.length && !dryRun) ctx.stdout.write('Nothing terminated: pass --force to terminate them (--dry-run only shows the list).\n');
    return 0;
  }

  await confirmOrRefuse(ctx, 'terminate', `\n${c.bold(`Terminate these ${targets.length} instance${targets.length === 1 ? '' : 's'}?`)} [y/N] `);
  const { AwsClientPool, terminateManaged } = await import('../providers/aws/inventory.js');
  const pool = new AwsClientPool(ctx.env);
  const byRegion = new Map<string, string[]>();
  for (const t of targets) byRegion.set(t.instance.region, [...(byRegion.get(t.instance.region) ?? []), t.instance.id]);
  const { deleteManagedPods, RUNPOD_REGION } = await import('../providers/runpod/inventory.js');
  const outcomes = await Promise.all([...byRegion].map(([region, ids]) => (region === RUNPOD_REGION ? deleteManagedPods(ctx.env, ids) : terminateManaged(pool, region, ids))));
  const terminated = outcomes.flatMap((o) => o.terminated);
  const skipped = outcomes.flatMap((o) => o.skipped);
  if (format === 'json') ctx.stdout.write(`${JSON.stringify(json({ terminated, skipped }), null, 2)}\n`);
  else {
    ctx.stdout.write(`Terminated ${terminated.length} instance${terminated.length === 1 ? '' : 's'}.\n`);
    for (const s of skipped) ctx.stderr.write(`warning: ${s.id} not terminated: ${s.why}\n`);
  }
  return 0;
}

/**
 * Zombies and orphans, or exactly the named instances. Naming an instance without the managed
 * tag (or one that is not there) refuses the whole command before anything changes.
 */
function targetsOf(named: readonly string[], findings: readonly Finding[], byId: ReadonlyMap<string, InventoryInstance>, regions: readonly string[]): Target[] {
  const findingsOf = (id: string) => findings.filter((f) => f.instance === id && f.kind !== 'untagged-training');
  if (named.length) {
    const ids = [...new Set(named)];
    for (const id of ids) {
      const i = byId.get(id);
      if (!i) throw new ExitError(`no instance ${id} in ${regions.join(', ')}`, 1, 'check the id, or pass --region for the region it is in');
      if (!i.managed) throw new ExitError(`refusing to terminate ${id}: it has no trainctl:managed=true tag`, 1, 'trainctl only terminates instances it launched; terminate it with the AWS console or CLI if you mean to');
    }
    return ids.map((id) => ({ instance: byId.get(id)!, findings: findingsOf(id) }));
  }
  const ids = [...new Set(findings.filter((f) => f.cleanup).map((f) => f.instance))];
  return ids.map((id) => ({ instance: byId.get(id)!, findings: findingsOf(id) })).filter((t) => t.instance.managed);
}
