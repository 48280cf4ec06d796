// Interruptions and DDP end to end (issue 5), all through the built CLI (`node dist/bin.js`), the
// real runner and real training processes, in a temp TRAINCTL_HOME per case: a runner killed
// with SIGKILL (node lost) or SIGTERM (spot path) mid-training, then plan and apply --wait resume
// it; DDP over gloo on CPU in 1 node × 2 processes and 2 nodes × 1 process; SIGTERM of every
// runner of a running DDP trial in both layouts, then resumed.
// The training scripts (test/fixtures/e2e/) are deterministic per step, so the metrics of a
// resumed attempt must match an uninterrupted run's step for step.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../../src/providers/local/nodes.js';
import { repoRoot, runCli, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';

const PY = '/usr/bin/python3';
const code = join(repoRoot, 'test/fixtures/e2e');
const homes: string[] = [];

const torchProbe = spawnSync(PY, ['-c', 'import torch.distributed'], { encoding: 'utf8' });
/** DDP needs Debian's python3-torch; without it these tests fail (they are never skipped). */
function requireTorch(): void {
  if (torchProbe.status === 0) return;
  const why = (torchProbe.stderr || torchProbe.error?.message || '').trim().split('\n').at(-1);
  throw new Error(`${PY} cannot import torch (${why}): install Debian's python3-torch — apt-get install -y --no-install-recommends python3-torch (npm test installs it through scripts/deps.mjs)`);
}

function suite(name: string) {
  const dir = tempDir(`trainctl-e2e-${name}-`);
  const home = join(dir, 'home');
  homes.push(home);
  const cli = (args: string[]) => runCli(args, { cwd: dir, env: { TRAINCTL_HOME: home } });
  const trialDir = (job: string, trial: string) => join(home, 'runs/e2e', job, trial);
  const workDir = (trial: string, attempt: number, rank = 0) => join(home, 'local/work/e2e', trial, `a${attempt}`, `r${rank}`, 'code');
  return { dir, home, cli, trialDir, workDir };
}

interface JobOptions { name: string; command: string; pattern: string; keepLastN?: number; extra?: string }
const spec = (o: JobOptions) => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${o.name}, project: e2e }
spec:
  code: { path: ${code}, command: "${o.command}" }
  checkpoint: { dir: checkpoints/, pattern: "${o.pattern}", keepLastN: ${o.keepLastN ?? 3}, gracePeriod: 20s }
  hyperparameters: { parameters: { lr: [0.05] } }
  metrics: { objective: { metric: loss, goal: minimize } }
${o.extra ?? ''}`;

// ---- reading the world -------------------------------------------------------------------------

interface NodeRecord { id: string; trial: string; attempt: number; nodeRank: number; pid: number | null; pidStart: string; masterPort?: number }

/** The local provider's node records, $TRAINCTL_HOME/local/nodes/*.json, as written. */
function nodeRecords(home: string): NodeRecord[] {
  const dir = join(home, 'local/nodes');
  return readdirSafe(dir).filter((f) => f.endsWith('.json')).flatMap((f) => {
    const rec = readJson<NodeRecord>(join(dir, f));
    return rec ? [rec] : [];
  });
}

/** Runner pids of one attempt, one per node rank, once every rank has one. */
function runnerPids(home: string, trial: string, attempt: number, nodes: number): number[] | undefined {
  const recs = nodeRecords(home).filter((r) => r.trial === trial && r.attempt === attempt).sort((a, b) => a.nodeRank - b.nodeRank);
  return recs.length === nodes && recs.every((r) => typeof r.pid === 'number') ? recs.map((r) => r.pid!) : undefined;
}

/** Alive and not a zombie. */
const alive = (pid: number) => processStartTime(pid) !== undefined;

/** Live (non-zombie) members of a process group, from /proc. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const f of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${f}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) out.push(Number(f));
  }
  return out;
}

function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function readdirSafe(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function readJson<T = Record<string, unknown>>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

interface Point { attempt: number; step: number; loss: number; world?: number }
function metricRows(trialDir: string): Point[] {
  const path = join(trialDir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Point);
}

/** The step LATEST points at, only when that checkpoint is complete (its MANIFEST is there). */
function completeLatest(trialDir: string): number | undefined {
  const latest = readJson<number>(join(trialDir, 'checkpoints/LATEST'));
  return typeof latest === 'number' && existsSync(join(trialDir, 'checkpoints', String(latest), 'MANIFEST.json')) ? latest : undefined;
}

const attemptStatus = (trialDir: string, attempt: number) => readJson<{ state: string; step: number; resumedFromStep?: number }>(join(trialDir, 'attempts', String(attempt), 'status.json'));


const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * The metrics of a trial that ran attempt 1, was interrupted, and resumed as attempt 2 from
 * checkpoint `ckpt`: attempt 1 logged 1..k (k ≥ ckpt) with no gap; attempt 2 logged exactly
 * ckpt+1..steps, so it starts right after the checkpoint and repeats nothing; together they cover
 * 1..steps; and where both logged a step (after the checkpoint) the losses are identical.
 * Returns the steps both logged.
 */
function expectResumedSequence(rows: Point[], ckpt: number, steps: number): number[] {
  expect(rows.every((r) => r.attempt === 1 || r.attempt === 2), `attempts in metrics.jsonl: ${[...new Set(rows.map((r) => r.attempt))].join(', ')}`).toBe(true);
  const first = rows.filter((r) => r.attempt === 1);
  const second = rows.filter((r) => r.attempt === 2);
  expect(first.map((r) => r.step)).toEqual(range(1, first.length));
  expect(first.length).toBeGreaterThanOrEqual(ckpt);
  expect(second[0]?.step).toBe(ckpt + 1);
  expect(second.map((r) => r.step)).toEqual(range(ckpt + 1, steps));
  expect([...new Set(rows.map((r) => r.step))].sort((a, b) => a - b)).toEqual(range(1, steps));
  const lossAt = new Map(second.map((r) => [r.step, r.loss]));
  const overlap = first.filter((r) => r.step > ckpt);
  for (const r of overlap) expect(lossAt.get(r.step), `loss at step ${r.step}: attempt 2 vs attempt 1`).toBe(r.loss);
  return overlap.map((r) => r.step);
}

interface PlanJson { actions: { trial: string; kind: string; reason: string; attempt?: number; resumeFromStep?: number }[] }

async function planFor(cli: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>, trial: string) {
  const r = await cli(['plan', '-f', 'job.yaml', '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as PlanJson).actions.find((a) => a.trial === trial);
}

/** The one trial of a one-trial job, from its first (and only) node record. */
async function launchedTrial(home: string): Promise<string> {
  return until(() => nodeRecords(home)[0]?.trial, 'a node record', 10_000);
}

afterAll(async () => {
  // nothing a test started outlives the file: SIGTERM each runner's session, SIGKILL what stays
  await stopProcesses(homes.flatMap((h) => nodeRecords(h)), { group: true });
}, 30_000);

// ---- SIGKILL and SIGTERM of a runner -------------------------------------------------------------

describe('a runner interrupted mid-training, resumed through plan and apply --wait', () => {
  const STEPS = 120;

  it('SIGKILL: the orphaned training stops, plan resumes it (node-lost) from LATEST, and attempt 2 continues with no gap and no repeat', { timeout: 60_000 }, async () => {
    const { dir, home, cli, trialDir, workDir } = suite('sigkill');
    // metrics through TRAINCTL_METRICS_FILE, nothing on stdout: only the watchdog can stop the orphan
    writeFiles(dir, { 'job.yaml': spec({ name: 'killed', pattern: '*.json', command: `${PY} train.py --lr {lr} --steps ${STEPS} --sleep 0.04 --ckpt-every 10 --metrics-file` }) });
    const launched = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(launched.stderr).toBe('');
    expect(launched.code).toBe(0);
    const trial = await launchedTrial(home);
    const td = trialDir('killed', trial);
    const [runner] = await until(() => runnerPids(home, trial, 1, 1), 'the runner pid in its node record', 10_000);

    // a checkpoint in the store, and metrics of steps past it, so attempt 2 re-runs steps attempt 1 logged
    const detail = () => `LATEST ${completeLatest(td)}, metric steps ${metricRows(td).map((r) => r.step).join(',')}`;
    await until(() => {
      const ckpt = completeLatest(td);
      return ckpt !== undefined && (metricRows(td).at(-1)?.step ?? 0) >= ckpt + 3;
    }, 'a complete checkpoint and metrics past it', 20_000, detail);
    const trainPid = Number(readFileSync(join(workDir(trial, 1), 'train.pid'), 'utf8'));
    expect(alive(trainPid)).toBe(true);
    const pgid = processGroupOf(trainPid);
    expect(pgid).not.toBe(runner);
    process.kill(runner!, 'SIGKILL');
    await until(() => !alive(runner!), 'the killed runner to be gone', 5000);

    // the runner's watchdog stops the orphaned training (SIGTERM: it writes sigterm.txt), group and all
    await until(() => !alive(trainPid), `the orphaned training process ${trainPid} to stop`, 30_000);
    // through its SIGTERM handler, before it had trained to the end by itself
    const orphanStep = Number(readJson<number>(join(workDir(trial, 1), 'sigterm.txt')));
    expect(orphanStep, 'the orphan was stopped through its SIGTERM handler (sigterm.txt)').toBeGreaterThan(0);
    expect(orphanStep).toBeLessThan(STEPS);
    await until(() => groupMembers(pgid).length === 0, `process group ${pgid} to be empty`, 10_000, () => `left: ${groupMembers(pgid).join(', ')}`);

    // nothing speaks for attempt 1 any more: its record stays as the runner left it
    const frozen = attemptStatus(td, 1)!;
    expect(frozen.state).toBe('running');
    const ckpt = completeLatest(td)!;
    expect(ckpt).toBeGreaterThan(0);
    expect(ckpt % 10).toBe(0);
    const before = metricRows(td);
    expect(before.at(-1)!.step).toBeLessThan(STEPS);

    expect(await planFor(cli, trial)).toMatchObject({ kind: 'resume', reason: 'node-lost', attempt: 2, resumeFromStep: ckpt });
    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed ${trial} (attempt 2, from step ${ckpt})`);
    expect(r.stdout).toMatch(/^Training completed: 1 trial, /m);
    expect(readJson(join(td, 'result.json'))).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(attemptStatus(td, 2)).toMatchObject({ state: 'succeeded', step: STEPS, resumedFromStep: ckpt });
    expect(attemptStatus(td, 1)).toEqual(frozen);

    const overlap = expectResumedSequence(metricRows(td), ckpt, STEPS);
    expect(overlap.length, 'attempt 1 logged steps past the checkpoint that attempt 2 ran again').toBeGreaterThan(0);
  });

  it('SIGTERM: a complete final checkpoint, the attempt interrupted, and attempt 2 continues from it with no gap and no repeat', { timeout: 60_000 }, async () => {
    const { dir, home, cli, trialDir, workDir } = suite('sigterm');
    writeFiles(dir, { 'job.yaml': spec({ name: 'termed', pattern: '*.json', command: `${PY} train.py --lr {lr} --steps ${STEPS} --sleep 0.04 --ckpt-every 10` }) });
    const launched = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(launched.code).toBe(0);
    const trial = await launchedTrial(home);
    const td = trialDir('termed', trial);
    const [runner] = await until(() => runnerPids(home, trial, 1, 1), 'the runner pid in its node record', 10_000);
    await until(() => completeLatest(td), 'a first checkpoint in the store', 20_000);
    process.kill(runner!, 'SIGTERM');
    await until(() => !alive(runner!), 'the runner to finish after SIGTERM', 30_000);

    expect(attemptStatus(td, 1)?.state).toBe('interrupted');
    expect(existsSync(join(td, 'result.json'))).toBe(false);
    const first = metricRows(td);
    const ckpt = completeLatest(td)!;
    // the code saved where SIGTERM stopped it, the runner uploaded that, and LATEST names it
    expect(readFileSync(join(workDir(trial, 1), 'sigterm.txt'), 'utf8')).toBe(String(ckpt));
    expect(ckpt).toBe(first.at(-1)!.step);
    expect(ckpt).toBeLessThan(STEPS);
    expect(attemptStatus(td, 1)?.step).toBe(ckpt);
    const manifest = readJson<{ files: { path: string }[] }>(join(td, 'checkpoints', String(ckpt), 'MANIFEST.json'))!;
    expect(manifest.files.map((f) => f.path)).toEqual([`step-${String(ckpt).padStart(6, '0')}.json`]);

    expect(await planFor(cli, trial)).toMatchObject({ kind: 'resume', reason: 'interrupted', attempt: 2, resumeFromStep: ckpt });
    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed ${trial} (attempt 2, from step ${ckpt})`);
    expect(readJson(join(td, 'result.json'))).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(attemptStatus(td, 2)).toMatchObject({ state: 'succeeded', step: STEPS, resumedFromStep: ckpt });
    // attempt 1 stopped at its checkpoint: nothing to re-run, nothing logged twice
    expect(expectResumedSequence(metricRows(td), ckpt, STEPS)).toEqual([]);
  });
});

// ---- DDP ---------------------------------------------------------------------------------------

describe('DDP through apply (torch.distributed.run over gloo on CPU)', () => {
  const STEPS = 20;
  const ddpJob = (name: string, nodes: number, nprocPerNode: number, sleep: number) => spec({
    name,
    pattern: '*.pt',
    keepLastN: 10,
    command: `${PY} train_ddp.py --lr {lr} --steps ${STEPS} --ckpt-every 5 --sleep ${sleep}`,
    extra: `  distributed: { nodes: ${nodes}, nprocPerNode: ${nprocPerNode}, backend: gloo }\n`,
  });
  /** Losses of the uninterrupted 1 × 2 run, step by step, for the runs after it. */
  let reference: number[] | undefined;

  async function applyToEnd(name: string, nodes: number, nprocPerNode: number) {
    const s = suite(name);
    writeFiles(s.dir, { 'job.yaml': ddpJob(name, nodes, nprocPerNode, 0) });
    const r = await s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    const trial = readdirSafe(join(s.home, 'runs/e2e', name))[0];
    const logs = (rank: number) => {
      const path = trial ? join(s.trialDir(name, trial), 'attempts/1/logs', `${rank}.log`) : '';
      return path && existsSync(path) ? readFileSync(path, 'utf8') : '';
    };
    expect(r.code, `apply --wait of ${name}:\n${r.stdout}\n${r.stderr}\nlog 0:\n${logs(0)}`).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Training completed: 1 trial, /m);
    const td = s.trialDir(name, trial!);
    expect(readJson(join(td, 'result.json'))).toMatchObject({ state: 'succeeded', attempt: 1 });
    const rows = metricRows(td);
    expect(rows.map((p) => p.step)).toEqual(range(1, STEPS));
    expect(rows.every((p) => p.attempt === 1 && p.world === nodes * nprocPerNode)).toBe(true);
    return { ...s, trial: trial!, td, rows, logs };
  }

  it('1 node × 2 processes and 2 nodes × 1 process finish with identical losses; only node rank 0 checkpoints reach the store', { timeout: 60_000 }, async () => {
    requireTorch();
    const single = await applyToEnd('ddp-single', 1, 2);
    expect(single.logs(0)).toContain('-m torch.distributed.run --nnodes 1 --nproc_per_node 2 --node_rank 0 --master_addr 127.0.0.1');
    reference = single.rows.map((p) => p.loss);

    const multi = await applyToEnd('ddp-multi', 2, 1);
    expect(multi.rows.map((p) => p.loss)).toEqual(reference);
    // two runners, one per node rank, meeting at one master port
    const recs = nodeRecords(multi.home).filter((r) => r.trial === multi.trial).sort((a, b) => a.nodeRank - b.nodeRank);
    expect(recs.map((r) => [r.attempt, r.nodeRank])).toEqual([[1, 0], [1, 1]]);
    expect(recs[0]!.pid).not.toBe(recs[1]!.pid);
    const tasks = [0, 1].map((rank) => readJson<{ nodeRank: number; distributed: { masterPort: number } }>(join(multi.workDir(multi.trial, 1, rank), '..', 'task.json'))!);
    const port = tasks[0]!.distributed.masterPort;
    expect(port).toBeGreaterThan(0);
    expect(tasks.map((t) => [t.nodeRank, t.distributed.masterPort])).toEqual([[0, port], [1, port]]);
    expect(recs.map((r) => r.masterPort)).toEqual([port, port]);
    for (const rank of [0, 1]) expect(multi.logs(rank)).toContain(`--nnodes 2 --nproc_per_node 1 --node_rank ${rank} --master_addr 127.0.0.1 --master_port ${port}`);

    // node 1 saved its own checkpoints, but only node 0's are in the store
    expect(readdirSync(join(multi.workDir(multi.trial, 1, 1), 'checkpoints')).filter((f) => f.endsWith('.pt')).sort())
      .toEqual([5, 10, 15, 20].map((s) => `node1-step-${String(s).padStart(6, '0')}.pt`));
    const stored = readdirSync(join(multi.td, 'checkpoints')).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b);
    expect(stored).toEqual([5, 10, 15, 20]);
    for (const step of stored) {
      const manifest = readJson<{ files: { path: string }[] }>(join(multi.td, 'checkpoints', String(step), 'MANIFEST.json'))!;
      expect(manifest.files.map((f) => f.path)).toEqual([`node0-step-${String(step).padStart(6, '0')}.pt`]);
    }
  });

  it.each([
    [1, 2],
    [2, 1],
  ])('SIGTERM to every runner of a running %i × %i trial leaves a complete checkpoint and the attempt interrupted; apply --wait resumes it with no gap', { timeout: 75_000 }, async (nodes, nprocPerNode) => {
    requireTorch();
    const name = `ddp-term-${nodes}x${nprocPerNode}`;
    const { dir, home, cli, trialDir } = suite(name);
    writeFiles(dir, { 'job.yaml': ddpJob(name, nodes, nprocPerNode, 0.3) });
    const launched = await cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(launched.code).toBe(0);
    const trial = await launchedTrial(home);
    const td = trialDir(name, trial);
    const runners = await until(() => runnerPids(home, trial, 1, nodes), 'the runner pids in the node records', 10_000);
    await until(() => completeLatest(td), 'a first checkpoint in the store', 40_000, () => `metric steps ${metricRows(td).map((r) => r.step).join(',')}`);
    // every node's runner: signalling one node of a multi-node job leaves the others in rendezvous
    for (const pid of runners) process.kill(pid, 'SIGTERM');
    await until(() => !runners.some(alive), 'the runners to finish after SIGTERM', 40_000);

    expect(attemptStatus(td, 1)?.state).toBe('interrupted');
    // every node's runner stopped its own training and ended the attempt the same way
    for (const rank of range(0, nodes - 1)) expect(readFileSync(join(td, 'attempts/1/logs', `${rank}.log`), 'utf8')).toMatch(/attempt 1 interrupted/);
    const ckpt = completeLatest(td)!;
    const first = metricRows(td);
    expect(ckpt).toBe(first.at(-1)!.step);
    expect(ckpt).toBeLessThan(STEPS);
    const manifest = readJson<{ files: { path: string }[] }>(join(td, 'checkpoints', String(ckpt), 'MANIFEST.json'))!;
    expect(manifest.files.map((f) => f.path)).toEqual([`node0-step-${String(ckpt).padStart(6, '0')}.pt`]);

    expect(await planFor(cli, trial)).toMatchObject({ kind: 'resume', reason: 'interrupted', attempt: 2, resumeFromStep: ckpt });
    const r = await cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed ${trial} (attempt 2, from step ${ckpt})`);
    expect(readJson(join(td, 'result.json'))).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(readFileSync(join(td, 'attempts/2/logs/0.log'), 'utf8')).toContain(`resumed from step ${ckpt}`);

    const rows = metricRows(td);
    expect(expectResumedSequence(rows, ckpt, STEPS)).toEqual([]);
    // restored weights and optimizer: the same losses as the run that was never interrupted
    if (reference) expect(rows.map((p) => p.loss)).toEqual(reference);
  });
});
