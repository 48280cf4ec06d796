// `trainctl resources list|summary`: the managed instances of the regions, with age, trial, hourly
// price and spend so far, and the same rolled up by project, job, region and state.
import { formatDuration } from '../core/duration.js';
import { inventoryRows, summarize, type InventoryRow, type SpendGroup } from '../core/insights.js';
import { colorEnabled, palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { clockOf, givenJobs, readInventory, regionsOf, usd } from './resources-shared.js';
import { outputFormat } from './shared.js';

async function managedRows(ctx: CommandContext): Promise<{ rows: InventoryRow[]; regions: string[]; now: Date }> {
  const jobs = givenJobs(ctx);
  const regions = regionsOf(ctx, jobs);
  const now = clockOf(ctx);
  const rows = inventoryRows(await readInventory(ctx, regions, { managedOnly: true }), now);
  return { rows, regions, now };
}

/** One instance in `list --output json` (formatVersion 1): every field always present, null when unknown. */
export function instanceJson(r: InventoryRow) {
  return {
    id: r.id, region: r.region, az: r.az ?? null, state: r.state, instanceType: r.instanceType, market: r.market,
    project: r.project ?? null, job: r.job ?? null, trial: r.trial ?? null, rank: r.rank ?? null, attempt: r.attempt ?? null,
    launchedAt: r.launchedAt, ageSeconds: Math.round(r.ageMs / 1000),
    hourlyUSD: r.price?.usdPerHour ?? null, priceSource: r.price?.source ?? null, spendUSD: r.spendUSD,
  };
}

export async function list(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const { rows, regions, now } = await managedRows(ctx);
  const s = summarize(rows);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, now: now.toISOString(), regions, instances: rows.map(instanceJson), total: s.total }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  if (rows.length === 0) {
    ctx.stdout.write(`No managed instances in ${regions.join(', ')}.\n`);
    return 0;
  }
  ctx.stdout.write(renderTable(rows, [
    { header: 'INSTANCE', value: (r) => r.id },
    { header: 'REGION', value: (r) => r.region },
    { header: 'STATE', value: (r) => (r.state === 'running' ? c.green(r.state) : r.state) },
    { header: 'TYPE', value: (r) => r.instanceType },
    { header: 'MARKET', value: (r) => r.market },
    { header: 'PROJECT', value: (r) => r.project ?? '-', max: 24 },
    { header: 'JOB', value: (r) => r.job ?? '-', max: 24 },
    { header: 'TRIAL', value: (r) => r.trial ?? '-', max: 40 },
    { header: 'RANK', value: (r) => (r.rank === undefined ? '-' : String(r.rank)), align: 'right' },
    { header: 'ATTEMPT', value: (r) => (r.attempt === undefined ? '-' : String(r.attempt)), align: 'right' },
    { header: 'AGE', value: (r) => formatDuration(r.ageMs), align: 'right' },
    { header: '$/H', value: (r) => usd(r.price?.usdPerHour), align: 'right' },
    { header: 'SPEND', value: (r) => usd(r.spendUSD), align: 'right' },
  ], { header: c.bold }));
  ctx.stdout.write(`\n${totalLine(s.total)}\n`);
  return 0;
}

function totalLine(t: SpendGroup): string {
  const unpriced = t.unpriced ? ` (${t.unpriced} without a price: a type the price table lacks; add it to prices.json)` : '';
  return `${t.instances} managed instance${t.instances === 1 ? '' : 's'}, ${t.running} running; burn ${usd(t.hourlyUSD)}/h, spent ${usd(t.spendUSD)} so far${unpriced}.`;
}

export async function summary(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const { rows, regions, now } = await managedRows(ctx);
  const s = summarize(rows);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, now: now.toISOString(), regions, ...s }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  if (rows.length === 0) {
    ctx.stdout.write(`No managed instances in ${regions.join(', ')}.\n`);
    return 0;
  }
  const section = (title: string, groups: SpendGroup[]) => renderTable(groups, [
    { header: title, value: (g) => g.key, max: 48 },
    { header: 'INSTANCES', value: (g) => String(g.instances), align: 'right' },
    { header: 'RUNNING', value: (g) => String(g.running), align: 'right' },
    { header: '$/H', value: (g) => (g.unpriced === g.instances ? '-' : usd(g.hourlyUSD)), align: 'right' },
    { header: 'SPEND', value: (g) => (g.unpriced === g.instances ? '-' : usd(g.spendUSD)), align: 'right' },
    { header: 'UNPRICED', value: (g) => String(g.unpriced), align: 'right' },
  ], { header: c.bold });
  ctx.stdout.write([
    section('PROJECT', s.byProject), section('JOB', s.byJob), section('REGION', s.byRegion), section('STATE', s.byState),
  ].join('\n'));
  ctx.stdout.write(`\n${c.bold('Total:')} ${totalLine(s.total)}\n`);
  return 0;
}
