// `trainctl experiments report <job>`: the job's curves, the objective against each parameter and
// the comparison table, written as one self-contained HTML file.
import { writeFile, rename } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitError } from '../core/errors.js';
import { currentPoints, curveMetrics, curveOf, parameterSeries } from '../core/experiments.js';
import { renderReportHtml } from '../render/report-html.js';
import type { CommandContext } from './commands.js';
import { experimentJson, experimentOf, gatherEvidence, loadExperimentJobs, pickJob, rankingOf } from './experiments-evidence.js';

/** Charts per report: past this many metrics the page stops being readable. */
const MAX_CURVE_CHARTS = 8;

export async function report(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length > 1) throw new ExitError(`unexpected argument "${ctx.positionals[1]}"`, 1, 'usage: trainctl experiments report <job> [-f <spec>] [-o report.html]');
  const job = pickJob(loadExperimentJobs(ctx), ctx.positionals[0], 'report');
  const out = (ctx.values.output as string | undefined) ?? 'report.html';
  const now = new Date();
  const [ev] = await gatherEvidence(ctx, [job], now);
  const x = experimentOf(ev!, rankingOf(ev!.objective, ctx.values.sort as string | undefined));
  const pointsOf = new Map(ev!.trials.map((t) => [t.trial, currentPoints(t)]));
  const ordered = x.rows.map((r) => ({ trial: r.trial, points: pointsOf.get(r.trial) ?? [] }));
  const metrics = curveMetrics(ordered.map((t) => t.points), x.ranking?.metric ?? x.objective?.metric).slice(0, MAX_CURVE_CHARTS);
  const curves = metrics.map((metric) => ({
    metric,
    trials: ordered.map((t) => ({ trial: t.trial, points: curveOf(t.points, metric) })).filter((t) => t.points.length > 0),
  }));
  const html = renderReportHtml({
    project: x.project, job: x.job, generatedAt: now.toISOString(),
    ...(x.objective ? { objective: x.objective } : {}),
    ...(x.ranking ? { ranking: x.ranking } : {}),
    parameters: x.parameters, metrics: x.metrics, rows: x.rows, summary: x.summary,
    curves, series: parameterSeries(x.rows, x.parameters),
    data: { formatVersion: 1, generatedAt: now.toISOString(), ...experimentJson(x) },
  });
  if (out === '-') {
    ctx.stdout.write(html);
    return 0;
  }
  const path = resolve(ctx.cwd, out);
  // a browser tab reloading the report never sees half a page
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, html);
    await rename(tmp, path);
  } catch (err) {
    throw new ExitError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1, 'check that its directory exists and is writable');
  }
  const shown = curves.filter((c) => c.trials.length).length;
  ctx.stdout.write(`Wrote ${out}: ${x.rows.length} trial${x.rows.length === 1 ? '' : 's'}, ${shown} metric chart${shown === 1 ? '' : 's'}, ${x.ranking ? x.parameters.length : 0} parameter chart${x.ranking && x.parameters.length === 1 ? '' : 's'}\n`);
  return 0;
}
