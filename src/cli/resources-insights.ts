// `trainctl resources insights`: the instances that need attention — zombies, orphans, idle GPUs,
// and untagged instances that look like training (listed, never touched) — each with why and
// what to do. Reads only.
import { classifyInstances, inventoryRows, type Finding, type Insights, type InventoryInstance } from '../core/insights.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { clockOf, durationOption, givenJobs, readInventory, regionsOf, trialKnowledge, usd } from './resources-shared.js';
import { outputFormat } from './shared.js';

export interface Assessment {
  now: Date;
  regions: string[];
  instances: InventoryInstance[];
  insights: Insights;
}

/** Everything in the regions (managed or not), judged against the given specs and their stores. */
export async function assess(ctx: CommandContext): Promise<Assessment> {
  const jobs = givenJobs(ctx);
  const regions = regionsOf(ctx, jobs);
  const now = clockOf(ctx);
  const maxAgeMs = durationOption(ctx, 'max-age');
  const heartbeatTimeoutMs = durationOption(ctx, 'heartbeat-timeout');
  const [instances, know] = await Promise.all([readInventory(ctx, regions, { managedOnly: false }), trialKnowledge(jobs)]);
  const insights = classifyInstances(instances, know, {
    now, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs } : {}),
  });
  return { now, regions, instances, insights };
}

export const findingJson = (f: Finding) => ({
  kind: f.kind, reason: f.reason, instance: f.instance, region: f.region, instanceType: f.instanceType,
  project: f.project ?? null, job: f.job ?? null, trial: f.trial ?? null, why: f.why, action: f.action, cleanup: f.cleanup,
});

export async function insights(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const a = await assess(ctx);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, now: a.now.toISOString(), regions: a.regions, findings: a.insights.findings.map(findingJson), notes: a.insights.notes }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  ctx.stdout.write(renderInsights(a, c));
  return 0;
}

export function renderFindings(findings: readonly Finding[], c: Palette): string {
  return renderTable(findings, [
    { header: 'KIND', value: (f) => (f.kind === 'untagged-training' ? c.yellow(f.kind) : c.red(f.kind)) },
    { header: 'INSTANCE', value: (f) => f.instance },
    { header: 'REGION', value: (f) => f.region },
    { header: 'TYPE', value: (f) => f.instanceType },
    { header: 'TRIAL', value: (f) => (f.trial ? `${f.project}/${f.trial}` : '-'), max: 48 },
    { header: 'WHY', value: (f) => f.why },
  ], { header: c.bold });
}

function renderInsights(a: Assessment, c: Palette): string {
  const { findings, notes } = a.insights;
  const out: string[] = [];
  const managed = a.instances.filter((i) => i.managed).length;
  if (findings.length === 0) out.push(`Nothing needs attention: ${managed} managed and ${a.instances.length - managed} other instances in ${a.regions.join(', ')}.`);
  else {
    out.push(renderFindings(findings, c).trimEnd(), '');
    const actions = new Map<string, Finding[]>();
    for (const f of findings) actions.set(f.action, [...(actions.get(f.action) ?? []), f]);
    for (const [action, fs] of actions) {
      const kinds = [...new Set(fs.map((f) => f.kind))].join(', ');
      out.push(`${c.bold('→')} ${kinds} (${fs.length}): ${action}`);
    }
    const doomed = new Map(findings.filter((f) => f.cleanup).map((f) => [f.instance, f]));
    const burn = a.instances.filter((i) => doomed.has(i.id)).reduce((s, i) => s + (i.price?.usdPerHour ?? 0), 0);
    const rows = inventoryRows(a.instances.filter((i) => doomed.has(i.id)), a.now);
    const spent = rows.reduce((s, r) => s + (r.spendUSD ?? 0), 0);
    out.push('', `Insights: ${count(findings, 'zombie')} zombie, ${count(findings, 'orphan')} orphan, ${count(findings, 'idle-gpu')} idle GPU, ${count(findings, 'untagged-training')} untagged training; ${doomed.size} to clean up (burning ${usd(burn)}/h, spent ${usd(spent)} so far).`);
  }
  for (const n of notes) out.push(c.dim(`note: ${n}`));
  return `${out.join('\n')}\n`;
}

const count = (fs: readonly Finding[], kind: Finding['kind']) => fs.filter((f) => f.kind === kind).length;
