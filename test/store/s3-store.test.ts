// What the s3:// store does beyond the shared contract: the server facts it relies on
// (conditional PUTs on radosgw), checkpoint dedup and compression as stored, the append segments,
// opening from the environment, and one-line errors for a missing bucket, bad keys or no server.
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openRunStore } from '../../src/store/open.js';
import { S3Store } from '../../src/store/s3.js';
import { createS3Client, listObjects } from '../../src/transfer/index.js';
import { localCheckpoint, sha } from './contract.js';
import { clientFor, countingProxy, FAST, makeBucket, s3ContractStore, s3Env, testClient, type CountingProxy } from './s3-helpers.js';

const client = testClient();
const bucket = makeBucket(client, 's3store');
const make = async () => s3ContractStore(client, await bucket)();

/** A client whose requests go through a counting proxy, closed when the test ends. */
async function counting(): Promise<{ client: ReturnType<typeof testClient>; proxy: CountingProxy; count: (method: string, pathPart?: string) => number }> {
  const proxy = await countingProxy();
  onTestFinished(() => proxy.close());
  const count = (method: string, pathPart = '') => proxy.requests.filter((r) => r.method === method && r.path.includes(pathPart)).length;
  return { client: clientFor(proxy.endpoint), proxy, count };
}

async function keysUnder(prefix: string): Promise<{ key: string; size: number; lastModified: Date }[]> {
  const out = [];
  for await (const o of listObjects(client, { bucket: await bucket, key: prefix })) out.push(o);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('radosgw conditional writes (what claims and the lease rely on)', () => {
  it('honours If-None-Match: * and If-Match (bare ETag) on PutObject', async () => {
    const b = await bucket;
    const key = `cond/${randomBytes(4).toString('hex')}`;
    const put = (extra: object) => client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: randomBytes(8), ...extra })).then(() => 'ok', (e: Error) => e.name);
    expect(await put({ IfNoneMatch: '*' })).toBe('ok');
    expect(await put({ IfNoneMatch: '*' })).toBe('PreconditionFailed');
    const etag = (await client.send(new HeadObjectCommand({ Bucket: b, Key: key }))).ETag!;
    expect(await put({ IfMatch: '"0123456789abcdef0123456789abcdef"' })).toBe('PreconditionFailed');
    // Ceph 16 compares against the bare ETag; the lease code retries bare when the quoted form fails
    expect(await put({ IfMatch: etag.replace(/"/g, '') })).toBe('ok');
  });
});

describe('S3Store checkpoints as stored', () => {
  it('uploads only the changed file of a second checkpoint; the manifest points at the earlier copy', async () => {
    const c = await make();
    const { client: counted, proxy, count } = await counting();
    const store = new S3Store(c.store.uri, counted, FAST);
    const weights = randomBytes(2 * 1024 * 1024);
    await store.putCheckpoint(c.ref, 100, 1, localCheckpoint({ 'model.pt': weights, 'optim.pt': 'opt-1' }), ['model.pt', 'optim.pt']);
    const puts = () => proxy.requests.filter((r) => r.method === 'PUT').map((r) => r.path.split('/').slice(-2).join('/')).sort();
    expect(puts()).toEqual(['100/MANIFEST.json', '100/model.pt', '100/optim.pt', 'checkpoints/LATEST']);
    const before = await keysUnder(`${c.trialPrefix}checkpoints/100/`);
    proxy.requests.length = 0;
    const m = await store.putCheckpoint(c.ref, 200, 1, localCheckpoint({ 'model.pt': weights, 'optim.pt': 'opt-2' }), ['model.pt', 'optim.pt']);
    expect(puts()).toEqual(['200/MANIFEST.json', '200/optim.pt', 'checkpoints/LATEST']);
    expect(count('PUT', 'model.pt')).toBe(0);
    expect(m.files).toEqual([
      { path: 'model.pt', size: weights.length, sha256: sha(weights), object: 'checkpoints/100/model.pt' },
      { path: 'optim.pt', size: 5, sha256: sha('opt-2') },
    ]);
    expect((await keysUnder(`${c.trialPrefix}checkpoints/200/`)).map((o) => o.key.split('/').pop())).toEqual(['MANIFEST.json', 'optim.pt']);
    // the earlier copy was not rewritten
    expect(await keysUnder(`${c.trialPrefix}checkpoints/100/`)).toEqual(before);
    // keep-last-1 prunes 100 but keeps the bytes 200 points at
    await store.deleteCheckpoint(c.ref, 100);
    expect((await keysUnder(`${c.trialPrefix}checkpoints/100/`)).map((o) => o.key.split('/').pop())).toEqual(['model.pt']);
  });

  it('stores a compressible file gzipped under .gz and an incompressible one as is', async () => {
    const c = await make();
    const text = Buffer.from('loss 0.1234 '.repeat(50_000));
    const noise = randomBytes(300_000);
    const m = await c.store.putCheckpoint(c.ref, 3, 1, localCheckpoint({ 'model.pt': text, 'noise.bin': noise }), ['model.pt', 'noise.bin'], { compress: 'gzip' });
    expect(m.files).toEqual([
      { path: 'model.pt', size: text.length, sha256: sha(text), object: 'checkpoints/3/model.pt.gz', encoding: 'gzip' },
      { path: 'noise.bin', size: noise.length, sha256: sha(noise) },
    ]);
    const stored = new Map((await keysUnder(`${c.trialPrefix}checkpoints/3/`)).map((o) => [o.key.split('/').pop()!, o.size]));
    expect(stored.get('model.pt.gz')).toBeLessThan(text.length / 10);
    expect(stored.get('noise.bin')).toBe(noise.length);
    // zstd on a node without it falls back to gzip (node 20); with it, zstd
    const z = await c.store.putCheckpoint(c.ref, 4, 1, localCheckpoint({ 'm.pt': text }), ['m.pt'], { compress: 'zstd' });
    expect(z.files[0]!.encoding).toBe(typeof (await import('node:zlib') as { createZstdCompress?: unknown }).createZstdCompress === 'function' ? 'zstd' : 'gzip');
  });
});

describe('S3Store appends', () => {
  it('writes a stream as few sealed segments plus one open one, in key order', async () => {
    const c = await make();
    const line = (i: number) => `${String(i).padStart(4, '0')} ${'x'.repeat(94)}\n`; // 100 bytes
    for (let i = 0; i < 50; i++) await c.store.appendLog(c.ref, 1, 0, line(i));
    const segs = await keysUnder(`${c.trialPrefix}attempts/1/logs/0/`);
    // FAST seals at 2048 bytes or 4 writes: 50 appends of 100 bytes → 13 segments, none over 2 KiB + one batch
    expect(segs).toHaveLength(13);
    expect(segs.every((s) => /\/\d{13}-[0-9a-f]{8}-\d{6}\.log$/.test(s.key) && s.size <= 400)).toBe(true);
    expect((await c.store.readLog(c.ref, 1, 0))!.toString()).toBe(Array.from({ length: 50 }, (_, i) => line(i)).join(''));
  });

  it('batches appends that arrive while a write waits: one PUT for many lines', async () => {
    const c = await make();
    const { client: counted, proxy, count } = await counting();
    const store = new S3Store(c.store.uri, counted, { appendIntervalMs: 300 });
    await store.appendMetrics(c.ref, '{"attempt":1,"step":0,"time":"t","loss":9}\n');
    proxy.requests.length = 0;
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendMetrics(c.ref, `{"attempt":1,"step":${i + 1},"time":"t","loss":${i}}\n`)));
    expect(count('PUT')).toBe(1);
    const points = await store.readMetrics(c.ref);
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    // the newest segment is enough for progress views
    expect((await store.readRecentMetrics(c.ref)).at(-1)).toMatchObject({ step: 20, values: { loss: 19 } });
  });
});

describe('opening s3:// stores', () => {
  it('opens from the environment (AWS_ENDPOINT_URL and keys) and reads what another client wrote', async () => {
    const c = await make();
    await c.store.writeSpec(c.ref, { ...c.ref, specHash: 'env', parameters: {}, command: 'c' });
    const saved = { ...process.env };
    Object.assign(process.env, s3Env());
    try {
      const store = await openRunStore(c.store.uri);
      expect(store).toBeInstanceOf(S3Store);
      expect((await (store as S3Store).readRecords('lab')).map((r) => r.specHash)).toEqual(['env']);
    } finally {
      for (const k of Object.keys(s3Env())) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });

  it('says in one line, with the URI and a hint, when the bucket is missing, the keys are wrong or no server answers', async () => {
    const s3 = inject('s3');
    const missing = new S3Store('s3://no-such-bucket-here/runs/', client);
    const err1 = await missing.readRecords('p').catch((e: Error & { hint?: string }) => e);
    expect(err1).toMatchObject({ message: 'output store s3://no-such-bucket-here/runs/: bucket no-such-bucket-here does not exist', hint: expect.stringContaining('bucket name') });

    const badKeys = createS3Client({ endpoint: s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'wrong-secret-value' } });
    const err2 = await new S3Store(`s3://${await bucket}/runs/`, badKeys).readRecords('p').catch((e: Error & { hint?: string }) => e);
    expect(err2).toMatchObject({ message: expect.stringMatching(new RegExp(`^output store s3://${await bucket}/runs/: .*access denied.*\\(SignatureDoesNotMatch\\)$`)), hint: expect.stringContaining('credentials') });
    expect(`${(err2 as Error).message} ${(err2 as { hint: string }).hint}`).not.toContain('wrong-secret-value');

    const nowhere = createS3Client({ endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const err3 = await new S3Store('s3://somewhere/runs/', nowhere, { endpoint: 'http://127.0.0.1:9' }).readRecords('p').catch((e: Error & { hint?: string }) => e);
    expect(err3).toMatchObject({ message: expect.stringMatching(/^output store s3:\/\/somewhere\/runs\/: .*cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)$/), hint: expect.stringContaining('AWS_ENDPOINT_URL') });
    for (const e of [err1, err2, err3]) expect((e as Error).message).not.toContain('\n');
  });
});

describe('S3Store.readRecords at scale', () => {
  it('reads 2,000 trials with a few listings and parallel GETs of their small records', async () => {
    const c = await make();
    const { store } = c;
    const n = 2000;
    const refs = Array.from({ length: n }, (_, i) => ({ project: 'big', job: `job-${i % 4}`, trial: `job-${i % 4}-${String(i).padStart(8, '0')}` }));
    const t0 = Date.now();
    const queue = [...refs];
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        await store.writeSpec(r, { ...r, specHash: `h${r.trial}`, parameters: {}, command: 'c' });
        await store.writeStatus(r, { n: 1, specHash: `h${r.trial}`, state: 'succeeded', startedAt: 't', updatedAt: 't', costUSD: 0.01 });
        await store.appendLog(r, 1, 0, 'log\n');
        await store.appendMetrics(r, '{"attempt":1,"step":1,"time":"t","loss":1}\n');
        if (Number(r.trial.slice(-1)) % 2 === 0) await store.writeResult(r, { state: 'succeeded', specHash: `h${r.trial}`, finishedAt: 't', attempt: 1, durationMs: 1, costUSD: 0.01, finalMetrics: {} });
      }
    }));
    const written = Date.now() - t0;
    const { client: counted, proxy } = await counting();
    const reader = new S3Store(store.uri, counted);
    const t1 = Date.now();
    const recs = await reader.readRecords('big');
    const ms = Date.now() - t1;
    const isListing = (path: string) => path === `/${c.store.bucket}` || path === `/${c.store.bucket}/`;
    const listings = proxy.requests.filter((r) => r.method === 'GET' && isListing(r.path)).length;
    const gets = proxy.requests.filter((r) => r.method === 'GET' && !isListing(r.path)).length;
    console.log(`readRecords: ${n} trials in ${ms} ms (${listings} listings, ${gets} GETs; writing them took ${written} ms)`);
    expect(recs).toHaveLength(n);
    expect(recs.filter((r) => r.result).length).toBe(n / 2);
    expect(recs.every((r) => r.attempts.length === 1 && r.specHash === `h${r.trial}`)).toBe(true);
    // spec + status for every trial, result where there is one: nothing else is read
    expect(gets).toBe(2 * n + n / 2);
    expect(listings).toBeLessThanOrEqual(Math.ceil((5 * n + n / 2) / 1000));
    expect(ms).toBeLessThan(60_000);
  }, 180_000);
});

describe('S3Store claims', () => {
  it('stores the holder in the claim object', async () => {
    const c = await make();
    expect(await c.store.claimAttempt(c.ref, 1, 0, 'node-a:42')).toBe(true);
    const got = await client.send(new GetObjectCommand({ Bucket: await bucket, Key: `${c.trialPrefix}attempts/1/claim-rank0` }));
    expect(await got.Body!.transformToString()).toBe('node-a:42\n');
  });
});
