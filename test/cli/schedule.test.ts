// Scheduled and triggered jobs end to end: the built CLI with its clock pinned by TRAINCTL_NOW,
// the local provider running real runners, a file:// store. A due slot launches one run, a second
// apply launches nothing, the next day's slot is a new run with its own ids; new data under an S3
// (radosgw) or file:// trigger prefix starts a run once; bad schedules are one-line diagnostics.
import { randomBytes } from 'node:crypto';
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { listNodeRecords } from '../../src/providers/local/nodes.js';
import { repoRoot, runCli, stopProcesses, tempDir, until, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const code = join(repoRoot, 'test/fixtures/apply/code');

interface PlanJson {
  summary: Record<string, number>;
  warnings: string[];
  jobs: { job: string; schedule?: { concurrencyPolicy: string; due?: { slot: string; by: string; object?: string }; next?: string } }[];
  actions: { trial: string; kind: string; reason: string }[];
}

const job = (name: string, extra: string, args = '--steps 20 --sleep 0.005') => `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: ${name}, project: schedtest }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} ${args}" }
  checkpoint: { dir: checkpoints/, pattern: "*.json", gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: [0.1, 0.05] }
${extra}`;


const homes: string[] = [];
afterAll(async () => {
  await stopProcesses(homes.flatMap((h) => listNodeRecords(h).map(({ rec }) => rec)));
});

function suite(prefix: string, env: Record<string, string> = {}) {
  const dir = tempDir(`trainctl-sched-${prefix}-`);
  const home = join(dir, 'home');
  homes.push(home);
  const cli = (args: string[], now: string) => runCli(args, { cwd: dir, env: { ...env, TRAINCTL_HOME: home, TRAINCTL_NOW: now } });
  const planJson = async (now: string): Promise<PlanJson> => {
    const r = await cli(['plan', '-f', 'job.yaml', '-o', 'json'], now);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as PlanJson;
  };
  const result = (job: string, trial: string) => join(home, 'runs/schedtest', job, trial, 'result.json');
  return { dir, home, cli, planJson, result };
}

const brief = (p: PlanJson) => p.actions.map((a) => `${a.kind} ${a.reason} ${a.trial.replace(/^[a-z-]+-[0-9a-f]{8}-/, '')}`);

describe('a nightly job (cron 0 2 * * *, Forbid, startingDeadline 1h)', () => {
  const { dir, cli, planJson, result } = suite('nightly');
  writeFiles(dir, { 'job.yaml': job('nightly', '  schedule: { cron: "0 2 * * *", timezone: UTC, startingDeadline: 1h, concurrencyPolicy: Forbid }') });
  const DAY1 = '2026-11-25T02:05:00Z';
  let ids: string[] = [];

  it('before the first slot wants nothing and names the next tick', async () => {
    const p = await planJson('2026-11-25T01:59:00Z');
    expect(p.actions).toEqual([]);
    expect(p.jobs[0]!.schedule).toEqual({ concurrencyPolicy: 'Forbid', next: '2026-11-25T02:00:00.000Z' });
    const text = await cli(['plan', '-f', 'job.yaml'], '2026-11-25T01:59:00Z');
    expect(text.stdout).toContain('schedule: no run due; next tick 2026-11-25 02:00 UTC; concurrencyPolicy Forbid');
    const md = await cli(['plan', '-f', 'job.yaml', '--output', 'markdown', '--detailed-exitcode'], DAY1);
    expect(md.code).toBe(2);
    expect(md.stdout).toMatch(/^### trainctl plan\n\n\*\*Plan:\*\* 2 to create/);
    expect(md.stdout).toContain('| `+` | create | `nightly-');
    expect(md.stdout).toContain('- schedule: run 2026-11-25 02:00 UTC due (cron)');
  });

  it('launches exactly one run for the due slot, and a second apply launches nothing', async () => {
    const p = await planJson(DAY1);
    expect(brief(p)).toEqual(['create new 20261125t0200', 'create new 20261125t0200']);
    expect(p.jobs[0]!.schedule?.due).toEqual({ slot: '20261125t0200', by: 'cron' });
    ids = p.actions.map((a) => a.trial);

    const first = await cli(['apply', '-f', 'job.yaml', '--yes'], DAY1);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Plan: 2 to create');
    const second = await cli(['apply', '-f', 'job.yaml', '--yes'], '2026-11-25T02:06:00Z');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('No changes.');
    await until(() => ids.every((id) => existsSync(result('nightly', id))), 'both trials to finish', 30_000);
  });

  it('after the run: nothing until the next tick, and a slot past its deadline is skipped with a warning', async () => {
    const later = await planJson('2026-11-25T05:00:00Z');
    expect(brief(later)).toEqual(['noop finished 20261125t0200', 'noop finished 20261125t0200']);
    const missed = await planJson('2026-11-26T03:30:00Z');
    expect(missed.summary.create).toBe(0);
    expect(missed.warnings).toContain('job nightly: the run of 2026-11-26 02:00 UTC missed its startingDeadline 1h and is skipped');
  });

  it("the next day's slot is a new run with its own trial ids", async () => {
    const p = await planJson('2026-11-26T02:30:00Z');
    expect(brief(p)).toEqual(['noop finished 20261125t0200', 'noop finished 20261125t0200', 'create new 20261126t0200', 'create new 20261126t0200']);
    expect(p.actions.slice(2).map((a) => a.trial)).toEqual(ids.map((id) => id.replace('20261125t0200', '20261126t0200')));
  });
});

describe('Forbid and Replace with a run still going', () => {
  const { dir, cli, planJson } = suite('overlap');
  const spec = (policy: string) => job('overlap', `  schedule: { cron: "0 * * * *", concurrencyPolicy: ${policy} }`, '--steps 3000 --sleep 0.01');

  it('Forbid makes the new slot wait; Replace plans to stop the old run and start the new one', async () => {
    writeFiles(dir, { 'job.yaml': spec('Forbid') });
    const launched = await cli(['apply', '-f', 'job.yaml', '--yes'], '2026-11-25T10:01:00Z');
    expect(launched.code).toBe(0);
    const forbid = await planJson('2026-11-25T11:01:00Z');
    expect(brief(forbid)).toEqual(['noop running 20261125t1000', 'noop running 20261125t1000', 'wait schedule-forbid 20261125t1100', 'wait schedule-forbid 20261125t1100']);

    writeFiles(dir, { 'job.yaml': spec('Replace') });
    const replace = await planJson('2026-11-25T11:01:00Z');
    expect(brief(replace)).toEqual(['stop schedule-replaced 20261125t1000', 'stop schedule-replaced 20261125t1000', 'create new 20261125t1100', 'create new 20261125t1100']);
    const text = await cli(['plan', '-f', 'job.yaml'], '2026-11-25T11:01:00Z');
    expect(text.stdout).toContain('a newer scheduled run replaces it (concurrencyPolicy: Replace)');
    const destroyed = await cli(['destroy', '-f', 'job.yaml', '--yes'], '2026-11-25T11:01:00Z');
    expect(destroyed.code).toBe(0);
  });
});

describe('a job triggered by new data', () => {
  it('under a file:// prefix: each newer matching file starts one run, in the minute it landed', async () => {
    const { dir, cli, planJson } = suite('ftrigger');
    writeFiles(dir, { 'job.yaml': job('ingest', '  triggers: { s3: { prefix: "file://./incoming/", pattern: "**/*.csv" } }') });
    expect((await planJson('2026-11-25T12:00:00Z')).actions).toEqual([]);

    writeFiles(dir, { 'incoming/day1/part-0.csv': '1,2\n', 'incoming/day1/notes.txt': 'ignored' });
    utimesSync(join(dir, 'incoming/day1/part-0.csv'), new Date('2026-11-25T09:30:10Z'), new Date('2026-11-25T09:30:10Z'));
    utimesSync(join(dir, 'incoming/day1/notes.txt'), new Date('2026-11-25T11:00:00Z'), new Date('2026-11-25T11:00:00Z'));
    const p = await planJson('2026-11-25T12:00:00Z');
    expect(brief(p)).toEqual(['create new 20261125t0930', 'create new 20261125t0930']);
    expect(p.jobs[0]!.schedule?.due).toEqual({ slot: '20261125t0930', by: 's3', object: `file://${dir}/incoming/day1/part-0.csv` });
    const applied = await cli(['apply', '-f', 'job.yaml', '--yes'], '2026-11-25T12:00:00Z');
    expect(applied.code).toBe(0);
    expect((await planJson('2026-11-25T12:01:00Z')).summary.create).toBe(0);
  });

  it('under an s3:// prefix on radosgw', async () => {
    const client = testClient();
    const bucket = await makeBucket(client, 'trig');
    const prefix = `incoming/${randomBytes(3).toString('hex')}/`;
    const { dir, planJson } = suite('s3trigger', s3Env());
    writeFiles(dir, { 'job.yaml': job('s3ingest', `  triggers: { s3: { prefix: "s3://${bucket}/${prefix}", pattern: "*.parquet" } }`) });
    expect((await planJson('2030-01-01T00:00:00Z')).actions).toEqual([]);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}a.parquet`, Body: 'x' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}b.csv`, Body: 'not matched' }));
    const p = await planJson('2030-01-01T00:00:00Z');
    expect(p.summary.create).toBe(2);
    expect(p.jobs[0]!.schedule?.due).toMatchObject({ by: 's3', object: `s3://${bucket}/${prefix}a.parquet` });
    expect(p.actions[0]!.trial).toMatch(/^s3ingest-[0-9a-f]{8}-\d{8}t\d{4}$/);
  });
});

describe('bad schedules and triggers', () => {
  it.each([
    ['schedule: { cron: "61 2 * * *" }', /^job\.yaml:\d+:\d+: error: invalid cron expression "61 2 \* \* \*".*\s—\s/],
    ['schedule: { cron: "0 2 * *" }', /^job\.yaml:\d+:\d+: error: cron expression must have 5 fields .*got 4\s—\s/],
    ['schedule: { cron: "0 2 * * *", timezone: Mars/Olympus }', /^job\.yaml:\d+:\d+: error: unknown time zone "Mars\/Olympus"\s—\s/],
    ['schedule: { cron: "0 2 * * *", startingDeadline: soon }', /^job\.yaml:\d+:\d+: error: .*startingDeadline/],
    ['triggers: { s3: { prefix: "http://bucket/x/" } }', /^job\.yaml:\d+:\d+: error: triggers\.s3\.prefix: unsupported URI scheme "http:\/\/"\s—\s/],
    ['triggers: { s3: { prefix: "s3://b/x/" } }', /^job\.yaml:\d+:\d+: error: triggers\.s3\.prefix: invalid S3 bucket name "b"\s—\s/],
    ['triggers: { s3: { pattern: "*.csv" } }', /^job\.yaml:\d+:\d+: error: .*prefix/],
    ['schedule: { cron: "0 2 * * *" }\n  triggers: { s3: { prefix: "s3://bucket/x/" }, concurrencyPolicy: Allow }', /^job\.yaml:\d+:\d+: error: triggers\.concurrencyPolicy is for jobs without a schedule\s—\s/],
  ])('%s', async (extra, want) => {
    const dir = tempDir('trainctl-sched-bad-');
    writeFiles(dir, { 'job.yaml': job('bad', `  ${extra}`) });
    const r = await runCli(['validate', '-f', 'job.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(want);
  });
});
