// The lean GET client (src/transfer/http1.ts) against a plain node HTTP server that misbehaves on
// purpose: what radosgw never does (close idle connections, answer chunked, cut a body) must still
// end in the right bytes or in an error the engine classifies and retries.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Pool, Http1Unsupported, type BodySink } from '../../src/transfer/http1.js';
import { toTransferError, WireError } from '../../src/transfer/errors.js';

let server: Server | undefined;
let pool: Http1Pool | undefined;
afterEach(async () => {
  pool?.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: (path: string, res: ServerResponse) => void): Promise<{ port: number; connections: Socket[] }> {
  const connections: Socket[] = [];
  server = createServer((req, res) => handler(req.url ?? '', res));
  server.on('connection', (s: Socket) => connections.push(s));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, connections };
}

/** A sink with small regions (after the first, which the contract wants large) that sometimes makes the reader wait, as a disk write does. */
function chunkySink(length: number, regionSize: number): BodySink & { data: Buffer } {
  const data = Buffer.alloc(length);
  let filled = 0;
  let slab = Buffer.alloc(Math.max(regionSize, Math.min(length, 64 * 1024)));
  let inSlab = 0;
  let flushes = 0;
  return {
    data,
    region: () => slab.subarray(inSlab),
    took(n) {
      inSlab += n;
      if (inSlab < slab.length && filled + inSlab < length) return;
      slab.copy(data, filled, 0, inSlab);
      filled += inSlab;
      inSlab = 0;
      slab = flushes++ % 2 ? slab : Buffer.alloc(regionSize);
      return new Promise((r) => setTimeout(r, 1));
    },
  };
}

const get = (p: Http1Pool, path: string, sink: (length: number) => BodySink) => p.get({ path, headers: { host: 'x' } }, (head) => sink(head.length));

describe('the lean GET client', () => {
  it('reads a body into the sink exactly, across pauses, and keeps one connection alive for the next', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const { port, connections } = await serve((_path, res) => {
      res.setHeader('content-length', body.length);
      res.end(body);
    });
    pool = new Http1Pool('127.0.0.1', port);
    for (let i = 0; i < 3; i++) {
      let sink: ReturnType<typeof chunkySink> | undefined;
      const head = await get(pool, '/o', (n) => (sink = chunkySink(n, 100_000)));
      expect(head.status).toBe(200);
      expect(createHash('sha256').update(sink!.data).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    }
    expect(connections).toHaveLength(1);
  });

  it('replaces a kept-alive connection that the server closed meanwhile, silently', async () => {
    const { port, connections } = await serve((_path, res) => {
      res.setHeader('content-length', 2);
      res.end('ok');
    });
    pool = new Http1Pool('127.0.0.1', port);
    await get(pool, '/a', (n) => chunkySink(n, 10));
    connections[0]!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    let sink: ReturnType<typeof chunkySink> | undefined;
    await get(pool, '/b', (n) => (sink = chunkySink(n, 10)));
    expect(sink!.data.toString()).toBe('ok');
    expect(connections).toHaveLength(2);
  });

  it('turns an S3 error body into an error shaped like the SDK’s, and the connection stays usable', async () => {
    const { port, connections } = await serve((path, res) => {
      if (path === '/slow') {
        res.statusCode = 503;
        res.setHeader('content-length', Buffer.byteLength(SLOW_DOWN));
        res.end(SLOW_DOWN);
      } else {
        res.setHeader('content-length', 1);
        res.end('!');
      }
    });
    pool = new Http1Pool('127.0.0.1', port);
    const err = await get(pool, '/slow', (n) => chunkySink(n, 10)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).name).toBe('SlowDown');
    expect((err as WireError).$metadata.httpStatusCode).toBe(503);
    expect(toTransferError(err).kind).toBe('throttled');
    await get(pool, '/ok', (n) => chunkySink(n, 10));
    expect(connections).toHaveLength(1);
  });

  it('refuses a 2xx without Content-Length (the caller falls back to node’s client)', async () => {
    const { port } = await serve((_path, res) => {
      res.write('chunked ');
      res.end('body');
    });
    pool = new Http1Pool('127.0.0.1', port);
    await expect(get(pool, '/c', (n) => chunkySink(n, 10))).rejects.toBeInstanceOf(Http1Unsupported);
  });

  it('a body cut short is a network error (retried by the engine), never a short success', async () => {
    const { port } = await serve((_path, res) => {
      res.setHeader('content-length', 1000);
      res.write(Buffer.alloc(400));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    pool = new Http1Pool('127.0.0.1', port);
    const err = await get(pool, '/cut', (n) => chunkySink(n, 64)).catch((e: unknown) => e);
    expect(toTransferError(err).kind).toBe('network');
  });

  it('an abort ends the request at once', async () => {
    const { port } = await serve(() => undefined);
    pool = new Http1Pool('127.0.0.1', port);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await pool.get({ path: '/hang', headers: { host: 'x' } }, (h) => chunkySink(h.length, 10), ac.signal).catch((e: unknown) => e);
    expect(toTransferError(err).kind).toBe('aborted');
  });
});

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
