// The apply lock's wiring (engine/lock.ts) over a real file store: the (store, project) pairs in one
// sorted order, all-or-nothing acquisition, a lease lost while held, sync as specs change, and the
// dead-holder check.
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { holderIsDeadHere, lockTargets, LockHeldError, parseLockTimeout, ProjectLocks } from '../../src/engine/lock.js';
import { FileStore } from '../../src/store/file.js';
import type { Job } from '../../src/spec/types.js';
import { tempDir } from '../helpers.js';

const job = (project: string, uri: string): Job => ({ project, name: 'j', spec: { output: { uri } } }) as unknown as Job;

describe('project locks', () => {
  it('targets every (store, project) once, in one sorted order whatever the spec order', () => {
    const a = 'file:///a/', b = 's3://b/runs/';
    expect(lockTargets([job('vision', b), job('audio', a), job('vision', b), job('vision', a)])).toEqual([
      { uri: a, project: 'audio' }, { uri: a, project: 'vision' }, { uri: b, project: 'vision' },
    ]);
  });

  it('takes all or nothing, refuses a held one with its holder, and releases at the end', async () => {
    const uri = pathToFileURL(tempDir('trainctl-locks-')).href + '/';
    const store = new FileStore(uri);
    const first = await ProjectLocks.acquire([job('p1', uri), job('p2', uri)], { command: 'apply', timeoutMs: 0 });
    // p0 is free but p1 is not: the second holds nothing afterwards
    const err = await ProjectLocks.acquire([job('p0', uri), job('p1', uri)], { command: 'reconcile', timeoutMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).message).toMatch(new RegExp(`^project p1 is locked by ${hostname()}:${process.pid} \\(trainctl apply\\) since \\S+Z, lock id [0-9a-f]{24}$`));
    expect((await store.readLease('p0'))?.lease.released).toBe(true);
    // waiting: it gives up after the timeout, and says how long it waited
    const waited = await ProjectLocks.acquire([job('p2', uri)], { command: 'apply', timeoutMs: 300 }).catch((e: unknown) => e);
    expect((waited as Error).message).toMatch(/ \(waited [01]s\)$/);
    await first.release();
    for (const p of ['p1', 'p2']) expect((await store.readLease(p))?.lease.released).toBe(true);
  });

  it('notices a lease taken from it (force-unlocked) on the next renewal, and refuses to go on', async () => {
    const uri = pathToFileURL(tempDir('trainctl-locks-')).href + '/';
    const store = new FileStore(uri);
    const locks = await ProjectLocks.acquire([job('p', uri)], { command: 'apply', timeoutMs: 0, ttlMs: 1000 });
    locks.assertHeld();
    const held = (await store.readLease('p'))!;
    await store.replaceLease('p', held.version, { ...held.lease, released: true });
    const end = Date.now() + 3000;
    while (locks.lost.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(locks.lost).toEqual([{ uri, project: 'p' }]);
    expect(() => locks.assertHeld()).toThrow(/^lost the lock of project p in \S+ \(it expired unrenewed or was force-unlocked\); stopped launching$/);
    // a controller's next pass takes it again
    await locks.sync([job('p', uri)]);
    locks.assertHeld();
    expect((await store.readLease('p'))?.lease.released).toBeUndefined();
    // specs that no longer name the project give its lease back
    await locks.sync([job('q', uri)]);
    expect((await store.readLease('p'))?.lease.released).toBe(true);
    await locks.release();
    expect((await store.readLease('q'))?.lease.released).toBe(true);
  });

  it('a holder is dead here only when it names this host and a pid that is certainly gone', () => {
    const dead = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    expect(holderIsDeadHere(`${hostname()}:${dead} (trainctl apply)`)).toBe(true);
    expect(holderIsDeadHere(`${hostname()}:${process.ppid} (trainctl apply)`)).toBe(false);
    expect(holderIsDeadHere(`${hostname()}:${process.pid} (trainctl apply)`)).toBe(false);
    expect(holderIsDeadHere(`elsewhere-${hostname()}:${dead} (trainctl apply)`)).toBe(false);
    expect(holderIsDeadHere('a damaged lease')).toBe(false);
  });

  it('parses --lock-timeout', () => {
    expect(parseLockTimeout(undefined)).toBe(0);
    expect(parseLockTimeout('0')).toBe(0);
    expect(parseLockTimeout('5m')).toBe(300_000);
    expect(() => parseLockTimeout('-1')).toThrow(/is not a duration/);
  });
});
