// The markdown view of a plan, for pull-request comments and GitHub job summaries: the summary
// line, a table of changes per job, warnings, cost and schedule lines, and the full text view
// folded in a <details>. Built from the same words as the text view, so the two never disagree.
import { formatCost } from '../core/cost.js';
import type { Action, Plan } from '../core/plan.js';
import { palette } from './color.js';
import { costLine, driftRepair, formatParameters, reasonText, renderPlanText, scheduleLine, summaryLine } from './plan-text.js';

const SYMBOL: Record<Action['kind'], string> = {
  create: '+', resume: '~', retry: '+', replace: '-/+', stop: '-', delete: '-', wait: '.', noop: ' ',
};

/** A table cell: no line breaks, and pipes that do not end the cell. */
const cell = (s: string) => s.replace(/\r?\n/g, ' ').replace(/\\/g, '\\\\').replace(/\|/g, '\\|');

/** Inline code that survives backticks in the text (CommonMark: a longer fence, padded). */
function code(s: string): string {
  if (s === '') return '';
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s}${pad}${fence}`;
}

const shownInTable = (a: Action) => a.kind !== 'noop' || (a.reason !== 'running' && a.reason !== 'finished');

function actionTable(actions: readonly Action[], priced: boolean): string[] {
  const head = priced ? '| | action | trial | parameters | reason | worst case |' : '| | action | trial | parameters | reason |';
  const rule = priced ? '|---|---|---|---|---|--:|' : '|---|---|---|---|---|';
  const rows = actions.map((a) => {
    const resources = a.kind === 'stop' || a.kind === 'delete' ? ` (${(a.resources ?? []).join(', ')})` : '';
    const cols = [code(SYMBOL[a.kind].trim()), a.kind, code(a.trial), code(formatParameters(a.parameters)), `${reasonText(a)}${resources}`];
    if (priced) cols.push(a.estimatedCostUSD === undefined ? '' : formatCost(a.estimatedCostUSD));
    return `| ${cols.map(cell).join(' | ')} |`;
  });
  return [head, rule, ...rows];
}

export interface PlanMarkdownOptions {
  /** Heading above the plan; default "trainctl plan". */
  title?: string;
}

export function renderPlanMarkdown(plan: Plan, opts: PlanMarkdownOptions = {}): string {
  const plain = palette(false);
  const out: string[] = [`### ${opts.title ?? 'trainctl plan'}`, '', `**${summaryLine(plan, plain).replace(/^(Plan:|No changes\.)\s*/, '$1** ')}`, ''];
  for (const job of plan.jobs) {
    const key = `${job.project}/${job.job}`;
    const mine = plan.actions.filter((a) => `${a.project}/${a.job}` === key);
    const shown = mine.filter(shownInTable);
    const unchanged = mine.length - shown.length;
    const spend = job.costLimitUSD !== undefined ? `, spent $${job.spentUSD.toFixed(2)} of $${job.costLimitUSD.toFixed(2)}` : '';
    out.push(`#### job ${code(key)}`, '', `${job.trials} trial${job.trials === 1 ? '' : 's'}${unchanged ? `, ${unchanged} unchanged` : ''}${spend}`, '');
    if (shown.length) out.push(...actionTable(shown, (job.estimate?.usdPerHour ?? 0) > 0), '');
    const notes = [costLine(job), scheduleLine(job)].filter((l): l is string => l !== undefined).map((l) => `- ${l.trim()}`);
    if (notes.length) out.push(...notes, '');
  }
  const orphans = plan.actions.filter((a) => a.kind === 'delete' && !plan.jobs.some((j) => j.project === a.project && j.job === a.job));
  if (orphans.length) out.push('#### not in any spec', '', ...actionTable(orphans, false), '');
  const drifted = plan.actions.filter((a) => a.drift?.length);
  if (drifted.length) out.push('**Drift** (changed outside trainctl)', '', ...drifted.flatMap((a) => a.drift!.map((d) => `- ${code(a.trial)}: ${d.replace(/\r?\n/g, ' ')}; ${driftRepair(a)}`)), '');
  if (plan.warnings.length) out.push('**Warnings**', '', ...plan.warnings.map((w) => `- ${w.replace(/\r?\n/g, ' ')}`), '');
  const text = renderPlanText(plan, plain).trimEnd();
  const fence = '`'.repeat(Math.max(3, ...(text.match(/`{3,}/g) ?? []).map((m) => m.length + 1)));
  out.push('<details><summary>Full plan</summary>', '', `${fence}text`, text, fence, '', '</details>');
  return `${out.join('\n')}\n`;
}
