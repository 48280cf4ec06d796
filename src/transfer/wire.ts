// The lean path for the three requests a transfer makes by the thousand — GET (whole or ranged),
// PUT of an object and PUT of a part — on S3-compatible servers (a custom endpoint with path-style
// addressing). It is not a second client: it is derived from the one the factory made — the same
// endpoint, region, credentials provider, signer algorithm and HTTP handler (so the same sockets
// and timeouts) — and only skips the SDK's per-request middleware, which costs about as much CPU
// as radosgw spends serving a small object. Everything else (listing, HEAD, multipart create and
// complete, deletes) and every request to AWS itself goes through SDK commands.
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';

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

/** An error shaped like the SDK's (name = S3 error code, $metadata.httpStatusCode), for toTransferError. */
export class WireError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

interface Handler {
  handle(request: unknown, options?: { abortSignal?: AbortSignal }): Promise<{ response: { statusCode: number; headers: Record<string, string>; body: Readable } }>;
}

export interface Wire {
  send(req: WireRequest, signal?: AbortSignal): Promise<WireResponse>;
}

/** RFC 3986 encoding of one path segment, as SigV4 and S3 expect. */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

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
  return {
    async send(req, signal) {
      const path = `${basePath}/${encodeSegment(req.bucket)}/${req.key.split('/').map(encodeSegment).join('/')}`;
      const request = {
        method: req.method,
        protocol: ep.protocol,
        hostname: ep.hostname,
        port: ep.port,
        path,
        query: req.query ?? {},
        headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...req.headers },
        body: req.body,
      };
      const signed = await signer.sign(request as Parameters<SignatureV4['sign']>[0]);
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
}

/** Reads and discards a response body (a PUT's), so the socket goes back to the pool. */
export async function drain(body: Readable): Promise<void> {
  for await (const chunk of body) void chunk;
}
