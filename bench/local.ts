// bench:local — the local provider end to end, each figure beside a peer measured in the same run:
// apply → first training line for 1 and 50 trials (peer: the script started directly), the
// runner's CPU while a trial prints 1,000 metric lines a second (goal, issue: < 2% of one core),
// and checkpoint upload to a file:// store (peer: `cp -r` of the same files).
import { spawn, execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listNodeRecords, processStartTime, type LocalNodeRecord } from '../src/providers/local/nodes.js';
import { FileStore } from '../src/store/file.js';

const bin = fileURLToPath(new URL('../bin.js', import.meta.url));
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const root = mkdtempSync(join(tmpdir(), 'trainctl-bench-local-'));
const specDir = join(root, 'spec');
const codeDir = join(specDir, 'code');
const started = Date.now();
const loadAtStart = loadavg()[0]!;
const homes: string[] = [];
// runners are detached and outlive this process unless stopped: whatever way it ends, stop ours
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/**
 * Stops every runner this bench started that still runs (SIGTERM stops its training group too;
 * SIGKILL after 10 s, and its watchdog then ends the group), and removes every temp dir.
 */
function cleanup(): void {
  const live = homes.flatMap((home) => listNodeRecords(home).map(({ rec }) => rec)).filter(isOurs);
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  for (const rec of live) signal(rec.pid!, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (live.some(isOurs) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  for (const rec of live.filter(isOurs)) signal(rec.pid!, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall clock in ms with sub-ms resolution, comparable with Python's time.time(). */
const wallMs = () => performance.timeOrigin + performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // /proc/<pid>/stat counts in USER_HZ, 100 on every Linux this runs on
}

mkdirSync(codeDir, { recursive: true });
// the very first thing each script does is print a wall-clock timestamp
writeFileSync(join(codeDir, 'first.py'), 'import time\nprint(f"first {time.time():.6f}", flush=True)\n');
writeFileSync(join(codeDir, 'chatty.py'), `import json, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
n = 0
while True:
    elapsed = time.monotonic() - start
    if elapsed >= seconds:
        break
    due = int(elapsed * rate) + 1
    while n < due:
        n += 1
        # a plain print: with PYTHONUNBUFFERED=1 (the runner sets it) that is two writes, line and newline
        print(json.dumps({"step": n, "loss": 1.0 / n}))
    time.sleep(0.001)
`);

function writeSpec(job: string, command: string, trials: number): string {
  const path = join(specDir, `${job}.yaml`);
  writeFileSync(path, `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${job}, project: bench }
spec:
  compute: { provider: local }
  code: { path: ./code, command: "${command} --i {i}" }
  checkpoint: { upload: never }
  hyperparameters:
    strategy: grid
    parameters: { i: [${Array.from({ length: trials }, (_, i) => i).join(', ')}] }
    maxParallel: 64
`);
  return path;
}

function newHome(name: string): string {
  const home = join(root, name);
  mkdirSync(home);
  homes.push(home);
  return home;
}

/** Runs `trainctl apply -f spec --yes` and returns when the CLI exits; t0 is taken just before the spawn. */
async function apply(home: string, spec: string): Promise<{ t0: number; cliMs: number }> {
  const t0 = wallMs();
  const child = spawn(process.execPath, [bin, 'apply', '-f', spec, '--yes'], {
    cwd: specDir, env: { ...process.env, TRAINCTL_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`apply exited ${code}: ${stderr}`);
  return { t0, cliMs: wallMs() - t0 };
}

const TERMINAL = new Set(['succeeded', 'failed', 'interrupted', 'stopped']);

function trialDir(home: string, job: string, trial: string): string {
  return join(home, 'runs', 'bench', job, trial);
}

function attemptState(home: string, job: string, trial: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(trialDir(home, job, trial), 'attempts', '1', 'status.json'), 'utf8')) as { state: string }).state;
  } catch {
    return undefined;
  }
}

function isOurs(rec: LocalNodeRecord): boolean {
  return rec.pid != null && processStartTime(rec.pid) === rec.pidStart;
}

/** Waits until every trial's attempt is over and its runner has exited. */
async function waitForTrials(home: string, job: string, n: number, timeoutMs = 90_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const recs = listNodeRecords(home).map((r) => r.rec);
    const over = recs.filter((r) => TERMINAL.has(attemptState(home, job, r.trial) ?? '') && !isOurs(r));
    if (recs.length === n && over.length === n) return wallMs();
    if (Date.now() > deadline) throw new Error(`${job}: ${over.length} of ${n} trials finished within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** The wall-clock time (ms) the first training line of a trial's log carries. */
function firstLineAt(home: string, job: string, trial: string): number {
  const log = readFileSync(join(trialDir(home, job, trial), 'attempts', '1', 'logs', '0.log'), 'utf8');
  const m = /^first (\d+\.\d+)$/m.exec(log);
  if (!m) throw new Error(`${trial}: no first line in its log:\n${log}`);
  return Number(m[1]) * 1000;
}

/** The peer: the script started directly, spawn → the timestamp of its first line. */
async function direct(): Promise<number> {
  const t0 = wallMs();
  const child = spawn(PY, ['first.py', '--i', '0'], { cwd: codeDir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((resolve) => child.on('close', resolve));
  const m = /^first (\d+\.\d+)$/m.exec(out);
  if (!m) throw new Error(`direct run printed ${JSON.stringify(out)}`);
  return Number(m[1]) * 1000 - t0;
}

async function latency(job: string, trials: number) {
  const home = newHome(job);
  const spec = writeSpec(job, `${PY} first.py`, trials);
  const { t0, cliMs } = await apply(home, spec);
  const doneAt = await waitForTrials(home, job, trials);
  const firsts = listNodeRecords(home).map(({ rec }) => firstLineAt(home, job, rec.trial) - t0).sort((a, b) => a - b);
  return { cliMs, firsts, allDoneMs: doneAt - t0 };
}

// ---------------------------------------------------------------- 1. apply → first training line
const peer: number[] = [];
const one: { cliMs: number; first: number }[] = [];
for (let round = 0; round < 5; round++) {
  peer.push(await direct());
  const r = await latency(`lat1-${round}`, 1);
  one.push({ cliMs: r.cliMs, first: r.firsts[0]! });
}
peer.push(await direct());
const fifty = await latency('lat50', 50);
peer.push(await direct());
const peerMs = median(peer);
const oneFirst = median(one.map((r) => r.first));
const oneCli = median(one.map((r) => r.cliMs));

console.log(`bench:local — local provider on ${readdirSync('/sys/devices/system/cpu').filter((f) => /^cpu\d+$/.test(f)).length} CPUs, ${PY}`);
console.log('  apply → first training line (wall clock; ratio to the script started directly)');
console.log(`    ${PY} first.py, direct (median of ${peer.length}) ${ms(peerMs)}   1.00×`);
console.log(`    1 trial   (median of ${one.length})            ${ms(oneFirst)}  ${(oneFirst / peerMs).toFixed(1).padStart(5)}×   apply returned after ${oneCli.toFixed(0)} ms`);
const f = fifty.firsts;
console.log(`    50 trials: first                     ${ms(f[0]!)}  ${(f[0]! / peerMs).toFixed(1).padStart(5)}×   apply returned after ${fifty.cliMs.toFixed(0)} ms`);
console.log(`               median                    ${ms(median(f))}  ${(median(f) / peerMs).toFixed(1).padStart(5)}×`);
console.log(`               last                      ${ms(f.at(-1)!)}  ${(f.at(-1)! / peerMs).toFixed(1).padStart(5)}×   all 50 runners exited after ${fifty.allDoneMs.toFixed(0)} ms`);

// ---------------------------------------------------------------- 2. runner CPU at 1,000 lines/s
interface Cpu { ticks: number; at: number }
function cpuOf(pid: number): Cpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 (utime, stime), counted from the state field as 3
  return { ticks: Number(fields[11]) + Number(fields[12]), at: performance.now() };
}
const pctOf = (a: Cpu, b: Cpu) => ((b.ticks - a.ticks) / clkTck) / ((b.at - a.at) / 1000) * 100;

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const RATE = 1000;
/** The first seconds hold start-up and JIT warm-up; the steady window after them is what a long run costs. */
const WARMUP_S = 2.5;
const STEADY_S = 9;
const RUN_S = WARMUP_S + STEADY_S + 1.5;

/** CPU of a process at three moments: when found, after the warm-up, after the steady window. */
async function sampleWindows(pids: () => number[]): Promise<{ warmup: number[]; steady: number[] }> {
  const s0 = pids().map(cpuOf);
  await sleep(WARMUP_S * 1000);
  const s1 = pids().map(cpuOf);
  await sleep(STEADY_S * 1000);
  const s2 = pids().map(cpuOf);
  return { warmup: s0.map((a, i) => pctOf(a, s1[i]!)), steady: s1.map((a, i) => pctOf(a, s2[i]!)) };
}

{
  const job = 'chatty';
  const home = newHome(job);
  const spec = writeSpec(job, `${PY} chatty.py ${RATE} ${RUN_S}`, 1);
  await apply(home, spec);
  // the runner's pid from its node record; the training script is the child of its /bin/sh
  let runnerPid: number | undefined;
  let scriptPid: number | undefined;
  const deadline = Date.now() + 20_000;
  while (scriptPid === undefined) {
    if (Date.now() > deadline) throw new Error('chatty: the training process did not start');
    const rec = listNodeRecords(home)[0]?.rec;
    if (rec?.pid != null) {
      runnerPid = rec.pid;
      const sh = childrenOf(runnerPid).find((c) => cmdline(c).includes('chatty.py'));
      scriptPid = sh === undefined ? undefined : childrenOf(sh)[0] ?? undefined;
    }
    await sleep(20);
  }
  const { warmup, steady } = await sampleWindows(() => [runnerPid!, scriptPid!]);
  await waitForTrials(home, job, 1);
  const trial = listNodeRecords(home)[0]!.rec.trial;
  const points = readFileSync(join(trialDir(home, job, trial), 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;

  // the floor: a bare node process reading the same output with an empty handler, environment as the runner gives it
  const reader = `const c = require('child_process').spawn(${JSON.stringify(PY)}, ['chatty.py', '${RATE}', '${RUN_S}'], { stdio: ['ignore', 'pipe', 'pipe'] });
c.stdout.on('data', () => {}); c.stderr.on('data', () => {});`;
  const bare = spawn(process.execPath, ['-e', reader], { cwd: codeDir, env: { ...process.env, PYTHONUNBUFFERED: '1' }, stdio: 'ignore' });
  const bareDone = new Promise((resolve) => bare.on('close', resolve));
  while (childrenOf(bare.pid!).length === 0) await sleep(20);
  const floor = await sampleWindows(() => [bare.pid!]);
  await bareDone;

  const [runnerPct, scriptPct] = steady as [number, number];
  const floorPct = floor.steady[0]!;
  const pct = (x: number) => `${x.toFixed(2).padStart(5)} %`;
  console.log(`  runner CPU while the trial prints ${RATE} JSON metric lines/s; % of one core, steady = ${WARMUP_S}–${WARMUP_S + STEADY_S} s, warm-up = 0–${WARMUP_S} s`);
  console.log(`    training script (peer)                    steady ${pct(scriptPct)}   warm-up ${pct(warmup[1]!)}`);
  console.log(`    node reading the same output, no-op      steady ${pct(floorPct)}   warm-up ${pct(floor.warmup[0]!)}   (floor: pipe reads alone)`);
  console.log(`    runner                                    steady ${pct(runnerPct)}   warm-up ${pct(warmup[0]!)}   ${(runnerPct / scriptPct).toFixed(2)}× the script, +${(runnerPct - floorPct).toFixed(2)} over the floor   goal < 2%: ${runnerPct < 2 ? 'met' : 'MISSED'}`);
  console.log(`    metric points recorded   ${points} (attempt ${attemptState(home, job, trial)})`);
}

// ---------------------------------------------------------------- 3. checkpoint upload vs cp -r
const MiB = 1024 * 1024;
const ckptSrc = join(root, 'ckpt-src');
function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(Math.min(bytes, 8 * MiB));
  for (let left = bytes; left > 0; left -= buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(left, buf.length));
  closeSync(fd);
}
const sets = [
  { name: '1 × 512 MiB', dir: join(ckptSrc, 'big'), files: ['model.pt'], size: 512 * MiB },
  { name: '200 × 1 MiB', dir: join(ckptSrc, 'small'), files: Array.from({ length: 200 }, (_, i) => `shard-${String(i).padStart(3, '0')}.pt`), size: MiB },
];
for (const s of sets) {
  mkdirSync(s.dir, { recursive: true });
  for (const f of s.files) randomFile(join(s.dir, f), s.size);
}
const store = new FileStore(pathToFileURL(join(root, 'store')).href);
const ref = { project: 'bench', job: 'ckpt', trial: 'ckpt-00000000' };
const cpDest = join(root, 'cp-dest');
const ROUNDS = 5;
/**
 * Untimed, before every timed copy: finish the writeback of the previous run, and read the source
 * back into the page cache (proactive reclaim, e.g. DAMON, may have paged part of it out), so each
 * contender starts from the same state.
 */
const warmBuffer = Buffer.allocUnsafe(MiB);
function settle(s: { dir: string; files: string[] }): void {
  execFileSync('sync');
  for (const f of s.files) {
    const fd = openSync(join(s.dir, f), 'r');
    while (readSync(fd, warmBuffer) > 0);
    closeSync(fd);
  }
}
console.log(`  checkpoint upload to a file:// store (sha256 while copying, fsync per file, MANIFEST, LATEST); median of ${ROUNDS}, alternating`);
let step = 0;
for (const s of sets) {
  const bytes = s.files.length * s.size;
  const put: number[] = [];
  const cp: number[] = [];
  const cpSync: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    settle(s);
    let t = performance.now();
    await store.putCheckpoint(ref, ++step, 1, s.dir, s.files);
    put.push(performance.now() - t);
    rmSync(join(root, 'store'), { recursive: true, force: true });
    settle(s);
    t = performance.now();
    execFileSync('cp', ['-r', s.dir, cpDest]);
    cp.push(performance.now() - t);
    rmSync(cpDest, { recursive: true, force: true });
    settle(s);
    t = performance.now();
    execFileSync('cp', ['-r', s.dir, cpDest]);
    execFileSync('sync');
    cpSync.push(performance.now() - t);
    rmSync(cpDest, { recursive: true, force: true });
  }
  const rate = (t: number) => `${ms(t)} ${(bytes / 1e6 / (t / 1000)).toFixed(0).padStart(5)} MB/s`;
  const [p, c, cs] = [median(put), median(cp), median(cpSync)];
  console.log(`    ${s.name}   putCheckpoint ${rate(p)}   cp -r ${rate(c)}   cp -r; sync ${rate(cs)}`);
  console.log(`                  putCheckpoint at ${(c / p).toFixed(2)}× the speed of cp -r, ${(cs / p).toFixed(2)}× that of cp -r; sync`);
}

// the machine may be shared: figures taken under load are noisy, ratios less so
console.log(`  bench:local took ${((Date.now() - started) / 1000).toFixed(0)} s; 1-min load average ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`);
