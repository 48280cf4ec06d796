// The lean path for the three requests a transfer makes by the thousand — GET (whole or ranged),
// PUT of an object and PUT of a part — on S3-compatible servers (a custom endpoint with path-style
// addressing). It is not a second client: it is derived from the one the factory made — the same
// endpoint, region, credentials provider and signer algorithm — and only skips the SDK's
// per-request middleware, which costs about as much CPU as radosgw spends serving a small object.
// PUTs go through the factory's HTTP handler (its sockets and timeouts); GETs on http endpoints
// through ./http1.ts, which reads bodies straight into the caller's memory. Everything else
// (listing, HEAD, multipart create and complete, deletes) and every request to AWS itself goes
// through SDK commands.
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { WireError } from './errors.js';
import { Http1Pool, Http1Unsupported, type BodySink, type Http1Head } from './http1.js';
import { escapeUri, LeanSigner, type SigningCredentials } from './sigv4.js';

export interface WireRequest {
  method: 'GET' | 'PUT';
  bucket: string;
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
}

export interface WireResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
  body: Readable;
}

interface Handler {
  handle(request: unknown, options?: { abortSignal?: AbortSignal }): Promise<{ response: { statusCode: number; headers: Record<string, string>; body: Readable } }>;
}

export interface Wire {
  send(req: WireRequest, signal?: AbortSignal): Promise<WireResponse>;
  /**
   * A GET whose body is read straight into `open`'s sink (./http1.ts); resolves with the head once
   * the whole body is there. undefined on https endpoints: TLS decrypts into its own buffers, so
   * the gain was not measured there and node's client (send) stays.
   */
  get?: (req: Omit<WireRequest, 'method' | 'body'>, open: (head: Http1Head) => BodySink, signal?: AbortSignal) => Promise<Http1Head>;
}

/** RFC 3986 encoding of one path segment, as SigV4 and S3 expect. */
const encodeSegment = escapeUri;

const cache = new WeakMap<S3Client, Promise<Wire | undefined>>();

/** The lean path for a client, or undefined where SDK commands must be used (AWS endpoints, virtual-hosted style). */
export function wireFor(client: S3Client): Promise<Wire | undefined> {
  let w = cache.get(client);
  if (!w) {
    w = makeWire(client).catch(() => undefined);
    cache.set(client, w);
  }
  return w;
}

async function makeWire(client: S3Client): Promise<Wire | undefined> {
  const config = client.config as S3Client['config'] & { forcePathStyle?: boolean; isCustomEndpoint?: boolean };
  if (!config.forcePathStyle || !config.endpoint || process.env.TRAINCTL_S3_SDK_ONLY) return undefined;
  const ep = await config.endpoint();
  if (!ep?.hostname || (ep.protocol !== 'http:' && ep.protocol !== 'https:')) return undefined;
  const region = await config.region();
  const signer = new SignatureV4({ service: 's3', region, credentials: config.credentials, sha256: config.sha256, uriEscapePath: false, applyChecksum: false });
  const handler = config.requestHandler as unknown as Handler;
  const basePath = ep.path && ep.path !== '/' ? ep.path.replace(/\/$/, '') : '';
  const host = ep.port ? `${ep.hostname}:${ep.port}` : ep.hostname;
  const pathOf = (req: { bucket: string; key: string }) => `${basePath}/${encodeSegment(req.bucket)}/${req.key.split('/').map(encodeSegment).join('/')}`;
  const toRequest = (req: Omit<WireRequest, 'body'> & { body?: WireRequest['body'] }) => ({
    method: req.method,
    protocol: ep.protocol,
    hostname: ep.hostname,
    port: ep.port,
    path: pathOf(req),
    query: req.query ?? {},
    headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...req.headers },
    body: req.body,
  });
  const sign = (request: ReturnType<typeof toRequest>) => signer.sign(request as Parameters<SignatureV4['sign']>[0]);
  const pool = ep.protocol === 'http:' ? new Http1Pool(ep.hostname, ep.port ?? 80) : undefined;
  // a server that answers a GET without Content-Length gets node's client from then on
  let http1Usable = pool !== undefined;
  const wire: Wire = {
    async send(req, signal) {
      const request = toRequest(req);
      const signed = await sign(request);
      const { response } = await handler.handle(signed, { abortSignal: signal });
      if (response.statusCode >= 300) {
        let text = '';
        for await (const chunk of response.body as AsyncIterable<Buffer>) if (text.length < 4096) text += chunk.toString('utf8');
        const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `Http${response.statusCode}`;
        const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? code;
        throw new WireError(code, message, response.statusCode);
      }
      return { status: response.statusCode, headers: response.headers, body: response.body };
    },
  };
  if (pool) {
    // the pool's idle sockets are unref'd, so they never hold a process open; a destroyed client closes them at once
    const destroy = client.destroy.bind(client);
    client.destroy = () => {
      pool.destroy();
      destroy();
    };
    // the GETs a download makes by the thousand are signed by ./sigv4.ts (same signatures, a
    // fraction of the SDK signer's CPU); the client's provider still supplies (and refreshes) credentials
    const provider = config.credentials as unknown as SigningCredentials | (() => Promise<SigningCredentials>);
    const lean = new LeanSigner(region, 's3', typeof provider === 'function' ? provider : () => Promise.resolve(provider));
    wire.get = async (req, open, signal) => {
      if (!http1Usable) return viaNode(wire, req, open, signal);
      const path = pathOf(req);
      const signed = await lean.sign({ method: 'GET', path, query: req.query, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...req.headers } });
      try {
        return await pool.get({ path: signed.query ? `${path}?${signed.query}` : path, headers: signed.headers }, open, signal);
      } catch (err) {
        if (!(err instanceof Http1Unsupported)) throw err;
        http1Usable = false;
        return viaNode(wire, req, open, signal);
      }
    };
  }
  return wire;
}

/** The same GET through node's client: for servers http1.ts cannot read. */
async function viaNode(wire: Wire, req: Omit<WireRequest, 'method' | 'body'>, open: (head: Http1Head) => BodySink, signal?: AbortSignal): Promise<Http1Head> {
  const res = await wire.send({ ...req, method: 'GET' }, signal);
  const cl = res.headers['content-length'];
  const head: Http1Head = { status: res.status, headers: res.headers as Record<string, string>, length: cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1 };
  await pump(res.body, open(head));
  return head;
}

/**
 * Copies a body stream into a sink (the SDK's and node's clients deliver streams); returns the
 * bytes copied. One extra copy per byte, which the lean GET avoids.
 */
export async function pump(body: AsyncIterable<Uint8Array>, sink: BodySink): Promise<number> {
  let got = 0;
  for await (const chunk of body) {
    for (let off = 0; off < chunk.length; ) {
      const region = sink.region();
      if (region.length === 0) throw Object.assign(new Error('the server sent more bytes than expected'), { code: 'ECONNRESET' });
      const n = Math.min(region.length, chunk.length - off);
      region.set(chunk.subarray(off, off + n));
      off += n;
      got += n;
      await sink.took(n);
    }
  }
  return got;
}

/** Reads and discards a response body (a PUT's), so the socket goes back to the pool. */
export async function drain(body: Readable): Promise<void> {
  for await (const chunk of body) void chunk;
}
