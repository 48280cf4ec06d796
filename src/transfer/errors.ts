// What can go wrong talking to S3, as values: an SDK or socket error becomes a TransferError with
// a kind, one line for the user and a hint. Transient kinds are retried; the rest end the operation.
import { ExitError } from '../core/errors.js';

export type TransferErrorKind =
  | 'no-such-bucket'
  | 'not-found'
  | 'access-denied'
  | 'unreachable'
  | 'throttled'
  | 'server'
  | 'network'
  | 'unsafe-key'
  | 'verify'
  | 'local'
  | 'aborted'
  | 'other';

export class TransferError extends ExitError {
  constructor(readonly kind: TransferErrorKind, message: string, hint?: string) {
    super(message, 1, hint);
    this.name = 'TransferError';
  }

  /** Kinds that stop a whole tree transfer: every other object would fail the same way. */
  get fatal(): boolean {
    return this.kind === 'no-such-bucket' || this.kind === 'access-denied' || this.kind === 'unreachable' || this.kind === 'aborted' || this.kind === 'unsafe-key';
  }
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

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

const THROTTLING = new Set(['SlowDown', 'RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestThrottled', 'ServiceUnavailable']);
const ACCESS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AllAccessDisabled', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NETWORK = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'IncompleteBody']);

/** The error code of an SDK error or of the socket error under it. */
function codeOf(err: unknown): { name: string; status: number | undefined } {
  let e = err as SdkLikeError | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = e.code ?? e.Code;
    if (code && (UNREACHABLE.has(code) || NETWORK.has(code))) return { name: code, status: undefined };
    const status = e.$metadata?.httpStatusCode;
    if (e.name && e.name !== 'Error' && (status !== undefined || e.name !== 'TypeError')) return { name: e.name, status };
    if (code) return { name: code, status };
    e = e.cause as SdkLikeError | undefined;
  }
  return { name: (err as SdkLikeError | undefined)?.name ?? 'Error', status: (err as SdkLikeError | undefined)?.$metadata?.httpStatusCode };
}

export interface ErrorContext {
  bucket?: string;
  key?: string;
  /** Shown for unreachable endpoints; never carries credentials (an endpoint URL does not). */
  endpoint?: string;
  /** What was being done, e.g. "upload data/x.bin". */
  action?: string;
}

/** Strips anything after the first line and any `user:password@` of a URL from a server message. */
function oneLine(s: string): string {
  return (s.split('\n')[0] ?? '').replace(/\/\/[^/@\s]+@/g, '//').slice(0, 300);
}

export function toTransferError(err: unknown, ctx: ErrorContext = {}): TransferError {
  if (err instanceof TransferError) return err;
  const { name, status } = codeOf(err);
  const where = ctx.bucket ? `s3://${ctx.bucket}/${ctx.key ?? ''}` : undefined;
  const doing = ctx.action ? `${ctx.action}: ` : '';
  if (name === 'AbortError' || (err as SdkLikeError | undefined)?.name === 'AbortError') return new TransferError('aborted', `${doing}cancelled`);
  if (name === 'NoSuchBucket') return new TransferError('no-such-bucket', `bucket ${ctx.bucket ?? '?'} does not exist`, 'check the bucket name and the endpoint/region');
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new TransferError('not-found', `${doing}${where ?? 'object'} does not exist`);
  if (ACCESS.has(name) || status === 403) {
    return new TransferError('access-denied', `${doing}access denied to ${where ?? 'S3'} (${name})`, 'check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the bucket policy');
  }
  if (UNREACHABLE.has(name)) {
    return new TransferError('unreachable', `${doing}cannot reach the S3 endpoint ${ctx.endpoint ?? '(AWS default)'} (${name})`, 'check --endpoint-url / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and that the server is running');
  }
  if (THROTTLING.has(name) || status === 503 || status === 429) return new TransferError('throttled', `${doing}S3 is throttling requests (${name})`, 'lower --concurrency or try again later');
  if (NETWORK.has(name)) return new TransferError('network', `${doing}connection to ${ctx.endpoint ?? 'S3'} failed (${name})`);
  if (status !== undefined && status >= 500) return new TransferError('server', `${doing}S3 server error ${status} (${name})`);
  const msg = (err as SdkLikeError | undefined)?.message;
  if ((err as { syscall?: string } | undefined)?.syscall) return new TransferError('local', `${doing}${oneLine(msg ?? name)}`);
  return new TransferError('other', `${doing}${oneLine(msg && msg !== 'UnknownError' ? msg : name)}${status ? ` (HTTP ${status})` : ''}`);
}

/** Whether one more try of the same request can help. */
export function isTransient(err: unknown): boolean {
  const kind = toTransferError(err).kind;
  return kind === 'throttled' || kind === 'server' || kind === 'network';
}
