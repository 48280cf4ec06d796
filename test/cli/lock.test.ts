// The apply lock end to end: two real `trainctl apply` processes started at the same moment, on the
// local file store and on radosgw: exactly one launches each trial, the other fails naming the
// holder, or with --lock-timeout waits and then finds nothing to do. Then force-unlock, an expired
// lease taken over, the lease of a killed apply taken over, and renewal while `--wait` runs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { LeaseRecord, LeaseStore } from '../../src/store/lock.js';
import { FileStore } from '../../src/store/file.js';
import { S3Store } from '../../src/store/s3.js';
import type { RunStoreReader } from '../../src/store/store.js';
import { type CliResult, repoRoot, runCli, runners, seenProcess, stopProcesses, tempDir, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const code = join(repoRoot, 'test/fixtures/apply/code');
const client = testClient();
const bucket = makeBucket(client, 'lockcli');
const homes: string[] = [];



afterAll(async () => {
  // each runner leads its own process group, with its training process in it
  await stopProcesses(homes.flatMap((h) => [...runners(h).values()].flat()).map(seenProcess), { group: true, graceMs: 0 });
});

const LRS = [0.1, 0.05, 0.02];

interface Setup {
  dir: string;
  home: string;
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  leases: LeaseStore & RunStoreReader;
}

interface Kind { name: string; setup(): Promise<Setup> }

function setupWith(storeUri: string | undefined, env: Record<string, string>, leases: (home: string) => LeaseStore & RunStoreReader): Setup {
  const dir = tempDir('trainctl-lock-');
  const home = join(dir, 'home');
  homes.push(home);
  writeFiles(dir, { 'job.yaml': `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: lk, project: locks }
spec:
  code: { path: ${code}, command: "python3 train.py --lr {lr} --steps 5000 --sleep 0.01" }
${storeUri ? `  output: { uri: "${storeUri}" }\n` : ''}  checkpoint: { dir: checkpoints/, pattern: "*.json", gracePeriod: 10s }
  hyperparameters:
    parameters: { lr: [${LRS.join(', ')}] }
` });
  return {
    dir, home, leases: leases(home),
    cli: (args, extra = {}) => runCli(args, { cwd: dir, env: { ...env, TRAINCTL_HOME: home, ...extra } }),
  };
}

const kinds: Kind[] = [
  { name: 'file://', setup: async () => setupWith(undefined, {}, (home) => new FileStore(pathToFileURL(join(home, 'runs')).href)) },
  {
    name: 's3:// (radosgw)',
    setup: async () => {
      const uri = `s3://${await bucket}/${randomBytes(4).toString('hex')}/runs/`;
      return setupWith(uri, s3Env(), () => new S3Store(uri, client));
    },
  },
];

const LOCKED = /^error: project locks is locked by \S+:\d+ \(trainctl apply\) since \S+Z, lock id ([0-9a-f]{24}) — wait for it with --lock-timeout 5m; if that process is gone, `trainctl force-unlock \1 -f job\.yaml` \(or wait until \S+Z, when it expires\)\n$/;

describe.each(kinds)('concurrent applies on $name', ({ setup }) => {
  // --wait holds the lock until the sweep ends (seconds), so the two surely overlap however their
  // start-up times differ; the lock is the same one a plain apply takes
  const sweep = (s: Setup, extra: string[] = []) => s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s', ...extra]);
  const short = (s: Setup) => writeFileSync(join(s.dir, 'job.yaml'), readFileSync(join(s.dir, 'job.yaml'), 'utf8').replace('--steps 5000 --sleep 0.01', '--steps 200 --sleep 0.01'));
  /** Every trial ran exactly once: one attempt, succeeded. */
  const ranOnce = async (s: Setup) => {
    const recs = await s.leases.readRecords('locks');
    expect(recs).toHaveLength(3);
    for (const r of recs) expect(r.attempts.map((a) => a.state)).toEqual(['succeeded']);
  };

  it('started at the same moment: exactly one launches each trial, the other fails naming the holder', async () => {
    const s = await setup();
    short(s);
    const both = await Promise.all([sweep(s), sweep(s)]);
    const won = both.filter((r) => r.code === 0);
    const lost = both.filter((r) => r.code === 1);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(won[0]!.stdout.match(/^created lk-[0-9a-f]{8} \(attempt 1\)$/gm)).toHaveLength(3);
    expect(won[0]!.stdout).toMatch(/^Training completed: 3 trials/m);
    expect(lost[0]!.stderr).toMatch(LOCKED);
    expect(lost[0]!.stdout).toBe('');
    await ranOnce(s);
    // released at the end: the lease stays, marked so
    expect((await s.leases.readLease('locks'))?.lease).toMatchObject({ released: true });
  }, 60_000);

  it('with --lock-timeout the second waits, then finds nothing left to do', async () => {
    const s = await setup();
    short(s);
    const both = await Promise.all([sweep(s, ['--lock-timeout', '50s']), sweep(s, ['--lock-timeout', '50s'])]);
    for (const r of both) expect(r.code).toBe(0);
    const second = both.find((r) => r.stderr !== '');
    const first = both.find((r) => r !== second);
    expect(first!.stdout).toContain('Plan: 3 to create');
    expect(second!.stderr).toMatch(/^waiting for the lock of project locks, held by \S+:\d+ \(trainctl apply\) since \S+Z\n$/);
    expect(second!.stdout).toContain('No changes. 3 trials match the specs.');
    expect(second!.stdout).not.toContain('to create');
    await ranOnce(s);
  }, 60_000);

  it('force-unlock releases a lock whose holder is gone; apply then goes ahead', async () => {
    const s = await setup();
    const token = randomBytes(12).toString('hex');
    const stale: LeaseRecord = { holder: 'build-7:4242 (trainctl apply)', token, acquiredAt: new Date(Date.now() - 60_000).toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
    expect(await s.leases.createLease('locks', stale)).toBeDefined();

    const refused = await s.cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`error: project locks is locked by build-7:4242 (trainctl apply) since ${stale.acquiredAt}, lock id ${token} — wait for it with --lock-timeout 5m; if that process is gone, \`trainctl force-unlock ${token} -f job.yaml\` (or wait until ${stale.expiresAt}, when it expires)\n`);
    expect(runners(s.home).size).toBe(0);
    // destroy takes the same lease (a dry run, which changes nothing, does not)
    const destroy = await s.cli(['destroy', '-f', 'job.yaml', '--yes']);
    expect(destroy).toMatchObject({ code: 1, stdout: '' });
    expect(destroy.stderr).toContain(`is locked by build-7:4242 (trainctl apply) since ${stale.acquiredAt}, lock id ${token}`);
    expect((await s.cli(['destroy', '-f', 'job.yaml', '--dry-run'])).code).toBe(0);

    // not without confirmation, and not a lock that is not there
    const noYes = await s.cli(['force-unlock', token, '-f', 'job.yaml']);
    expect(noYes).toMatchObject({ code: 1, stderr: 'error: refusing to force-unlock without confirmation: stdin is not a terminal — pass --yes to force-unlock non-interactively (CI)\n' });
    expect((await s.cli(['force-unlock', 'f00d'.repeat(6), '-f', 'job.yaml', '--yes'])).stderr).toMatch(/^error: no lock f00df00d\S* in the stores of these specs \(locks in \S+\) — it may have been released already; .*\n$/);
    expect((await s.cli(['force-unlock', 'not-an-id', '-f', 'job.yaml'])).stderr).toBe('error: "not-an-id" is not a lock id — a lock id is the hex string after "lock id" in the "is locked" error\n');
    expect((await s.cli(['force-unlock', '-f', 'job.yaml'])).code).toBe(1);

    const unlocked = await s.cli(['force-unlock', token, '-f', 'job.yaml', '--yes']);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toContain(`Lock ${token} of project locks in `);
    expect(unlocked.stdout).toContain('held by build-7:4242 (trainctl apply) since');
    expect(unlocked.stdout).toContain(`Released lock ${token} of project locks.\n`);
    expect((await s.cli(['force-unlock', token, '-f', 'job.yaml', '--yes'])).stdout).toBe(`Lock ${token} of project locks is not held (released); nothing to do.\n`);

    const applied = await s.cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('Apply complete: 3 launched, 0 stopped.');
  }, 60_000);

  it('takes over an expired lease, and the lease of an apply that was killed on this host', async () => {
    const s = await setup();
    const expired: LeaseRecord = { holder: 'build-7:4242 (trainctl apply)', token: 'a'.repeat(24), acquiredAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T00:02:00.000Z' };
    await s.leases.createLease('locks', expired);
    const r = await s.cli(['plan', '-f', 'job.yaml']);
    // plan reads only: it neither waits for nor touches the lock
    expect(r.code).toBe(0);
    expect((await s.leases.readLease('locks'))?.lease).toEqual(expired);
    const applied = await s.cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(applied.code).toBe(0);
    expect(applied.stderr).toBe('took over the expired lock of project locks held by build-7:4242 (trainctl apply) (expired 2026-01-01T00:02:00.000Z)\n');

    // a process of this host that no longer runs holds it, unexpired (an apply killed with SIGKILL)
    const dead = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const current = (await s.leases.readLease('locks'))!;
    const abandoned: LeaseRecord = { holder: `${hostname()}:${dead} (trainctl apply)`, token: 'b'.repeat(24), acquiredAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
    expect(await s.leases.replaceLease('locks', current.version, abandoned)).toBeDefined();
    const again = await s.cli(['apply', '-f', 'job.yaml', '--yes']);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(`took over the lock of project locks from ${abandoned.holder}: that process is no longer running\n`);
    expect(again.stdout).toContain('No changes. 3 trials match the specs.');
  }, 60_000);
});

describe('the lease while a run lasts', () => {
  it('is renewed while `apply --wait` runs, past its ttl, and released at the end', async () => {
    const s = setupWith(undefined, {}, (home) => new FileStore(pathToFileURL(join(home, 'runs')).href));
    writeFileSync(join(s.dir, 'job.yaml'), readFileSync(join(s.dir, 'job.yaml'), 'utf8').replace('--steps 5000 --sleep 0.01', '--steps 250 --sleep 0.02'));
    const ttl = { TRAINCTL_LOCK_TTL: '2s' };
    const waiting = s.cli(['apply', '-f', 'job.yaml', '--yes', '--wait', '--interval', '1s'], ttl);
    await new Promise((r) => setTimeout(r, 3500));
    // well past the 2 s ttl: still held, because it was renewed
    const other = await s.cli(['apply', '-f', 'job.yaml', '--yes'], ttl);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error: project locks is locked by \S+ \(trainctl apply\)/);
    const lease = (await s.leases.readLease('locks'))!.lease;
    expect(Date.parse(lease.expiresAt) - Date.parse(lease.acquiredAt)).toBeGreaterThan(2000);
    const done = await waiting;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect((await s.leases.readLease('locks'))?.lease.released).toBe(true);
  }, 60_000);

  it('a bad --lock-timeout or TRAINCTL_LOCK_TTL is one line with a hint', async () => {
    const s = setupWith(undefined, {}, (home) => new FileStore(pathToFileURL(join(home, 'runs')).href));
    expect(await s.cli(['apply', '-f', 'job.yaml', '--yes', '--lock-timeout', 'soon'])).toMatchObject({
      code: 1, stderr: 'error: --lock-timeout "soon" is not a duration — write it like 30s or 5m (0, the default, fails at once when the project is locked)\n',
    });
    expect(await s.cli(['apply', '-f', 'job.yaml', '--yes'], { TRAINCTL_LOCK_TTL: '10' })).toMatchObject({
      code: 1, stderr: 'error: TRAINCTL_LOCK_TTL "10" is not a duration of at least 1s — write it like 30s or 2m, or unset it\n',
    });
  });
});
