// A small HTTP proxy on 127.0.0.1 in front of radosgw: forwards every request unchanged (the Host
// header too, so SigV4 signatures still match), counts requests by S3 operation, and can answer a
// share of them with 503 SlowDown or delay them — the throttling a busy S3 returns.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type S3Op = 'GetObject' | 'PutObject' | 'UploadPart' | 'CreateMultipartUpload' | 'CompleteMultipartUpload' | 'ListParts' | 'List' | 'HeadObject' | 'Other';

export function opOf(method: string | undefined, url: string): S3Op {
  const q = new URL(url, 'http://x').searchParams;
  if (method === 'PUT' && q.has('partNumber') && q.has('uploadId')) return 'UploadPart';
  if (method === 'PUT') return 'PutObject';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'GET' && q.has('uploadId')) return 'ListParts';
  if (method === 'GET' && (q.has('list-type') || q.has('prefix') || q.has('delimiter'))) return 'List';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  return 'Other';
}

export interface FaultProxyOptions {
  target: string;
  /** Share of requests (0…1) answered 503 SlowDown instead of being forwarded. */
  slowDownRate?: number;
  /** Only these operations get faults; default: all. */
  faultOps?: readonly S3Op[];
  /** Delay before forwarding, per operation. */
  delayMs?: Partial<Record<S3Op, number>>;
  random?: () => number;
  /** The next this-many GetObject responses are cut off after half their body (a dropped connection). */
  cutBodies?: number;
}

export interface FaultProxy {
  endpoint: string;
  /** Forwarded requests by operation. */
  counts: Record<string, number>;
  /** 503s sent. */
  slowDowns: number;
  /** GetObject responses cut off so far. */
  cut: number;
  /** The most requests of each operation that were in flight at once. */
  peakInFlight: Record<string, number>;
  reset(): void;
  close(): Promise<void>;
}

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const random = opts.random ?? Math.random;
  const proxy: FaultProxy = {
    endpoint: '',
    counts: {},
    slowDowns: 0,
    cut: 0,
    peakInFlight: {},
    reset() {
      proxy.counts = {};
      proxy.peakInFlight = {};
      proxy.slowDowns = 0;
    },
    close: async () => undefined,
  };
  const inFlight: Record<string, number> = {};
  const server: Server = createServer((req: IncomingMessage, res) => {
    const op = opOf(req.method, req.url ?? '/');
    const faulty = !opts.faultOps || opts.faultOps.includes(op);
    if (faulty && (opts.slowDownRate ?? 0) > 0 && random() < opts.slowDownRate!) {
      proxy.slowDowns++;
      // the body still has to be read (or the client's write may fail before it sees the 503)
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOW_DOWN), connection: 'keep-alive' });
        res.end(SLOW_DOWN);
      });
      return;
    }
    const forward = () => {
      proxy.counts[op] = (proxy.counts[op] ?? 0) + 1;
      inFlight[op] = (inFlight[op] ?? 0) + 1;
      proxy.peakInFlight[op] = Math.max(proxy.peakInFlight[op] ?? 0, inFlight[op]);
      // done once its last byte is handed to the socket ('finish'), before the client can read it
      let done = false;
      const settle = () => {
        if (!done) inFlight[op]!--;
        done = true;
      };
      res.once('finish', settle);
      res.once('close', settle);
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const length = Number(upRes.headers['content-length'] ?? 0);
        if (op === 'GetObject' && length > 1 && proxy.cut < (opts.cutBodies ?? 0)) {
          proxy.cut++;
          let sent = 0;
          upRes.on('data', (chunk: Buffer) => {
            if (sent >= length / 2) return;
            res.write(chunk.subarray(0, Math.max(1, Math.floor(length / 2) - sent)));
            sent += chunk.length;
            if (sent >= length / 2) setTimeout(() => res.destroy(), 20);
          });
          return;
        }
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    const delay = opts.delayMs?.[op];
    if (delay) setTimeout(forward, delay);
    else forward();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
