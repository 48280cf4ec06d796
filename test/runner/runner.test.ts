// The bundled runner as launchers start it: real Python training processes, a real file:// store.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../src/core/template.js';
import { processStartTime } from '../../src/providers/local/nodes.js';
import { logText, makeTask, metricRows, PY, readJson, runnerPath, runToEnd, sandbox, scratchDir, startRunner, status, waitFor } from './harness.js';

describe('runner: a run that succeeds', () => {
  it('records status, result, metrics, logs and keep-last-N checkpoints with MANIFEST and LATEST', async () => {
    const sb = sandbox();
    const task = makeTask(sb, {
      parameters: { lr: 0.1 },
      command: `${PY} train.py --steps 40 --every 5 --sleep 0.03 --lr 0.1`,
      setup: 'echo setup-output; echo ready > setup.done',
      checkpoint: { keepLastN: 2 },
      metrics: { objective: { metric: 'loss', goal: 'minimize' } },
    });
    const runner = startRunner(task);
    const running = await waitFor(() => status(sb)?.state === 'running' && status(sb), 'a running heartbeat');
    expect(running).toMatchObject({ n: 1, specHash: 'spec-1', nodeRank: 0, pid: runner.pid });
    expect(typeof running.host).toBe('string');
    const { code } = await runner.done;
    expect(code).toBe(0);

    const st = status(sb)!;
    expect(st).toMatchObject({ state: 'succeeded', exitCode: 0, step: 40 });
    expect(st.costUSD as number).toBeGreaterThan(0);
    const result = readJson(join(sb.trialDir, 'result.json'))!;
    expect(result).toMatchObject({ state: 'succeeded', exitCode: 0, attempt: 1, specHash: 'spec-1', best: { metric: 'loss', step: 40 } });
    expect((result.finalMetrics as Record<string, number>).loss).toBeCloseTo(0.9 ** 40, 12);
    expect(result.durationMs as number).toBeGreaterThan(1000);
    expect(readJson(join(sb.trialDir, 'spec.json'))).toMatchObject({ specHash: 'spec-1', parameters: { lr: 0.1 }, command: task.command });

    const rows = metricRows(sb);
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(rows[0]).toMatchObject({ attempt: 1, step: 1, loss: 0.9, lr: 0.1 });
    expect(Object.keys(rows[0]!).slice(0, 3)).toEqual(['attempt', 'step', 'time']);
    expect(rows[0]).not.toHaveProperty('note');

    const log = logText(sb);
    expect(log.indexOf('setup-output')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('setup-output')).toBeLessThan(log.indexOf('"step": 1,'));
    expect(log).toContain('done\n');

    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([35, 40]);
    expect(readFileSync(join(sb.trialDir, 'checkpoints', 'LATEST'), 'utf8').trim()).toBe('40');
    const manifest = readJson<{ files: { path: string; size: number; sha256: string }[]; attempt: number }>(join(sb.trialDir, 'checkpoints', '40', 'MANIFEST.json'))!;
    const stored = readFileSync(join(sb.trialDir, 'checkpoints', '40', 'ckpt_0040.json'));
    expect(manifest.attempt).toBe(1);
    expect(manifest.files).toEqual([{ path: 'ckpt_0040.json', size: stored.length, sha256: createHash('sha256').update(stored).digest('hex') }]);
    expect(JSON.parse(stored.toString())).toMatchObject({ step: 40 });
  });

  it('a failing command ends the attempt failed with its exit code and writes no result', async () => {
    const sb = sandbox();
    const { code } = await runToEnd(makeTask(sb, { command: `${PY} train.py --steps 20 --fail-at 4 --sleep 0.01` }));
    expect(code).toBe(1);
    expect(status(sb)).toMatchObject({ state: 'failed', exitCode: 3, step: 4 });
    expect(existsSync(join(sb.trialDir, 'result.json'))).toBe(false);
    expect(logText(sb)).toContain('failing at step 4');
  });

  it('a failing setup fails the attempt before the command runs', async () => {
    const sb = sandbox();
    const task = makeTask(sb, { setup: 'echo installing; exit 7', command: `${PY} train.py --steps 3` });
    const { code } = await runToEnd(task);
    expect(code).toBe(1);
    expect(status(sb)).toMatchObject({ state: 'failed', exitCode: 7, error: 'setup exited with code 7' });
    expect(existsSync(join(task.workDir, 'train.pid'))).toBe(false);
  });

  it('a missing work dir fails the attempt with the reason, instead of training in an empty dir', async () => {
    const sb = sandbox();
    const workDir = join(sb.root, 'never-prepared');
    const { code, stderr } = await startRunner(makeTask(sb, { workDir })).done;
    expect(code).toBe(1);
    expect(stderr).toContain('does not exist');
    expect(status(sb)).toMatchObject({ state: 'failed', error: expect.stringContaining(`workDir ${workDir} does not exist`) });
    expect(existsSync(workDir)).toBe(false);
  });

  it('a second runner for the same attempt and rank exits 0 without training', async () => {
    const sb = sandbox();
    expect(await sb.store.claimAttempt(sb.ref, 1, 0, 'another-host:42')).toBe(true);
    const task = makeTask(sb, { command: `${PY} train.py --steps 3` });
    const { code, stderr } = await runToEnd(task);
    expect(code).toBe(0);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('claimed by another runner')]);
    expect(existsSync(join(task.workDir, 'train.pid'))).toBe(false);
    expect(status(sb)).toBeUndefined();
  });
});

describe('runner: the local node record', () => {
  it('fills in its own pid and start time when the launcher has not (TRAINCTL_NODE_RECORD)', async () => {
    const sb = sandbox();
    const record = { id: 'n1', project: 'lab', job: 'fit', trial: sb.ref.trial, specHash: 'spec-1', nodeRank: 0, attempt: 1, launchedAt: '2026-01-01T00:00:00Z', pid: null, pidStart: '', claimedAt: '2026-01-01T00:00:00Z' };
    const path = join(sb.root, 'n1.json');
    writeFileSync(path, JSON.stringify(record));
    const runner = startRunner(makeTask(sb, { command: `${PY} train.py --steps 30 --sleep 0.02` }), { env: { TRAINCTL_NODE_RECORD: path } });
    const filled = await waitFor(() => readJson<{ pid: number | null; pidStart: string }>(path)?.pid !== null && readJson<{ pid: number; pidStart: string }>(path), 'the pid in the record');
    expect(filled).toEqual({ ...record, pid: runner.pid, pidStart: processStartTime(runner.pid) });
    expect(filled.pidStart).toMatch(/^\d+$/);
    await runner.done;

    // a record the launcher completed is the launcher's: left alone
    const other = sandbox();
    const done = { ...record, trial: other.ref.trial, pid: 1, pidStart: '5' };
    writeFileSync(path, JSON.stringify(done));
    await runToEnd(makeTask(other, { command: `${PY} train.py --steps 1` }), { env: { TRAINCTL_NODE_RECORD: path } });
    expect(readJson(path)).toEqual(done);
  });
});

describe('runner: what training code is given', () => {
  it('passes hyperparameters verbatim through {name} placeholders and HP_ variables, with the TRAINCTL_ environment', async () => {
    const sb = sandbox();
    const nasty = `it's "quoted"; $(touch pwned1) \`touch pwned2\` && echo  two  spaces $HOME \\n`;
    const parameters = { msg: nasty, lr: 0.001, deep: true };
    const task = makeTask(sb, {
      parameters,
      command: renderTemplate(`${PY} echo_args.py --msg {msg} --lr {lr} --deep={deep}`, parameters),
      env: { EXTRA_FLAG: 'x y' },
      gpus: [0, 2],
    });
    expect((await runToEnd(task)).code).toBe(0);
    const seen = readJson<{ argv: string[]; env: Record<string, string> }>(join(task.workDir, 'args.json'))!;
    expect(seen.argv).toEqual(['--msg', nasty, '--lr', '0.001', '--deep=true']);
    expect(seen.env).toMatchObject({
      HP_MSG: nasty, HP_LR: '0.001', HP_DEEP: 'true', EXTRA_FLAG: 'x y',
      TRAINCTL_PROJECT: 'lab', TRAINCTL_JOB: 'fit', TRAINCTL_TRIAL: sb.ref.trial, TRAINCTL_ATTEMPT: '1', TRAINCTL_NODE_RANK: '0',
      TRAINCTL_CHECKPOINT_DIR: join(task.workDir, 'checkpoints'),
      TRAINCTL_METRICS_FILE: join(task.workDir, '.trainctl-metrics.jsonl'),
      CUDA_VISIBLE_DEVICES: '0,2', PYTHONUNBUFFERED: '1',
    });
    expect(seen.env).not.toHaveProperty('TRAINCTL_RESUME_FROM');
    for (const f of ['pwned1', 'pwned2']) expect(existsSync(join(task.workDir, f))).toBe(false);
  });

  it('resumes a checkpoint of several files from its directory (TRAINCTL_RESUME_FROM and resumeArg)', async () => {
    const sb = sandbox();
    const local = scratchDir();
    writeFileSync(join(local, 'model_20.pt'), 'm');
    writeFileSync(join(local, 'optim_20.pt'), 'o');
    await sb.store.putCheckpoint(sb.ref, 20, 1, local, ['model_20.pt', 'optim_20.pt']);
    const task = makeTask(sb, { attempt: 2, resumeFromStep: 20, command: `${PY} echo_args.py`, checkpoint: { dir: 'ckpt dir', resumeArg: '--from={path}' } });
    expect((await runToEnd(task)).code).toBe(0);
    const seen = readJson<{ argv: string[]; env: Record<string, string> }>(join(task.workDir, 'args.json'))!;
    const dir = join(task.workDir, 'ckpt dir');
    expect(seen.env.TRAINCTL_RESUME_FROM).toBe(dir);
    expect(seen.argv).toEqual([`--from=${dir}`]);
    expect(readFileSync(join(dir, 'optim_20.pt'), 'utf8')).toBe('o');
    // the restored files are where training starts from, not new checkpoints
    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([20]);
  });

  it('hides every GPU for gpus: []', async () => {
    const sb = sandbox();
    const task = makeTask(sb, { command: `${PY} echo_args.py`, gpus: [] });
    expect((await runToEnd(task)).code).toBe(0);
    expect(readJson<{ env: Record<string, string> }>(join(task.workDir, 'args.json'))!.env.CUDA_VISIBLE_DEVICES).toBe('');
  });

  it('extracts metrics with metrics.patterns from text lines', async () => {
    const sb = sandbox();
    await runToEnd(makeTask(sb, {
      command: `${PY} train.py --text --steps 5 --every 0 --sleep 0`,
      metrics: { patterns: { loss: 'loss[=:]\\s*([0-9.eE+-]+)', step: 'step=(\\d+)', missing: 'nope=(\\d+)' } },
    }));
    const rows = metricRows(sb);
    expect(rows.map((r) => [r.step, r.loss])).toEqual([1, 2, 3, 4, 5].map((s) => [s, Number((0.9 ** s).toPrecision(10))]));
    expect(rows[0]).not.toHaveProperty('missing');
    expect(rows[0]).not.toHaveProperty('lr');
  });

  it('reads JSON lines the code appends to TRAINCTL_METRICS_FILE', async () => {
    const sb = sandbox();
    await runToEnd(makeTask(sb, {
      command: `${PY} train.py --metrics-file --steps 6 --every 0 --sleep 0.1`,
      metrics: { objective: { metric: 'val_loss', goal: 'minimize' } },
    }));
    const fromFile = metricRows(sb).filter((r) => 'val_loss' in r);
    expect(fromFile.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fromFile[5]!.val_loss).toBeCloseTo(2 * 0.9 ** 6, 12);
    expect(readJson(join(sb.trialDir, 'result.json'))).toMatchObject({ best: { metric: 'val_loss', step: 6 } });
  });
});

describe('runner: checkpoint upload modes', () => {
  it('on-exit uploads only the final checkpoint; never uploads none', async () => {
    const onExit = sandbox();
    await runToEnd(makeTask(onExit, { command: `${PY} train.py --steps 12 --every 3 --sleep 0.05`, checkpoint: { upload: 'on-exit' } }));
    expect(await onExit.store.listCheckpoints(onExit.ref)).toEqual([12]);

    const never = sandbox();
    await runToEnd(makeTask(never, { command: `${PY} train.py --steps 6 --every 3 --sleep 0`, checkpoint: { upload: 'never' } }));
    expect(status(never)?.state).toBe('succeeded');
    expect(existsSync(join(never.trialDir, 'checkpoints'))).toBe(false);
  });
});

describe('runner: as shipped', () => {
  it('runs from dist/runner.js copied alone into an empty directory', async () => {
    const lonely = scratchDir('trainctl-lonely-');
    copyFileSync(runnerPath, join(lonely, 'runner.js'));
    const sb = sandbox();
    const { code, stderr } = await runToEnd(makeTask(sb, { command: `${PY} train.py --steps 3 --sleep 0` }), {
      runner: join(lonely, 'runner.js'), cwd: lonely, env: { NODE_PATH: '' },
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(status(sb)?.state).toBe('succeeded');
  });

  it('refuses a bad task file with one line and a non-zero exit', async () => {
    const dir = scratchDir();
    const cases: [string, string][] = [
      ['{ not json', 'is not valid JSON'],
      [JSON.stringify({ formatVersion: 99 }), 'formatVersion 99'],
      [JSON.stringify({ ...makeTask(sandbox()), heartbeatMs: 'often' }), 'heartbeatMs must be'],
      [JSON.stringify({ ...makeTask(sandbox()), storeUri: 'gs://bucket/runs/' }), 'unknown scheme (expected file:// or s3://)'],
      [JSON.stringify({ ...makeTask(sandbox()), storeUri: 's3://Bad_Bucket/runs/' }), 'invalid S3 bucket name "Bad_Bucket"'],
    ];
    for (const [i, [text, expected]] of cases.entries()) {
      const path = join(dir, `task-${i}.json`);
      writeFileSync(path, text);
      const { code, stderr } = await startRunner(path).done;
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(expected);
    }
    const missing = await startRunner(join(dir, 'nope.json')).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });
});
