// A hostile listing: a fake S3 endpoint on 127.0.0.1 lists keys that would land outside the
// target directory. The download and the sync refuse the whole listing before writing or
// requesting anything — not even the safe keys beside them are fetched.
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, downloadTree, syncTree, TransferError } from '../../src/transfer/index.js';
import { tempDir, writeFiles } from '../helpers.js';

const SECRET = 'fake-secret-never-shown';
let server: Server;
let endpoint: string;
const requests: string[] = [];
let keys: string[] = [];

function listing(prefix: string): string {
  const contents = keys
    .filter((k) => k.startsWith(prefix))
    .map((k) => `<Contents><Key>${k.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>evil</Name><Prefix>${prefix}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
      const body = listing(url.searchParams.get('prefix') ?? '');
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    // any object GET would be a failure of the test; answer it anyway so nothing hangs
    res.writeHead(200, { 'content-length': 1, etag: '"0cc175b9c0f1b6a831c399e269772661"' });
    res.end('a');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const client = () => createS3Client({ endpoint: endpoint, credentials: { accessKeyId: 'AKIDEVIL', secretAccessKey: SECRET } });

describe('a malicious listing', () => {
  it.each([
    ['"..", climbing out', 'p/../evil'],
    ['an absolute path', 'p//etc/x'],
    ['a backslash', 'p/a\\b'],
    ['an empty segment', 'p/a//b'],
    ['a "." segment', 'p/./x'],
    ['a deep climb', 'p/a/../../../../tmp/evil'],
  ])('with %s (%s) is refused and nothing is requested or written', async (_what, bad) => {
    keys = ['p/a-safe-file.txt', bad, 'p/z-another-safe.txt'];
    requests.length = 0;
    const dir = tempDir();
    const target = join(dir, 'target');
    const err = await downloadTree(client(), { bucket: 'evil', key: 'p' }, target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect(err).toMatchObject({ kind: 'unsafe-key' });
    expect((err as Error).message).toContain('nothing downloaded');
    expect((err as Error).message).toContain(JSON.stringify(bad.slice(2)));
    expect((err as Error).message).not.toContain(SECRET);
    // only listings went out: not one object GET, not even for the safe keys
    expect(requests.every((r) => r.includes('list-type=2'))).toBe(true);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('is refused by sync too, before any local file is touched or deleted', async () => {
    keys = ['p/keep.txt', 'p/../../escape.txt'];
    requests.length = 0;
    const dir = tempDir();
    writeFiles(dir, { 'local-only.txt': 'mine' });
    const err = await syncTree(client(), { src: { bucket: 'evil', key: 'p/' }, dst: dir, delete: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unsafe-key' });
    expect(readdirSync(dir)).toEqual(['local-only.txt']);
    expect(requests.every((r) => r.includes('list-type=2'))).toBe(true);
  });

  it('names how many keys were refused and shows the first few', async () => {
    keys = ['p/../1', 'p/../2', 'p/../3', 'p/../4', 'p/ok'];
    const err = (await downloadTree(client(), { bucket: 'evil', key: 'p/' }, join(tempDir(), 't')).catch((e: unknown) => e)) as TransferError;
    expect(err.message).toMatch(/^s3:\/\/evil\/p\/: 4 keys would land outside .*, nothing downloaded — refusing "\.\.\/1": "\.\." segment in key; refusing "\.\.\/2".*; …$/);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.hint).toMatch(/never written/);
  });
});
