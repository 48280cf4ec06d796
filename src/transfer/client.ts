// The one S3 client factory. Endpoint from --endpoint-url, AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL; a custom endpoint gets path-style addressing (S3-compatible servers such as
// radosgw and MinIO need it). Checksums only when the operation requires them: S3-compatible
// servers reject the SDK's default trailing checksums on streamed uploads. Keep-alive sockets
// enough for parallel transfers. Credentials and region come from the SDK's default chain.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3ClientOptions {
  /** --endpoint-url; falls back to AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL. */
  endpoint?: string;
  region?: string;
  /** Parallel connections; transfers use up to this many at once. */
  maxSockets?: number;
  /** SDK attempts per request (throttling and 5xx are retried with backoff by the SDK). */
  maxAttempts?: number;
  /** Explicit keys (tests, benchmarks); otherwise the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  env?: NodeJS.ProcessEnv;
}

export function s3Endpoint(opts: Pick<S3ClientOptions, 'endpoint' | 'env'> = {}): string | undefined {
  const env = opts.env ?? process.env;
  return opts.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

export function createS3Client(opts: S3ClientOptions = {}): S3Client {
  // The SDK prints a multi-line "node < 22 support ends in 2027" notice on stderr once per process,
  // from the first client's constructor: in a CLI that is every run, in the runner every log, and
  // it buries one-line errors while saying nothing about the work at hand. Its documented switch,
  // set here because every S3 client comes from this factory (an explicit setting is kept).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const env = opts.env ?? process.env;
  const endpoint = s3Endpoint(opts);
  const maxSockets = opts.maxSockets ?? 64;
  const agent = { keepAlive: true, maxSockets, keepAliveMsecs: 1000 };
  return new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // a custom endpoint often has no region of its own; the SDK still needs one to sign
    region: opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 5,
    retryMode: 'adaptive',
    // the SDK's default logger prints a console warning for every failed streamed upload part, which
    // the transfer engine retries itself; errors reach the user through the engine's own messages
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
      // requestTimeout only warns; a server that stops answering (an OSD that died, a proxy that
      // hangs) must fail the request so the transfer engine retries it instead of waiting forever
      socketTimeout: 60_000,
    }),
  });
}
