// The HTML report as a string (structure, escaping, no network) and CSV quoting; a hostile
// trial name or parameter value is rendered in headless Chromium and must stay text.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rankRows, type ExperimentRow, type Ranking } from '../../src/core/experiments.js';
import { csvField, renderCsv } from '../../src/render/csv.js';
import { escapeHtml, formatTick, makeScale, renderReportHtml, type ReportInput } from '../../src/render/report-html.js';

const CHROMIUM = '/usr/bin/chromium';
const RANKING: Ranking = { metric: 'loss', goal: 'minimize', by: 'best' };

function input(rows: ExperimentRow[], extra: Partial<ReportInput> = {}): ReportInput {
  const ranked = rankRows(rows, RANKING);
  return {
    project: 'lab', job: 'sweep', generatedAt: '2026-01-01T00:00:00.000Z',
    objective: { metric: 'loss', goal: 'minimize' }, ranking: RANKING,
    parameters: ['lr', 'opt'], metrics: ['loss'], rows: ranked,
    summary: { trials: ranked.length, counts: { succeeded: ranked.length }, costUSD: 0 },
    curves: [{ metric: 'loss', trials: ranked.map((r, i) => ({ trial: r.trial, points: [[1, 1], [2, 0.5 / (i + 1)]] as const })) }],
    series: [
      { parameter: 'lr', numeric: true, values: [0.01, 0.1], points: ranked.map((r) => ({ trial: r.trial, x: r.parameters.lr!, y: r.value!, state: r.state })) },
      { parameter: 'opt', numeric: false, values: ['sgd', 'adam'], points: ranked.map((r) => ({ trial: r.trial, x: r.parameters.opt!, y: r.value!, state: r.state })) },
    ],
    ...extra,
  };
}

const trialRow = (trial: string, lr: number, opt: string, loss: number): ExperimentRow => ({
  trial, parameters: { lr, opt }, state: 'succeeded', attempt: 1, costUSD: 0, elapsedMs: 1000, final: { loss }, best: { metric: 'loss', value: loss, step: 2 },
});

describe('renderReportHtml', () => {
  const html = renderReportHtml(input([trialRow('sweep-a', 0.1, 'sgd', 0.5), trialRow('sweep-b', 0.01, 'adam', 0.25)]));

  it('has a curve per trial, a chart per parameter and the table best first', () => {
    expect(html.match(/<path class="curve" data-trial="[^"]+"/g)).toEqual(['<path class="curve" data-trial="sweep-b"', '<path class="curve" data-trial="sweep-a"']);
    expect(html).toContain('data-parameter="lr"');
    expect(html).toContain('data-parameter="opt"');
    expect(html.match(/<tr data-trial="[^"]+" data-rank="\d+"/g)).toEqual(['<tr data-trial="sweep-b" data-rank="1"', '<tr data-trial="sweep-a" data-rank="2"']);
  });

  it('reaches for nothing outside the page', () => {
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).not.toMatch(/url\(/);
    expect(html).not.toMatch(/@import/);
    expect(html).toContain(`content="default-src 'none';`);
  });

  it('says so when there is nothing to plot', () => {
    const empty = renderReportHtml(input([], { curves: [], series: [], ranking: undefined, objective: undefined, parameters: [] }));
    expect(empty).toContain('No metric points recorded yet.');
    expect(empty).toContain('pass --sort &lt;metric&gt;');
    expect(empty).not.toContain('<path class="curve"');
  });

  it('escapes names and values, and the embedded JSON cannot close its script element', () => {
    const evil = '</script><script>alert(1)</script>';
    const page = renderReportHtml(input([trialRow('sweep-x', 0.1, evil, 0.5)], { data: { note: evil } }));
    expect(page).not.toContain('<script>alert(1)');
    expect(page).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('\\u003c/script>\\u003cscript>alert(1)\\u003c/script>');
    expect(escapeHtml(`a&b"c'<>`)).toBe('a&amp;b&quot;c&#39;&lt;&gt;');
  });

  it.runIf(existsSync(CHROMIUM))('keeps a hostile value as text in a real browser', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('dialog', (d) => { problems.push(`dialog ${d.message()}`); void d.dismiss(); });
      page.on('pageerror', (e) => problems.push(`pageerror ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console ${m.text()}`); });
      const evil = '<img src=x onerror=alert(1)>';
      await page.setContent(renderReportHtml(input([trialRow('sweep-x', 0.1, evil, 0.5)], { data: { evil } })));
      expect(problems).toEqual([]);
      expect(await page.locator('#comparison tbody td.param').nth(1).textContent()).toBe(evil);
      expect(await page.locator('img').count()).toBe(0);
      expect(JSON.parse((await page.locator('#experiment-data').textContent())!)).toEqual({ evil });
    } finally {
      await browser.close();
    }
  });
});

describe('scales', () => {
  it('goes log when positive values span the ratio, with decade ticks', () => {
    const s = makeScale([1e-6, 1], 300, 0, 100);
    expect(s.log).toBe(true);
    expect(s.ticks).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]);
    expect(s.map(1e-6)).toBeGreaterThan(s.map(1));
  });

  it('stays linear otherwise, with round ticks, and survives a flat series', () => {
    expect(makeScale([0, 1], 0, 100, 100)).toMatchObject({ log: false, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    expect(makeScale([-1, 5], 0, 100, 100).log).toBe(false);
    const flat = makeScale([2, 2], 0, 100, 100);
    expect(flat.map(2)).toBeCloseTo(50);
  });

  it('formats ticks short', () => {
    expect([0, 0.1, 0.25, 1500, 1e-5, 2.5e7].map(formatTick)).toEqual(['0', '0.1', '0.25', '1500', '1e-5', '2.5e+7']);
  });
});

describe('CSV (RFC 4180)', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    [0.5, '0.5'],
    [true, 'true'],
    [null, ''],
    [undefined, ''],
  ] as const)('%j → %s', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it('ends every record with CRLF', () => {
    expect(renderCsv(['a', 'b'], [[1, 'x,y'], [null, 2]])).toBe('a,b\r\n1,"x,y"\r\n,2\r\n');
  });
});
