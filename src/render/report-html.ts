// The experiment report: one self-contained HTML page (inline CSS, inline SVG, a few lines of
// inline script, a CSP that forbids every fetch) with each trial's metric curves, the ranking
// metric against each parameter, and the comparison table. Pure: data in, a string out.
import { formatDuration } from '../core/duration.js';
import type { CurvePoint, Objective, ParameterSeries, RankedRow, Ranking } from '../core/experiments.js';
import type { TrialState } from '../core/status.js';

export interface ReportInput {
  project: string;
  job: string;
  generatedAt: string;
  objective?: Objective;
  ranking?: Ranking;
  parameters: readonly string[];
  metrics: readonly string[];
  /** Best first. */
  rows: readonly RankedRow[];
  summary: { trials: number; counts: Partial<Record<TrialState, number>>; costUSD: number; best?: { trial: string; metric: string; value: number } };
  /** One chart per metric; a curve per trial that has points of it. */
  curves: readonly { metric: string; trials: readonly { trial: string; points: readonly CurvePoint[] }[] }[];
  series: readonly ParameterSeries[];
  /** Anything else to embed as the page's machine-readable data (the compare JSON). */
  data?: unknown;
}

const W = 720;
const H = 340;
const M = { left: 70, right: 20, top: 16, bottom: 46 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

// Tableau 10: distinguishable, and readable on light and dark backgrounds
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** A colour per trial, by rank; past ten, hues around the wheel at the golden angle. */
export function trialColor(i: number): string {
  return i < COLORS.length ? COLORS[i]! : `hsl(${Math.round((i * 137.508) % 360)} 55% 50%)`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/** Three significant digits, exponent for the very small and very large. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('.0e', 'e');
  return String(Number(v.toPrecision(3)));
}

const formatValue = (v: number) => String(Number(v.toPrecision(4)));

interface Scale { map(v: number): number; ticks: number[]; log: boolean }

/** Linear, or log10 when every value is positive and they span `logRatio` or more. */
export function makeScale(values: readonly number[], lo: number, hi: number, logRatio: number): Scale {
  let min = Math.min(...values);
  let max = Math.max(...values);
  const log = min > 0 && max / min >= logRatio;
  if (log) {
    const a = Math.log10(min);
    const b = Math.log10(max);
    const pad = (b - a) * 0.04;
    const [l0, l1] = [a - pad, b + pad];
    const ticks: number[] = [];
    const span = Math.ceil(l1) - Math.floor(l0);
    const steps = span <= 2 ? [1, 2, 5] : [1];
    const every = Math.max(1, Math.ceil(span / 8));
    for (let e = Math.floor(l0); e <= Math.ceil(l1); e += every) {
      for (const m of steps) {
        const t = Number((m * 10 ** e).toPrecision(12));
        const lt = Math.log10(t);
        if (lt >= l0 && lt <= l1) ticks.push(t);
      }
    }
    return { log, ticks, map: (v) => lo + ((Math.log10(v) - l0) / (l1 - l0)) * (hi - lo) };
  }
  if (min === max) {
    const d = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= d;
    max += d;
  } else {
    const pad = (max - min) * 0.04;
    min -= pad;
    max += pad;
  }
  const ticks = niceTicks(min, max, 6);
  return { log, ticks, map: (v) => lo + ((v - min) / (max - min)) * (hi - lo) };
}

function niceTicks(min: number, max: number, count: number): number[] {
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

const n = (v: number) => (Math.round(v * 10) / 10).toString();

function frame(xTicks: { at: number; label: string }[], yScale: Scale, xLabel: string, yLabel: string): string {
  const parts: string[] = [];
  for (const t of yScale.ticks) {
    const y = yScale.map(t);
    parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${n(y)}" y2="${n(y)}"/><text class="tick" x="${M.left - 6}" y="${n(y + 4)}" text-anchor="end">${escapeHtml(formatTick(t))}</text>`);
  }
  for (const t of xTicks) {
    parts.push(`<line class="grid" x1="${n(t.at)}" x2="${n(t.at)}" y1="${M.top}" y2="${H - M.bottom}"/><text class="tick" x="${n(t.at)}" y="${H - M.bottom + 16}" text-anchor="middle">${escapeHtml(t.label)}</text>`);
  }
  parts.push(`<rect class="plot" x="${M.left}" y="${M.top}" width="${PW}" height="${PH}"/>`);
  parts.push(`<text class="label" x="${M.left + PW / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(xLabel)}</text>`);
  parts.push(`<text class="label" transform="translate(14 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}${yScale.log ? ' (log)' : ''}</text>`);
  return parts.join('');
}

function svg(id: string, attrs: string, body: string, title: string): string {
  return `<svg id="${escapeHtml(id)}" ${attrs} viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">${body}</svg>`;
}

function curveChart(metric: string, trials: ReportInput['curves'][number]['trials'], colorOf: Map<string, string>, rowOf: Map<string, RankedRow>): string {
  const values = trials.flatMap((t) => t.points.map((p) => p[1]));
  const steps = trials.flatMap((t) => t.points.map((p) => p[0]));
  const x = makeScale(steps, M.left, W - M.right, Infinity);
  const y = makeScale(values, H - M.bottom, M.top, 100);
  const paths = trials.map((t) => {
    // a single point is a zero-length segment: round caps draw it as a dot
    const d = t.points.map((p, i) => `${i ? 'L' : 'M'}${n(x.map(p[0]))} ${n(y.map(p[1]))}`).join('') + (t.points.length === 1 ? 'h0' : '');
    const last = t.points.at(-1)!;
    const row = rowOf.get(t.trial);
    const params = Object.entries(row?.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(' ');
    const tip = `${t.trial} ${params}\n${metric} ${formatValue(last[1])} at step ${last[0]}${row?.state === 'failed' ? ' (failed)' : ''}`;
    // a failed trial's curve is dashed, as its point in the parameter charts is hollow
    const dash = row?.state === 'failed' ? ' stroke-dasharray="5 4"' : '';
    return `<path class="curve" data-trial="${escapeHtml(t.trial)}" stroke="${colorOf.get(t.trial) ?? '#888'}"${dash} d="${d}"><title>${escapeHtml(tip)}</title></path>`;
  });
  const xTicks = x.ticks.map((t) => ({ at: x.map(t), label: formatTick(t) }));
  return svg(`curves-${metric}`, `class="chart curves" data-metric="${escapeHtml(metric)}"`, frame(xTicks, y, 'step', metric) + paths.join(''), `${metric} by step, one curve per trial`);
}

function parameterChart(s: ParameterSeries, yName: string, colorOf: Map<string, string>): string {
  const ys = s.points.map((p) => p.y);
  const y = makeScale(ys, H - M.bottom, M.top, 100);
  let xAt: (v: string | number | boolean) => number;
  let xTicks: { at: number; label: string }[];
  if (s.numeric) {
    const x = makeScale(s.values as number[], M.left, W - M.right, 10);
    xAt = (v) => x.map(v as number);
    xTicks = (s.values.length <= 8 ? (s.values as number[]) : x.ticks).map((t) => ({ at: x.map(t), label: formatTick(t) }));
  } else {
    const slot = PW / Math.max(1, s.values.length);
    const index = new Map(s.values.map((v, i) => [`${typeof v}:${String(v)}`, i]));
    xAt = (v) => M.left + slot * ((index.get(`${typeof v}:${String(v)}`) ?? 0) + 0.5);
    xTicks = s.values.map((v) => ({ at: xAt(v), label: String(v) }));
  }
  const dots = s.points.map((p) => {
    const color = colorOf.get(p.trial) ?? '#888';
    const fill = p.state === 'failed' ? 'none' : color;
    return `<circle class="point" data-trial="${escapeHtml(p.trial)}" cx="${n(xAt(p.x))}" cy="${n(y.map(p.y))}" r="5" fill="${fill}" stroke="${color}"><title>${escapeHtml(`${p.trial}: ${s.parameter}=${String(p.x)}, ${yName} ${formatValue(p.y)}${p.state === 'failed' ? ' (failed)' : ''}`)}</title></circle>`;
  });
  return svg(`param-${s.parameter}`, `class="chart parameter" data-parameter="${escapeHtml(s.parameter)}"`, (s.points.length ? frame(xTicks, y, s.parameter, yName) : '') + dots.join(''), `${yName} against ${s.parameter}`);
}

const STATE_CLASS: Partial<Record<TrialState, string>> = { succeeded: 'ok', failed: 'bad', lost: 'bad', running: 'live', starting: 'live', stopped: 'warn', 'early-stopped': 'warn', interrupted: 'warn' };

function comparisonTable(input: ReportInput, colorOf: Map<string, string>): string {
  const params = new Set(input.parameters);
  const head = [
    '<th></th><th>rank</th><th>trial</th><th>state</th>',
    ...input.parameters.map((p) => `<th class="param">${escapeHtml(p)}</th>`),
    input.objective ? `<th class="num">best ${escapeHtml(input.objective.metric)}</th>` : '',
    ...input.metrics.map((m) => `<th class="num">${escapeHtml(params.has(m) ? `final.${m}` : m)}</th>`),
    '<th class="num">step</th><th class="num">elapsed</th><th class="num">cost</th>',
  ].join('');
  const body = input.rows.map((r) => {
    const best = r.best ? `${formatValue(r.best.value)}${r.best.step === undefined ? '' : ` <small>@${r.best.step}</small>`}` : '–';
    return `<tr data-trial="${escapeHtml(r.trial)}"${r.rank !== undefined ? ` data-rank="${r.rank}"` : ''}>${[
      `<td><span class="swatch" style="background:${colorOf.get(r.trial)}"></span></td>`,
      `<td class="num">${r.rank ?? '–'}</td>`,
      `<td class="trial">${escapeHtml(r.trial)}</td>`,
      `<td><span class="state ${STATE_CLASS[r.state] ?? ''}">${escapeHtml(r.state)}</span></td>`,
      ...input.parameters.map((p) => `<td class="param">${r.parameters[p] === undefined ? '–' : escapeHtml(String(r.parameters[p]))}</td>`),
      input.objective ? `<td class="num">${best}</td>` : '',
      ...input.metrics.map((m) => `<td class="num">${r.final[m] === undefined ? '–' : formatValue(r.final[m]!)}</td>`),
      `<td class="num">${r.step ?? '–'}</td>`,
      `<td class="num">${r.elapsedMs ? formatDuration(r.elapsedMs) : '–'}</td>`,
      `<td class="num">$${r.costUSD.toFixed(2)}</td>`,
    ].join('')}</tr>`;
  }).join('\n');
  return `<table id="comparison"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const CSS = `
:root{--fg:#1f2328;--muted:#656d76;--bg:#fff;--line:#d0d7de;--grid:#eaeef2;--panel:#f6f8fa;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--bg:#0d1117;--line:#30363d;--grid:#21262d;--panel:#161b22}}
*{box-sizing:border-box}body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.meta{color:var(--muted);margin:0}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}.chart{max-width:100%;height:auto;background:var(--panel);border:1px solid var(--line);border-radius:6px}
.grid{stroke:var(--grid)}.plot{fill:none;stroke:var(--line)}.tick{font-size:11px;fill:var(--muted)}.label{font-size:12px;fill:var(--fg)}
.curve{fill:none;stroke-width:1.8;stroke-linecap:round;stroke-linejoin:round}.point{stroke-width:2}
body.focus .curve,body.focus .point{opacity:.15}body.focus .hl{opacity:1;stroke-width:3}body.focus tr.hl{background:var(--panel)}
table{border-collapse:collapse;margin-top:4px}th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{font-weight:600;color:var(--muted)}.num{text-align:right;font-variant-numeric:tabular-nums}.trial{font-family:ui-monospace,monospace;font-size:13px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px}tbody tr{cursor:default}
.state.ok{color:#1a7f37}.state.bad{color:#cf222e}.state.live{color:#0969da}.state.warn{color:#9a6700}.empty{color:var(--muted)}
`;

// Hovering a trial anywhere (row, curve, point) picks it out everywhere.
const SCRIPT = `
(function(){
  var on=function(id){document.body.classList.add('focus');document.querySelectorAll('[data-trial]').forEach(function(e){e.classList.toggle('hl',e.getAttribute('data-trial')===id)})};
  var off=function(){document.body.classList.remove('focus');document.querySelectorAll('.hl').forEach(function(e){e.classList.remove('hl')})};
  document.querySelectorAll('[data-trial]').forEach(function(e){e.addEventListener('mouseenter',function(){on(e.getAttribute('data-trial'))});e.addEventListener('mouseleave',off)});
})();
`;

export function renderReportHtml(input: ReportInput): string {
  const colorOf = new Map(input.rows.map((r, i) => [r.trial, trialColor(i)]));
  const rowOf = new Map(input.rows.map((r) => [r.trial, r]));
  const title = `${input.project}/${input.job}`;
  const counts = Object.entries(input.summary.counts).map(([s, c]) => `${c} ${s}`).join(', ');
  const best = input.summary.best ? ` · best ${escapeHtml(input.summary.best.metric)} ${formatValue(input.summary.best.value)} (${escapeHtml(input.summary.best.trial)})` : '';
  const order = input.ranking ? `best first by ${input.ranking.by} ${escapeHtml(input.ranking.metric)} (${input.ranking.goal})` : 'in spec order (no objective)';
  const curveCharts = input.curves.filter((c) => c.trials.length).map((c) => `<figure>${curveChart(c.metric, c.trials, colorOf, rowOf)}</figure>`);
  const yName = input.ranking ? `${input.ranking.by === 'best' ? 'best ' : ''}${input.ranking.metric}` : '';
  const paramCharts = input.ranking ? input.series.map((s) => `<figure>${parameterChart(s, yName, colorOf)}</figure>`) : [];
  const data = input.data === undefined ? '' : `<script type="application/json" id="experiment-data">${JSON.stringify(input.data).replace(/</g, '\\u003c')}</script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — trainctl experiment report</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${input.summary.trials} trial${input.summary.trials === 1 ? '' : 's'}${counts ? ` — ${escapeHtml(counts)}` : ''}${best} · spent $${input.summary.costUSD.toFixed(2)}</p>
<p class="meta">${input.objective ? `objective: ${input.objective.goal} ${escapeHtml(input.objective.metric)} · ` : ''}generated ${escapeHtml(input.generatedAt)} by trainctl</p>
</header>
<section id="curves">
<h2>Metrics by step</h2>
${curveCharts.length ? `<div class="charts">${curveCharts.join('\n')}</div>` : '<p class="empty">No metric points recorded yet.</p>'}
</section>
<section id="parameters">
<h2>${input.ranking ? `${escapeHtml(yName)} against each parameter` : 'Parameters'}</h2>
${!input.ranking ? '<p class="empty">The job has no metrics.objective: pass --sort &lt;metric&gt; to plot a metric against the parameters.</p>'
    : paramCharts.length ? `<div class="charts">${paramCharts.join('\n')}</div>` : '<p class="empty">The job has no hyperparameters.</p>'}
</section>
<section id="table">
<h2>Trials, ${order}</h2>
${comparisonTable(input, colorOf)}
<p class="meta">Metric columns are final values; a failed trial is not ranked, and is drawn dashed and hollow.</p>
</section>
${data}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
