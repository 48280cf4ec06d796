// The apply lease (DESIGN §4 `.lock`) on both stores: acquire, refuse while held, renew, expire and
// take over, release; and races where many acquirers (or takers-over) run at once: one wins.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file.js';
import { acquireLease, isFree, releaseLease, renewLease, type LeaseStore } from '../../src/store/lock.js';
import { S3Store } from '../../src/store/s3.js';
import { tempDir } from '../helpers.js';
import { makeBucket, testClient } from './s3-helpers.js';

const client = testClient();
const bucket = makeBucket(client, 'lock');

interface Kind {
  name: string;
  make(): Promise<LeaseStore>;
  /** Overwrites the stored lease with arbitrary bytes. */
  damage(store: LeaseStore, project: string, text: string): Promise<void>;
}

const kinds: Kind[] = [
  {
    name: 'file://',
    make: async () => new FileStore(pathToFileURL(tempDir('trainctl-lock-')).href),
    damage: async (store, project, text) => writeFileSync(join((store as FileStore).root, project, '.lock'), text),
  },
  {
    name: 's3://',
    make: async () => new S3Store(`s3://${await bucket}/${randomBytes(4).toString('hex')}/`, client),
    damage: async (store, project, text) => {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      const s = store as S3Store;
      await client.send(new PutObjectCommand({ Bucket: s.bucket, Key: `${s.base}${project}/.lock`, Body: text }));
    },
  },
];

const TTL = 60_000;

describe.each(kinds)('apply lease on $name', ({ make, damage }) => {
  it('is acquired once, refused to others while held, and names its holder', async () => {
    const store = await make();
    const a = await acquireLease(store, 'vision', 'host-a:1 (apply)', { ttlMs: TTL });
    expect(a).toMatchObject({ acquired: true, lease: { project: 'vision', holder: 'host-a:1 (apply)' } });
    expect(a.acquired && a.tookOver).toBeUndefined();
    const b = await acquireLease(store, 'vision', 'host-b:2 (apply)', { ttlMs: TTL });
    expect(b).toEqual({ acquired: false, holder: 'host-a:1 (apply)', expiresAt: a.acquired ? a.lease.expiresAt : '' });
    // another project is another lease
    expect((await acquireLease(store, 'audio', 'host-b:2 (apply)', { ttlMs: TTL })).acquired).toBe(true);
    const stored = await store.readLease('vision');
    expect(stored?.lease).toMatchObject({ holder: 'host-a:1 (apply)', token: a.acquired ? a.lease.token : '' });
  });

  it('renews: the expiry moves, and a renewed lease is not taken over', async () => {
    const store = await make();
    let t = 1_000_000;
    const now = () => t;
    const a = await acquireLease(store, 'p', 'a', { ttlMs: 1000, now });
    if (!a.acquired) throw new Error('not acquired');
    t += 800;
    const renewed = await renewLease(store, a.lease, { ttlMs: 1000, now });
    expect(renewed?.expiresAt).toBe(new Date(t + 1000).toISOString());
    t += 800; // past the first expiry, within the renewed one
    expect((await acquireLease(store, 'p', 'b', { ttlMs: 1000, now })).acquired).toBe(false);
    // renewing twice in a row works (each renewal changes the stored version)
    expect(await renewLease(store, renewed!, { ttlMs: 1000, now })).toBeDefined();
  });

  it('is taken over once expired, and the old holder learns it lost the lease', async () => {
    const store = await make();
    let t = 5_000_000;
    const now = () => t;
    const a = await acquireLease(store, 'p', 'old', { ttlMs: 1000, now });
    if (!a.acquired) throw new Error('not acquired');
    t += 1001;
    expect(isFree((await store.readLease('p'))!.lease, t)).toBe(true);
    const b = await acquireLease(store, 'p', 'new', { ttlMs: 1000, now });
    expect(b).toMatchObject({ acquired: true, tookOver: { holder: 'old', expiresAt: a.lease.expiresAt } });
    expect(await renewLease(store, a.lease, { ttlMs: 1000, now })).toBeUndefined();
    expect(await releaseLease(store, a.lease)).toBe(false);
    expect((await store.readLease('p'))?.lease.holder).toBe('new');
  });

  it('is free at once after release, and a released lease cannot be renewed', async () => {
    const store = await make();
    const a = await acquireLease(store, 'p', 'a', { ttlMs: TTL });
    if (!a.acquired) throw new Error('not acquired');
    expect(await releaseLease(store, a.lease)).toBe(true);
    expect(await renewLease(store, a.lease, { ttlMs: TTL })).toBeUndefined();
    const b = await acquireLease(store, 'p', 'b', { ttlMs: TTL });
    expect(b.acquired).toBe(true);
    expect(b.acquired && b.tookOver).toBeUndefined();
  });

  it('lets exactly one of many parallel acquirers win, for a new lease and for an expired one', async () => {
    const store = await make();
    const fresh = await Promise.all(Array.from({ length: 10 }, (_, i) => acquireLease(store, 'race', `h${i}`, { ttlMs: 1000 })));
    expect(fresh.filter((r) => r.acquired)).toHaveLength(1);
    const winner = fresh.find((r) => r.acquired)!;
    for (const r of fresh) if (!r.acquired) expect(r.holder).toBe(winner.acquired && winner.lease.holder);
    // every loser sees the winner's expiry; once it passes, they race to take it over
    const later = () => Date.now() + 2000;
    const takeovers = await Promise.all(Array.from({ length: 10 }, (_, i) => acquireLease(store, 'race', `t${i}`, { ttlMs: 60_000, now: later })));
    expect(takeovers.filter((r) => r.acquired)).toHaveLength(1);
    const stored = await store.readLease('race');
    expect(stored?.lease.holder).toBe(takeovers.find((r) => r.acquired)!.acquired && (takeovers.find((r) => r.acquired) as { lease: { holder: string } }).lease.holder);
  });

  it('treats a damaged lease as free and replaces it', async () => {
    const store = await make();
    await acquireLease(store, 'p', 'a', { ttlMs: TTL });
    await damage(store, 'p', 'not a lease');
    const b = await acquireLease(store, 'p', 'b', { ttlMs: TTL });
    expect(b).toMatchObject({ acquired: true, tookOver: { holder: 'a damaged lease' } });
  });
});

describe('file:// lease layout', () => {
  it('lives at <root>/<project>/.lock, where readRecords does not look', async () => {
    const root = tempDir('trainctl-lock-');
    const store = new FileStore(pathToFileURL(root).href);
    await acquireLease(store, 'p', 'me', { ttlMs: TTL });
    expect(JSON.parse(readFileSync(join(root, 'p', '.lock'), 'utf8'))).toMatchObject({ holder: 'me' });
    expect(await store.readRecords('p')).toEqual([]);
  });
});
