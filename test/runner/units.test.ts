// The runner's decisions without processes: glob, step from file names, keep-last-N, command and
// environment, metric extraction, line splitting, log batching, the task file parser.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointWatcher, checkpointsToPrune, groupByStep, stepFromPath } from '../../src/runner/checkpoints.js';
import { distributedCommand, trainingEnv, withResumeArg } from '../../src/runner/command.js';
import { globToRegExp, matchesGlob } from '../../src/core/glob.js';
import { LogSink } from '../../src/runner/log.js';
import { compilePatterns, extractMetrics, LineSplitter, MetricsRecorder } from '../../src/runner/metrics.js';
import { parseRunnerTask } from '../../src/runner/task-file.js';
import type { RunnerTask } from '../../src/runner/task.js';
import { makeTask, sandbox, scratchDir } from './harness.js';

describe('glob', () => {
  it.each([
    ['*.pt', 'model_10.pt', true],
    ['*.pt', 'sub/model_10.pt', false],
    ['**/*.pt', 'model.pt', true],
    ['**/*.pt', 'a/b/model.pt', true],
    ['step-*/**', 'step-5/weights/x.bin', true],
    ['ckpt_????.json', 'ckpt_0040.json', true],
    ['ckpt_????.json', 'ckpt_040.json', false],
    ['*.{pt,safetensors}', 'm.safetensors', true],
    ['*.{pt,safetensors}', 'm.bin', false],
    ['model[0-9].pt', 'model7.pt', true],
    ['model[!0-9].pt', 'model7.pt', false],
    ['a+b(1).pt', 'a+b(1).pt', true],
    ['*', 'anything', true],
    ['*', 'dir/file', false],
  ])('%s ~ %s → %s', (glob, path, expected) => {
    expect(matchesGlob(path, glob)).toBe(expected);
  });

  it('compiles once into an anchored RegExp', () => {
    expect(globToRegExp('*.pt').source).toBe('^[^/]*\\.pt$');
  });
});

describe('checkpoint steps and pruning', () => {
  it.each([
    ['ckpt_0040.json', 40], ['model-epoch3-step1200.pt', 1200], ['weights.h5', undefined], ['step-7/model.safetensors', 7],
    ['last.pt', undefined], ['ckpt.100', 100], ['run2/model.tar.gz', 2],
  ])('%s is step %s', (path, step) => {
    expect(stepFromPath(path)).toBe(step);
  });

  it('keeps the newest N', () => {
    expect(checkpointsToPrune([10, 30, 20, 40], 2)).toEqual([10, 20]);
    expect(checkpointsToPrune([10], 3)).toEqual([]);
    expect(checkpointsToPrune([10, 20], 0)).toEqual([]);
  });

  it('groups files of one step, named or not', () => {
    expect(groupByStep(['optim_20.pt', 'model_20.pt', 'model_10.pt', 'last.pt'], () => 15)).toEqual([
      { step: 10, files: ['model_10.pt'] }, { step: 15, files: ['last.pt'] }, { step: 20, files: ['model_20.pt', 'optim_20.pt'] },
    ]);
  });
});

describe('CheckpointWatcher', () => {
  it('hands out a file once it is stable, never files found at the start, and re-puts a step whole', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'ckpt_0005.json'), 'restored');
    let step = 5;
    const w = new CheckpointWatcher(dir, '*.json', () => step);
    await w.baseline();
    writeFileSync(join(dir, 'ckpt_0010.json'), 'ten');
    writeFileSync(join(dir, '.tmp-ckpt_0015.json'), 'half');
    writeFileSync(join(dir, 'notes.txt'), 'not a checkpoint');
    expect(await w.poll()).toEqual([]); // first sight: maybe still being written
    expect(await w.poll()).toEqual([{ step: 10, files: ['ckpt_0010.json'] }]);
    expect(await w.poll()).toEqual([]);
    writeFileSync(join(dir, 'optim_0010.json'), 'ten too');
    await w.poll();
    expect(await w.poll()).toEqual([{ step: 10, files: ['ckpt_0010.json', 'optim_0010.json'] }]);
    step = 12;
    writeFileSync(join(dir, 'last.json'), 'v1');
    await w.poll();
    step = 14;
    expect(await w.poll()).toEqual([{ step: 12, files: ['last.json'] }]);
  });

  it('at the end takes every new file at once, or only the newest for on-exit', async () => {
    const dir = scratchDir();
    mkdirSync(join(dir, 'sub'));
    const w = new CheckpointWatcher(dir, '**/*.json', () => 0);
    await w.baseline();
    for (const s of [3, 6, 9]) writeFileSync(join(dir, 'sub', `c${s}.json`), String(s));
    expect((await w.final(true)).map((g) => g.step)).toEqual([9]);
    const again = new CheckpointWatcher(dir, '**/*.json', () => 0);
    const t = new Date(Date.now() - 10_000);
    utimesSync(join(dir, 'sub', 'c3.json'), t, t);
    expect((await again.final(false)).map((g) => g.files)).toEqual([['sub/c3.json'], ['sub/c6.json'], ['sub/c9.json']]);
  });
});

describe('command and environment', () => {
  const task = (o: Partial<RunnerTask> = {}): RunnerTask => ({ ...makeTask(sandbox('t', '/nonexistent'), { workDir: '/w' }), ...o });

  it('appends the resume argument with the path quoted', () => {
    expect(withResumeArg('python t.py', '--resume {path}', '/w/my ckpt/c.pt')).toBe("python t.py --resume '/w/my ckpt/c.pt'");
    expect(withResumeArg('python t.py', '--resume {path}', undefined)).toBe('python t.py');
    expect(withResumeArg('python t.py', '', '/x')).toBe('python t.py');
  });

  it('gives training code its variables, over whatever the runner inherited', () => {
    const t = task({ parameters: { lr: 0.1, batch_size: 32 }, env: { TRAINCTL_JOB: 'spoofed', A: '1' }, gpus: [1] });
    const env = trainingEnv(t, { workDir: '/w', checkpointDir: '/w/ck', metricsFile: '/w/m.jsonl', resumeFrom: '/w/ck/c.pt' },
      { PATH: '/bin', TRAINCTL_NODE_RECORD: '/rec.json', CUDA_VISIBLE_DEVICES: '0,1,2,3' });
    expect(env).toMatchObject({
      PATH: '/bin', A: '1', HP_LR: '0.1', HP_BATCH_SIZE: '32', TRAINCTL_JOB: 'fit', TRAINCTL_RESUME_FROM: '/w/ck/c.pt',
      TRAINCTL_CHECKPOINT_DIR: '/w/ck', TRAINCTL_METRICS_FILE: '/w/m.jsonl', CUDA_VISIBLE_DEVICES: '1', PYTHONUNBUFFERED: '1',
    });
    expect(env).not.toHaveProperty('TRAINCTL_NODE_RECORD');
    expect(trainingEnv(task(), { workDir: '/w', checkpointDir: '/w/ck', metricsFile: '/m' }, { CUDA_VISIBLE_DEVICES: '3' }).CUDA_VISIBLE_DEVICES).toBe('3');
  });

  const ddp = task({ nodes: 2, nprocPerNode: 4, nodeRank: 1, distributed: { backend: 'nccl', masterAddr: '10.0.0.5', masterPort: 29500 } });
  const flags = '--nnodes 2 --nproc_per_node 4 --node_rank 1 --master_addr 10.0.0.5 --master_port 29500 --max_restarts 0 --monitor_interval 1';

  it.each([
    ['python train.py --lr 0.1', `python -m torch.distributed.run ${flags} train.py --lr 0.1`],
    ['/usr/bin/python3 -u train.py', `/usr/bin/python3 -u -m torch.distributed.run ${flags} train.py`],
    ['python3.11 -W ignore train.py', `python3.11 -W ignore -m torch.distributed.run ${flags} train.py`],
    ['python -m pkg.train --x 1', `python -m torch.distributed.run ${flags} -m pkg.train --x 1`],
    ['torchrun train.py', `torchrun ${flags} train.py`],
    ["python 'my train.py'", `python -m torch.distributed.run ${flags} 'my train.py'`],
  ])('rewrites %s', (command, expected) => {
    expect(distributedCommand(command, ddp, false)?.command).toBe(expected);
  });

  it('adds per-rank redirect maps when the installed torch needs them', () => {
    expect(distributedCommand('python3 t.py', ddp, true)?.command).toBe(`python3 -m torch.distributed.run ${flags} --redirects 9:0 --tee 9:0 t.py`);
  });

  it('leaves commands it cannot place alone, and non-distributed tasks', () => {
    for (const c of ['cd src && python train.py', 'accelerate launch train.py', 'python -c "print(1)"', "python -W 'ignore' t.py"]) {
      expect(distributedCommand(c, ddp, false)).toBeUndefined();
    }
    expect(distributedCommand('python t.py', task(), false)).toBeUndefined();
  });
});

describe('metric extraction', () => {
  const patterns = compilePatterns({ loss: 'loss[=:]\\s*([0-9.eE+-]+)', acc: 'acc=([0-9.]+)' });

  it.each([
    ['{"step": 3, "loss": 0.5, "tag": "x", "ok": true}', { step: 3, values: { loss: 0.5 } }],
    ['{"epoch": 2, "val": 1}', { step: 2, values: { epoch: 2, val: 1 } }],
    ['{"iteration": 7, "loss": 1e-3}', { step: 7, values: { iteration: 7, loss: 0.001 } }],
    ['{"step": 4}', { step: 4, values: {} }],
    ['  {"loss": 2}  ', { values: { loss: 2 } }],
    ['epoch 1 loss: 0.25 acc=0.9', { values: { loss: 0.25, acc: 0.9 } }],
    ['{"msg": "no numbers"}', undefined],
    ['[1, 2]', undefined],
    ['loss: nan', undefined],
    ['Traceback (most recent call last):', undefined],
  ])('%s', (line, expected) => {
    expect(extractMetrics(line, patterns)).toEqual(expected);
  });

  it('places points without a step at the last step seen, starting from the resume step', async () => {
    const written: string[] = [];
    const rec = new MetricsRecorder(2, 100, async (t) => { written.push(t); });
    const at = new Date('2026-01-01T00:00:00Z');
    rec.record({ values: { lr: 0.1 } }, at);
    rec.record({ step: 101, values: { loss: 1 } }, at);
    rec.record({ step: 102, values: {} }, at);
    rec.record({ values: { acc: 0.5 } }, at);
    await rec.flush();
    await rec.flush();
    expect(written).toHaveLength(1);
    expect(written[0]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).map((p) => [p.attempt, p.step])).toEqual([[2, 100], [2, 101], [2, 102]]);
    expect(rec.latest).toEqual({ lr: 0.1, loss: 1, acc: 0.5 });
  });

  it('splits lines across chunks and multibyte characters, and drops an endless line', () => {
    const s = new LineSplitter(16);
    const euro = Buffer.from('€');
    expect(s.push(Buffer.concat([Buffer.from('a\nb'), euro.subarray(0, 1)]))).toEqual(['a']);
    expect(s.push(Buffer.concat([euro.subarray(1), Buffer.from('\r\nc')]))).toEqual(['b€']);
    expect(s.push(Buffer.from('x'.repeat(40)))).toEqual([]);
    expect(s.push(Buffer.from('yy\nnext\n'))).toEqual(['next']);
    expect(s.push(Buffer.from('tail'))).toEqual([]);
    expect(s.end()).toEqual(['tail']);
  });
});

describe('LogSink', () => {
  it('batches many small chunks into few ordered writes', async () => {
    const writes: string[] = [];
    const sink = new LogSink(async (c) => { writes.push(c.toString()); }, () => {}, { flushMs: 20 });
    for (let i = 0; i < 500; i++) sink.push(Buffer.from(`${i}\n`));
    sink.note('hello');
    await new Promise((r) => setTimeout(r, 60));
    expect(writes).toHaveLength(1);
    expect(writes.join('')).toBe(`${Array.from({ length: 500 }, (_, i) => `${i}\n`).join('')}[trainctl] hello\n`);
  });

  it('asks its source to pause above the high-water mark until a slow store catches up', async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => { release = r; });
    const sink = new LogSink(() => slow, () => {}, { flushMs: 1000, batchBytes: 10, highWaterBytes: 25 });
    expect(sink.push(Buffer.alloc(12))).toBe(true);
    expect(sink.push(Buffer.alloc(12))).toBe(true);
    expect(sink.push(Buffer.alloc(12))).toBe(false);
    let drained = false;
    void sink.drained().then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    release();
    await sink.flush();
    expect(drained).toBe(true);
  });

  it('drops a batch the store refused, reporting it, so memory stays bounded', async () => {
    const errors: unknown[] = [];
    const sink = new LogSink(async () => { throw new Error('store down'); }, (e) => errors.push(e));
    sink.push(Buffer.from('lost\n'));
    await sink.flush();
    expect(errors).toHaveLength(1);
    await sink.flush();
    expect(errors).toHaveLength(1);
  });
});

describe('parseRunnerTask', () => {
  const good = () => JSON.parse(JSON.stringify(makeTask(sandbox('t', '/nonexistent'), { workDir: '/w' }))) as Record<string, unknown>;

  it('accepts what a launcher writes', () => {
    expect(parseRunnerTask(good())).not.toHaveProperty('error');
  });

  it.each<[string, (t: Record<string, unknown>) => void, string]>([
    ['a relative workDir', (t) => { t.workDir = 'work'; }, 'workDir must be an absolute path'],
    ['a checkpoint dir outside workDir', (t) => { (t.checkpoint as Record<string, unknown>).dir = '../x'; }, 'checkpoint.dir must stay inside workDir'],
    ['an unknown upload mode', (t) => { (t.checkpoint as Record<string, unknown>).upload = 'sometimes'; }, 'checkpoint.upload must be on-save, on-exit or never'],
    ['a bad regex', (t) => { (t.metrics as Record<string, unknown>).patterns = { loss: '(' }; }, 'metrics.patterns.loss is not a valid regex'],
    ['half a distributed block', (t) => { t.distributed = { backend: 'gloo' }; }, 'distributed needs backend, masterAddr and masterPort'],
    ['a missing attempt', (t) => { delete t.attempt; }, 'attempt must be an integer ≥ 1, got nothing'],
    ['an object parameter', (t) => { t.parameters = { lr: { x: 1 } }; }, 'parameters must be a map'],
  ])('refuses %s', (_what, mutate, message) => {
    const t = good();
    mutate(t);
    expect(parseRunnerTask(t)).toEqual({ error: expect.stringContaining(message) });
  });
});
