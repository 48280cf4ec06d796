// The engine's decisions without a server: sync plans, part sizes, ETag arithmetic, filters, error
// classification and the progress meter.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { etagParts } from '../../src/transfer/download.js';
import { isTransient, toTransferError } from '../../src/transfer/errors.js';
import { pathFilter, planSync } from '../../src/transfer/index.js';
import { Meter, MiB, partSizeFor } from '../../src/transfer/ops.js';
import { dirPrefix } from '../../src/transfer/tree.js';
import { multipartEtag } from '../../src/transfer/upload.js';
import type { TransferProgress } from '../../src/transfer/types.js';

const at = (size: number, mtimeMs: number) => ({ size, mtimeMs });
const loc = { key: (rel: string) => `p/${rel}`, path: (rel: string) => `/d/${rel}` };

describe('planSync', () => {
  it('sends what is missing, differs in size or is newer by a whole second; deletes only with delete', () => {
    const src = new Map([['same', at(1, 5000)], ['missing', at(2, 5000)], ['size', at(3, 5000)], ['newer', at(4, 7000)], ['sub-second', at(5, 5999)]]);
    const dst = new Map([['same', at(1, 5000)], ['size', at(30, 9000)], ['newer', at(4, 6000)], ['sub-second', at(5, 5000)], ['extra', at(9, 1)]]);
    expect(planSync('up', src, dst, loc)).toEqual([
      { kind: 'upload', path: '/d/missing', key: 'p/missing', size: 2, reason: 'missing' },
      { kind: 'upload', path: '/d/newer', key: 'p/newer', size: 4, reason: 'newer' },
      { kind: 'upload', path: '/d/size', key: 'p/size', size: 3, reason: 'size' },
    ]);
    expect(planSync('down', src, dst, { ...loc, delete: true }).map((a) => `${a.kind} ${'path' in a ? a.path : ''}`)).toEqual([
      'download /d/missing',
      'download /d/newer',
      'download /d/size',
      'delete-file /d/extra',
    ]);
    expect(planSync('up', src, dst, { ...loc, delete: true }).at(-1)).toEqual({ kind: 'delete-object', key: 'p/extra', size: 9 });
  });

  it('is empty when both sides agree', () => {
    const same = new Map([['a', at(1, 1000)]]);
    expect(planSync('up', same, same, { ...loc, delete: true })).toEqual([]);
  });
});

describe('sizes and ETags', () => {
  it('keeps the part size unless 10,000 parts would not hold the file', () => {
    expect(partSizeFor(1024 * MiB, 16 * MiB)).toBe(16 * MiB);
    expect(partSizeFor(200 * 1024 * MiB, 5 * MiB)).toBe(21 * MiB);
    expect(Math.ceil((200 * 1024 * MiB) / partSizeFor(200 * 1024 * MiB, 5 * MiB))).toBeLessThanOrEqual(10_000);
  });

  it('computes the multipart ETag as S3 does and reads part counts back', () => {
    const parts = [Buffer.from('a'), Buffer.from('b')].map((b) => createHash('md5').update(b).digest());
    const expected = `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-2`;
    expect(multipartEtag(parts)).toBe(expected);
    expect(etagParts(expected)).toBe(2);
    expect(etagParts('0cc175b9c0f1b6a831c399e269772661')).toBe(0);
    expect(etagParts('')).toBe(0);
  });

  it('treats a non-empty prefix as a directory', () => {
    expect(dirPrefix('')).toBe('');
    expect(dirPrefix('data')).toBe('data/');
    expect(dirPrefix('data/')).toBe('data/');
  });
});

describe('pathFilter', () => {
  it('needs one include (when any) and no exclude', () => {
    const f = pathFilter(['**/*.pt', 'meta.json'], ['tmp/**']);
    expect(['a.pt', 'x/y/b.pt', 'meta.json', 'tmp/c.pt', 'x/meta.json', 'log.txt'].filter(f)).toEqual(['a.pt', 'x/y/b.pt', 'meta.json']);
    expect(pathFilter()('anything/at/all')).toBe(true);
  });
});

describe('toTransferError', () => {
  const sdk = (name: string, status?: number) => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });
  it.each([
    [sdk('NoSuchBucket', 404), 'no-such-bucket', false],
    [sdk('NotFound', 404), 'not-found', false],
    [sdk('AccessDenied', 403), 'access-denied', false],
    [sdk('InvalidAccessKeyId', 403), 'access-denied', false],
    [sdk('SlowDown', 503), 'throttled', true],
    [sdk('RequestLimitExceeded', 400), 'throttled', true],
    [sdk('ServiceUnavailable', 503), 'throttled', true],
    [sdk('InternalError', 500), 'server', true],
    [sdk('UnknownError', 502), 'server', true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' }), 'unreachable', false],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'network', true],
    [Object.assign(new Error('aborted'), { name: 'AbortError' }), 'aborted', false],
    [Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', syscall: 'open' }), 'local', false],
  ])('%s → %s (transient: %s)', (err, kind, transient) => {
    expect(toTransferError(err, { bucket: 'b', key: 'k' }).kind).toBe(kind);
    expect(isTransient(err)).toBe(transient);
  });

  it('keeps messages to one line and drops user:password@ from URLs', () => {
    const e = toTransferError(new Error('first line http://user:pw@host/x\nsecond line'));
    expect(e.message).toBe('first line http://host/x');
  });
});

describe('Meter', () => {
  it('reports bytes, files, a moving rate and an ETA, at most every 100 ms plus a forced last one', async () => {
    const seen: TransferProgress[] = [];
    const m = new Meter((p) => seen.push(p));
    m.bytesTotal = 1000;
    m.filesTotal = 2;
    m.add(100);
    m.add(100); // within 100 ms of the first: not reported
    await new Promise((r) => setTimeout(r, 120));
    m.add(300);
    m.fileDone();
    m.add(500);
    m.fileDone();
    m.tick(true);
    expect(seen.length).toBe(3);
    expect(seen[1]!.bytesPerSecond).toBeGreaterThan(0);
    expect(seen[1]!.etaMs).toBeGreaterThan(0);
    expect(seen.at(-1)).toMatchObject({ bytesDone: 1000, bytesTotal: 1000, filesDone: 2, filesTotal: 2, etaMs: 0 });
  });
});
