// bench:plan — plan a 10,000-trial grid against 10,000 observed records. Prints CPU time per
// stage and the process's peak RSS. Goal (issue 4): well under 1 s of CPU and under 300 MB.
import { plan } from '../src/core/plan.js';
import type { Observed, ObservedResource, TrialRecord } from '../src/core/observed.js';
import { desiredOf } from '../src/engine/planning.js';
import { loadText } from '../src/spec/load.js';
import { planJson } from '../src/render/plan-json.js';
import { renderPlanText } from '../src/render/plan-text.js';
import { palette } from '../src/render/color.js';

const SPEC = `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: big-sweep, project: bench }
spec:
  code: { path: ., command: "python3 train.py --lr {lr} --wd {wd} --bs {bs} --seed {seed}" }
  hyperparameters:
    parameters:
      lr: [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001]
      wd: [0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
      bs: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256]
      seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    maxParallel: 500
  retry: { onFailure: 2 }
  limits: { costUSD: 100000, maxDuration: 12h }
`;

function cpuMs<T>(fn: () => T): [T, number] {
  const start = process.cpuUsage();
  const out = fn();
  const d = process.cpuUsage(start);
  return [out, (d.user + d.system) / 1000];
}

const [loaded, loadMs] = cpuMs(() => loadText(SPEC, 'bench.yaml', { cwd: process.cwd(), dir: process.cwd(), defaultOutputUri: 'file:///tmp/bench-runs' }));
if (loaded.jobs.length !== 1) throw new Error(`bench spec did not load: ${JSON.stringify(loaded.diagnostics)}`);
const [{ desired, trials }, expandMs] = cpuMs(() => desiredOf(loaded.jobs));

// 10,000 records: a mix of every state the planner distinguishes, plus 300 live trials.
const states = ['succeeded', 'failed', 'interrupted', 'running', 'stopped'] as const;
const now = new Date('2026-11-25T12:00:00Z');
const records: TrialRecord[] = [];
const resources: ObservedResource[] = [];
trials.forEach((t, i) => {
  const state = states[i % states.length]!;
  const specHash = i % 97 === 0 ? 'changed00000' : t.specHash;
  const rec: TrialRecord = {
    project: t.project, job: t.job, trial: t.id, specHash,
    attempts: [{ n: 1, specHash, state, step: 100 + i, startedAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T11:00:00Z', costUSD: 0.01 }],
  };
  if (state === 'succeeded') rec.result = { state: 'succeeded', specHash, finishedAt: '2026-11-25T11:00:00Z' };
  if (state === 'interrupted' && i % 2 === 0) rec.checkpoint = { step: 100 };
  records.push(rec);
  if (state === 'running' && resources.length < 300) {
    resources.push({ provider: 'local', id: `node-${i}`, project: t.project, job: t.job, trial: t.id, specHash, nodeRank: 0, attempt: 1, state: 'running', launchedAt: '2026-11-25T10:00:00Z' });
  }
});
const observed: Observed = { records, resources };

const runs: number[] = [];
let result = plan(desired, observed, { prune: false }, now);
for (let i = 0; i < 5; i++) {
  const [p, ms] = cpuMs(() => plan(desired, observed, { prune: false }, now));
  result = p;
  runs.push(ms);
}
runs.sort((a, b) => a - b);
const [text, textMs] = cpuMs(() => renderPlanText(result, palette(false)));
const [json, jsonMs] = cpuMs(() => JSON.stringify(planJson(result, { inputs: ['bench.yaml'], desiredDigest: '' })));
const rssMB = process.resourceUsage().maxRSS / 1024;

const fmt = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`;
console.log(`bench:plan — ${trials.length} trials, ${records.length} records, ${resources.length} live resources`);
console.log(`  load + validate spec   ${fmt(loadMs)} CPU`);
console.log(`  expand grid            ${fmt(expandMs)} CPU`);
console.log(`  plan (median of 5)     ${fmt(runs[2]!)} CPU   (min ${runs[0]!.toFixed(1)}, max ${runs[4]!.toFixed(1)})`);
console.log(`  render text            ${fmt(textMs)} CPU   (${(text.length / 1024).toFixed(0)} KiB)`);
console.log(`  render JSON            ${fmt(jsonMs)} CPU   (${(json.length / 1024).toFixed(0)} KiB)`);
const total = loadMs + expandMs + runs[2]! + textMs;
console.log(`  total load→plan→text   ${fmt(total)} CPU   goal < 1000 ms: ${total < 1000 ? 'met' : 'MISSED'}`);
console.log(`  peak RSS               ${rssMB.toFixed(0).padStart(7)} MB    goal < 300 MB: ${rssMB < 300 ? 'met' : 'MISSED'}`);
console.log(`  summary: ${JSON.stringify(result.summary)}`);
