// The local provider's launch and terminate, with a stand-in runner (test/fixtures/apply/fake-runner.mjs)
// in real processes and a temp TRAINCTL_HOME: work dirs, task.json, node-record claims, idempotency,
// GPU picking, and signals only for processes whose start time matches.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchRequest } from '../../src/engine/launch.js';
import { LocalProvider, processStartTime } from '../../src/providers/local/index.js';
import { launchLocal, nodeId, pickGpus, terminateLocal, workDirOf } from '../../src/providers/local/launch.js';
import { nodeRecordPath, readNodeRecord, type LocalNodeRecord } from '../../src/providers/local/nodes.js';
import type { LaunchRequest } from '../../src/providers/provider.js';
import type { RunnerTask } from '../../src/runner/task.js';
import { expandJobs } from '../../src/spec/expand.js';
import { loadSpecs } from '../../src/spec/load.js';
import { repoRoot, seenProcess, type SeenProcess, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';

const fakeRunner = join(repoRoot, 'test/fixtures/apply/fake-runner.mjs');
const started: SeenProcess[] = [];
afterAll(async () => {
  await stopProcesses(started, { graceMs: 0 });
});

function request(dir: string, spec: string, index = 0, attempt = 1, resumeFromStep?: number): LaunchRequest {
  writeFiles(dir, {
    'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: lab }
spec:
  code: { path: ./code, command: "python3 train.py --lr {lr}", env: { A: "1" } }
  checkpoint: { dir: ckpt/, gracePeriod: 1s }
  hyperparameters: { parameters: { lr: [0.1, 0.2, 0.3] } }
  metrics: { objective: { metric: loss } }
  limits: { maxDuration: 1h }
${spec}`,
    'code/train.py': 'print("hi")\n',
    'code/lib/util.py': 'X = 1\n',
    'code/.git/HEAD': 'ref\n',
    'code/node_modules/m/index.js': '',
    'code/lib/__pycache__/util.pyc': '',
    'code/ckpt/step-1.json': '{}',
  });
  const { jobs, diagnostics } = loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: `file://${dir}/runs` });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const trial = expandJobs(jobs)[index]!;
  return launchRequest(jobs[0]!, trial, { attempt, ...(resumeFromStep !== undefined ? { resumeFromStep } : {}) });
}

const env = (extra: Record<string, string> = {}) => ({ ...process.env, TRAINCTL_RUNNER: fakeRunner, ...extra });
const record = (home: string, req: LaunchRequest, rank = 0) => readNodeRecord(nodeRecordPath(home, nodeId(req, rank)));
const events = (home: string, req: LaunchRequest, rank = 0) => {
  const path = join(workDirOf(home, req, rank), 'events');
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n') : [];
};
const alive = (pid: number) => processStartTime(pid) !== undefined;


async function launched(home: string, req: LaunchRequest, e = env()) {
  const out = await launchLocal(home, req, e);
  if (out.kind !== 'launched') throw new Error(`expected a launch, got ${JSON.stringify(out)}`);
  for (const r of out.resources) {
    const rec = readNodeRecord(nodeRecordPath(home, r.id));
    if (rec?.pid) started.push({ pid: rec.pid, pidStart: rec.pidStart });
  }
  return out.resources;
}

describe('local launch', () => {
  it('starts a runner in a private copy of the code, with a fully resolved task', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '', 0, 2, 40);
    const [res] = await launched(home, req);
    expect(res).toMatchObject({ provider: 'local', id: `lab.${req.trial}-a2-r0`, project: 'lab', job: 'sweep', trial: req.trial, attempt: 2, nodeRank: 0, state: 'running' });

    const work = workDirOf(home, req, 0);
    expect(work).toBe(join(home, 'local/work/lab', req.trial, 'a2/r0'));
    expect(readdirSync(join(work, 'code')).sort()).toEqual(['lib', 'train.py']);
    expect(readdirSync(join(work, 'code/lib'))).toEqual(['util.py']);
    const task = JSON.parse(readFileSync(join(work, 'task.json'), 'utf8')) as RunnerTask;
    expect(task).toEqual({
      formatVersion: 1, project: 'lab', job: 'sweep', trial: req.trial, specHash: req.specHash, attempt: 2, nodeRank: 0, nodes: 1, nprocPerNode: 1,
      parameters: { lr: 0.1 }, command: 'python3 train.py --lr 0.1', env: { A: '1' }, workDir: join(work, 'code'), storeUri: `file://${dir}/runs`,
      checkpoint: { dir: 'ckpt/', pattern: '*', keepLastN: 3, upload: 'on-save', resumeArg: '--resume {path}', gracePeriodMs: 1000 },
      resumeFromStep: 40,
      metrics: { patterns: {}, objective: { metric: 'loss', goal: 'minimize' } },
      gpus: [], pricePerHour: 0, limits: { maxDurationMs: 3_600_000, onExceed: 'stop' }, heartbeatMs: 2000,
    });

    const rec = record(home, req)!;
    expect(rec).toMatchObject({ pid: expect.any(Number), gpus: [], gracePeriodMs: 1000, claimedAt: expect.any(String) });
    expect(rec.pidStart).toBe(processStartTime(rec.pid!));
    await until(() => events(home, req).length === 1, 'one launch event', 5000);
    expect(events(home, req)).toEqual([`started ${rec.pid}`]);
    expect(await new LocalProvider(home).observe('lab')).toEqual([res]);
  });

  it('is idempotent: a live or pending node is not started again', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '');
    const first = await launched(home, req);
    const pid = record(home, req)!.pid;
    const again = await launched(home, req);
    expect(again).toEqual(first);
    expect(record(home, req)!.pid).toBe(pid);
    await until(() => events(home, req).length >= 1, 'a launch event', 5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(events(home, req)).toEqual([`started ${pid}`]);

    // a claim in flight (pid not reported yet) counts as the node for a minute
    const other = request(dir, '', 1);
    const claim: LocalNodeRecord = { id: nodeId(other, 0), project: 'lab', job: 'sweep', trial: other.trial, specHash: other.specHash, nodeRank: 0, attempt: 1, launchedAt: new Date().toISOString(), claimedAt: new Date().toISOString(), pid: null, pidStart: '' };
    writeFiles(home, { [`local/nodes/${claim.id}.json`]: JSON.stringify(claim) });
    const pending = await launchLocal(home, other, env());
    expect(pending).toEqual({ kind: 'launched', resources: [expect.objectContaining({ id: claim.id, state: 'pending' })] });
    expect(existsSync(workDirOf(home, other, 0))).toBe(false);
  });

  it('replaces a record whose process is gone, or whose claim went stale', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '');
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const stale = { id: nodeId(req, 0), project: 'lab', job: 'sweep', trial: req.trial, specHash: req.specHash, nodeRank: 0, attempt: 1, launchedAt: '2026-01-01T00:00:00Z', pid: dead.pid, pidStart: '1' };
    writeFiles(home, { [`local/nodes/${stale.id}.json`]: JSON.stringify(stale) });
    const [res] = await launched(home, req);
    expect(res!.state).toBe('running');
    expect(record(home, req)!.pid).not.toBe(dead.pid);

    const other = request(dir, '', 1);
    const claim = { ...stale, id: nodeId(other, 0), trial: other.trial, pid: null, pidStart: '', claimedAt: new Date(Date.now() - 61_000).toISOString() };
    writeFiles(home, { [`local/nodes/${claim.id}.json`]: JSON.stringify(claim) });
    const [res2] = await launched(home, other);
    expect(res2!.state).toBe('running');
    expect(record(home, other)!.pid).toEqual(expect.any(Number));
  });

  it('gives every rank of a distributed attempt its own dir and one shared port', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '  distributed: { nodes: 2, nprocPerNode: 2 }\n');
    const res = await launched(home, req);
    expect(res.map((r) => r.nodeRank)).toEqual([0, 1]);
    const tasks = [0, 1].map((r) => JSON.parse(readFileSync(join(workDirOf(home, req, r), 'task.json'), 'utf8')) as RunnerTask);
    expect(tasks.map((t) => t.nodeRank)).toEqual([0, 1]);
    expect(tasks[0]!.distributed).toEqual({ backend: 'gloo', masterAddr: '127.0.0.1', masterPort: expect.any(Number) });
    expect(tasks[1]!.distributed).toEqual(tasks[0]!.distributed);
  });

  it('picks free GPUs, and reports no capacity as a value', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const gpus = env({ TRAINCTL_LOCAL_GPUS: '0,1' });
    const [a, b, c] = [0, 1, 2].map((i) => request(dir, '  compute: { provider: local, gpus: 1 }\n', i));
    await launched(home, a!, gpus);
    await launched(home, b!, gpus);
    expect([record(home, a!)!.gpus, record(home, b!)!.gpus]).toEqual([[0], [1]]);
    const task = JSON.parse(readFileSync(join(workDirOf(home, b!, 0), 'task.json'), 'utf8')) as RunnerTask;
    expect(task.gpus).toEqual([1]);
    expect(await launchLocal(home, c!, gpus)).toEqual({ kind: 'no-capacity', message: 'needs 1 GPU; 0 of 2 free', permanent: false });
    // nothing was copied for a launch that could not have happened
    expect(existsSync(join(workDirOf(home, c!, 0), '..'))).toBe(false);

    const listed = request(join(dir, 'l'), '  compute: { provider: local, gpus: [1] }\n', 2);
    expect(await launchLocal(home, listed, gpus)).toMatchObject({ kind: 'no-capacity', message: 'GPU 1 is held by another local node' });
    const big = request(join(dir, 'b'), '  compute: { provider: local, gpus: 4 }\n', 2);
    expect(await launchLocal(home, big, gpus)).toEqual({ kind: 'no-capacity', message: 'needs 4 GPUs; this machine has 2', permanent: true });

    // freed GPUs go to the next launch
    await terminateLocal(home, [nodeId(a!, 0)]);
    await launched(home, c!, gpus);
    expect(record(home, c!)!.gpus).toEqual([0]);
  });
});

describe('pickGpus', () => {
  it('takes a count from the free GPUs, a list as given', () => {
    expect(pickGpus(0, [], new Set())).toEqual({ kind: 'picked', gpus: [] });
    expect(pickGpus(2, [0, 1, 2, 3], new Set([1]))).toEqual({ kind: 'picked', gpus: [0, 2] });
    expect(pickGpus(2, [0, 1], new Set([1]))).toEqual({ kind: 'no-capacity', message: 'needs 2 GPUs; 1 of 2 free', permanent: false });
    expect(pickGpus(1, [], new Set())).toEqual({ kind: 'no-capacity', message: 'needs 1 GPU; this machine has 0', permanent: true });
    expect(pickGpus([3, 1], [], new Set([0]))).toEqual({ kind: 'picked', gpus: [3, 1] });
    expect(pickGpus([0, 1], [0, 1], new Set([0, 1]))).toMatchObject({ kind: 'no-capacity', message: 'GPU 0, 1 are held by another local node' });
  });
});

describe('local terminate', () => {
  it('sends SIGTERM, waits for the runner to exit, and forgets the node', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '');
    const [res] = await launched(home, req);
    const pid = record(home, req)!.pid!;
    await until(() => events(home, req).length === 1, 'one launch event', 5000);
    await new LocalProvider(home).terminate([res!.id]);
    expect(alive(pid)).toBe(false);
    expect(events(home, req)).toEqual([`started ${pid}`, `sigterm ${pid}`]);
    expect(record(home, req)).toBeUndefined();
    expect(await new LocalProvider(home).observe('lab')).toEqual([]);
    // already gone: nothing to do
    await terminateLocal(home, [res!.id, 'lab.unknown-a1-r0']);
  });

  it('kills a runner that outlives its grace period', async () => {
    const dir = tempDir();
    const home = join(dir, 'home');
    const req = request(dir, '');
    req.task.env.FAKE_IGNORE_SIGTERM = '1';
    const [res] = await launched(home, req);
    const pid = record(home, req)!.pid!;
    await until(() => events(home, req).length === 1, 'one launch event', 5000);
    const t0 = Date.now();
    await terminateLocal(home, [res!.id], { marginMs: 100 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // gracePeriod 1s
    expect(alive(pid)).toBe(false);
    expect(events(home, req)).toEqual([`started ${pid}`, `sigterm ${pid}`]);
    expect(record(home, req)).toBeUndefined();
  });

  it('never signals a process whose start time differs from the record (a reused pid)', async () => {
    const home = tempDir();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => sleeper.once('spawn', r));
    const rec = { id: 'lab.sweep-00000000-a1-r0', project: 'lab', job: 'sweep', trial: 'sweep-00000000', specHash: 'h', nodeRank: 0, attempt: 1, launchedAt: '2026-01-01T00:00:00Z', pid: sleeper.pid, pidStart: '12345', gracePeriodMs: 0 };
    writeFiles(home, { [`local/nodes/${rec.id}.json`]: JSON.stringify(rec) });
    started.push(seenProcess(sleeper.pid!)!);
    await terminateLocal(home, [rec.id], { marginMs: 0 });
    expect(alive(sleeper.pid!)).toBe(true);
    expect(sleeper.exitCode).toBeNull();
    expect(existsSync(join(home, `local/nodes/${rec.id}.json`))).toBe(false);
    sleeper.kill();
  });
});
