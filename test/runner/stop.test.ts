// Stopping and resuming: SIGTERM (the spot path), SIGKILL of the runner (node lost), maxDuration,
// and resuming only from checkpoints that are complete and intact.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRunning, logText, makeTask, metricRows, PY, readJson, runToEnd, sandbox, startRunner, status, waitFor } from './harness.js';

const latest = (trialDir: string) => {
  try {
    return Number(readFileSync(join(trialDir, 'checkpoints', 'LATEST'), 'utf8'));
  } catch {
    return undefined;
  }
};

describe('runner: SIGTERM and resume', () => {
  it('uploads the final checkpoint, ends interrupted, and a resumed attempt continues with no gap or repeat', async () => {
    const sb = sandbox();
    const command = (sleep: number) => `${PY} train.py --steps 100 --every 5 --sleep ${sleep}`;
    const first = startRunner(makeTask(sb, { command: command(0.03), checkpoint: { keepLastN: 2 } }));
    await waitFor(() => latest(sb.trialDir), 'a first checkpoint in the store');
    first.child.kill('SIGTERM');
    const { code } = await first.done;
    expect(code).toBe(0);

    const st = status(sb)!;
    expect(st.state).toBe('interrupted');
    expect(existsSync(join(sb.trialDir, 'result.json'))).toBe(false);
    const stepsBefore = metricRows(sb).map((r) => r.step as number);
    const lastStep = stepsBefore.at(-1)!;
    expect(lastStep).toBeLessThan(100);
    // the code saved on SIGTERM at the step it had reached, and that is what the store resumes from
    expect(logText(sb)).toContain(`SIGTERM: saved step ${lastStep}`);
    expect(latest(sb.trialDir)).toBe(lastStep);
    expect(st.step).toBe(lastStep);
    expect((await sb.store.listCheckpoints(sb.ref)).length).toBeLessThanOrEqual(2);

    const second = makeTask(sb, { attempt: 2, command: command(0.005), resumeFromStep: lastStep, checkpoint: { keepLastN: 2 } });
    expect((await runToEnd(second)).code).toBe(0);
    const rows = metricRows(sb);
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(rows.filter((r) => r.attempt === 2)[0]!.step).toBe(lastStep + 1);
    // the resumed weights are the checkpointed ones: every loss is what one uninterrupted run prints
    for (const r of rows) expect(r.loss).toBeCloseTo(0.9 ** (r.step as number), 12);
    const restored = join(second.workDir, 'checkpoints', `ckpt_${String(lastStep).padStart(4, '0')}.json`);
    expect(logText(sb, 2)).toContain(`resumed from step ${lastStep} (${restored})`);
    expect(status(sb, 2)).toMatchObject({ state: 'succeeded', resumedFromStep: lastStep });
    const result = readJson(join(sb.trialDir, 'result.json'))!;
    expect(result).toMatchObject({ state: 'succeeded', attempt: 2 });
    // the trial's cost covers both attempts
    expect(result.costUSD as number).toBeGreaterThan(status(sb, 2)!.costUSD as number);
  });

  it('never resumes from a checkpoint that lacks its MANIFEST or fails its sha256', async () => {
    const sb = sandbox();
    await runToEnd(makeTask(sb, { command: `${PY} train.py --steps 10 --every 5 --sleep 0`, checkpoint: { keepLastN: 5 } }));
    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([5, 10]);
    writeFileSync(join(sb.trialDir, 'checkpoints', '10', 'ckpt_0010.json'), '{"step": 10, "w": 123}');
    rmSync(join(sb.trialDir, 'checkpoints', '5', 'MANIFEST.json'));
    expect(await sb.store.listCheckpoints(sb.ref)).toEqual([10]);

    for (const [attempt, step, why] of [[2, 10, 'does not match its MANIFEST'], [3, 5, 'no valid MANIFEST.json']] as const) {
      const task = makeTask(sb, { attempt, resumeFromStep: step, command: `${PY} train.py --steps 20` });
      const { code } = await runToEnd(task);
      expect(code).toBe(1);
      expect(status(sb, attempt)).toMatchObject({ state: 'failed', error: expect.stringContaining(why) });
      expect(existsSync(join(task.workDir, 'train.pid'))).toBe(false);
      expect(existsSync(join(task.workDir, 'checkpoints', `ckpt_${String(step).padStart(4, '0')}.json`))).toBe(false);
    }
  });
});

describe('runner: SIGKILL of the runner', () => {
  it('leaves the status as it was (node lost), stops the training processes, and does not block the next attempt', async () => {
    const sb = sandbox();
    // quiet: a training process that prints would die of the closed pipe alone, proving nothing
    const task = makeTask(sb, { command: `${PY} train.py --quiet --steps 400 --every 5 --sleep 0.02`, checkpoint: { gracePeriodMs: 2000 } });
    const runner = startRunner(task);
    await waitFor(() => latest(sb.trialDir), 'a first checkpoint in the store');
    const trainPid = Number(readFileSync(join(task.workDir, 'train.pid'), 'utf8'));
    expect(isRunning(trainPid)).toBe(true);
    runner.child.kill('SIGKILL');
    await runner.done;
    const frozen = status(sb)!;
    expect(frozen.state).toBe('running');
    // the watchdog saw the runner's pipe close and stopped the group (SIGTERM, then SIGKILL after the grace)
    await waitFor(() => !isRunning(trainPid), 'the orphaned training process to stop', 8000);
    // through its SIGTERM handler (the grace the runner would have given), not a crash
    expect(existsSync(join(task.workDir, 'sigterm.txt'))).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(status(sb)).toEqual(frozen);

    const next = makeTask(sb, { attempt: 2, resumeFromStep: latest(sb.trialDir)!, command: `${PY} train.py --steps 40 --every 5 --sleep 0` });
    expect((await runToEnd(next)).code).toBe(0);
    expect(status(sb, 2)?.state).toBe('succeeded');
    expect(status(sb)).toEqual(frozen);
  });
});

describe('runner: limits.maxDuration', () => {
  it('onExceed stop: a graceful stop that ends the trial stopped, with its final checkpoint and a result', async () => {
    const sb = sandbox();
    const { code } = await runToEnd(makeTask(sb, {
      command: `${PY} train.py --steps 500 --every 50 --sleep 0.01`,
      limits: { maxDurationMs: 1200, onExceed: 'stop' },
    }));
    expect(code).toBe(0);
    const st = status(sb)!;
    expect(st.state).toBe('stopped');
    expect(st.step).toBeLessThan(500);
    expect(latest(sb.trialDir)).toBe(st.step);
    expect(readJson(join(sb.trialDir, 'result.json'))).toMatchObject({ state: 'stopped', attempt: 1 });
    expect(logText(sb)).toContain('maxDuration reached');
  });

  it('onExceed warn: a line in the log, and training goes on to the end', async () => {
    const sb = sandbox();
    await runToEnd(makeTask(sb, { command: `${PY} train.py --steps 20 --sleep 0.03`, limits: { maxDurationMs: 200, onExceed: 'warn' } }));
    expect(status(sb)).toMatchObject({ state: 'succeeded', step: 20 });
    expect(logText(sb)).toMatch(/maxDuration \(200 ms\) exceeded; onExceed is warn/);
  });

  it('kills code that ignores SIGTERM once the grace period is over', async () => {
    const sb = sandbox();
    const started = Date.now();
    const runner = startRunner(makeTask(sb, {
      command: `${PY} train.py --steps 1000 --sleep 0.01 --ignore-term`,
      checkpoint: { gracePeriodMs: 800 },
    }));
    await waitFor(() => status(sb)?.state === 'running' && (status(sb)?.step ?? 0) > 3, 'training to start');
    runner.child.kill('SIGTERM');
    expect((await runner.done).code).toBe(0);
    expect(status(sb)).toMatchObject({ state: 'interrupted', exitCode: 137 });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
