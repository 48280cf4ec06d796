// `trainctl plan`: spec → expand → observe → plan, rendered for humans, as JSON or as markdown.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { hasChanges } from '../core/plan.js';
import { planJobs } from '../engine/planning.js';
import { colorEnabled, palette } from '../render/color.js';
import { planJson } from '../render/plan-json.js';
import { renderPlanMarkdown } from '../render/plan-markdown.js';
import { renderPlanText } from '../render/plan-text.js';
import type { CommandContext } from './commands.js';
import { clockOf, loadJobs, outputFormat, trainctlHome } from './shared.js';

export async function run(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json', 'markdown'] as const);
  const { jobs, ok, inputs } = loadJobs(ctx);
  if (!ok) return 1;
  const { plan, desiredDigest } = await planJobs(jobs, { home: trainctlHome(ctx.env) }, { prune: Boolean(ctx.values.prune) }, clockOf(ctx));
  const json = planJson(plan, { inputs, desiredDigest });
  if (typeof ctx.values.out === 'string') writeAtomic(resolve(ctx.cwd, ctx.values.out), `${JSON.stringify({ ...json, cwd: ctx.cwd }, null, 2)}\n`);
  if (format === 'json') ctx.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else if (format === 'markdown') ctx.stdout.write(renderPlanMarkdown(plan));
  else {
    const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
    ctx.stdout.write(renderPlanText(plan, c));
    if (typeof ctx.values.out === 'string') ctx.stdout.write(`\nSaved the plan to ${ctx.values.out}; \`trainctl apply ${ctx.values.out}\` carries out exactly this plan.\n`);
  }
  return ctx.values['detailed-exitcode'] && hasChanges(plan) ? 2 : 0;
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
