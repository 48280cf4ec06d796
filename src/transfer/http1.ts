// A minimal HTTP/1.1 client for the request a download makes by the thousand: a GET of an object
// or of a range, over plain http to an S3-compatible endpoint. The socket reads response bytes
// straight into the caller's buffers (net's `onread`), so a body costs no allocation per read and
// no stream machinery. Measured on radosgw (2 cores): with node's http client a 1 GiB download
// allocated ~16,000 64 KiB buffers and spent more CPU in V8's garbage collector and stream events
// than in moving bytes, and 2,000 small GETs cost ~0.4 ms of client CPU each. Only what an S3 GET
// response needs is understood: a status line, headers and a Content-Length body. A 2xx without
// Content-Length (chunked) is refused with Http1Unsupported, and the caller uses node's client.
import { connect, type Socket } from 'node:net';
import { WireError } from './errors.js';

/** Where a response body goes, in the order it arrives. */
export interface BodySink {
  /**
   * The memory the next bytes are read into (not empty; may be reused once `took` settles). The
   * first region must hold min(body length, 64 KiB): the bytes that came with the head go there.
   */
  region(): Buffer;
  /**
   * `n` bytes landed at the start of the last region. A promise pauses reading until it settles
   * (a write to disk); the region asked for next must then be the one valid after it settles.
   */
  took(n: number): void | Promise<void>;
}

export interface Http1Head {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Content-Length. */
  length: number;
}

export interface Http1Request {
  /** Path and query, already encoded (as signed). */
  path: string;
  /** Every header to send, Host included (as signed). */
  headers: Record<string, string>;
}

/** A 2xx this client does not read (no Content-Length); the request was not consumed. */
export class Http1Unsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Http1Unsupported';
  }
}

/** An error with a socket-style code, so errors.ts classifies it (network errors are retried). */
function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const HEAD_START = 16 * 1024;
const HEAD_MAX = 64 * 1024;
/** Error bodies are XML of a few hundred bytes; more is not read. */
const ERROR_BODY_MAX = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

interface Exchange {
  sink?: BodySink;
  open: (head: Http1Head) => BodySink;
  resolve: (head: Http1Head) => void;
  reject: (err: unknown) => void;
  head?: Http1Head;
  remaining: number;
  /** Error responses: the body, gathered until complete (Content-Length) or the connection ends. */
  errorBody?: Buffer[];
  errorBytes: number;
}

/** One keep-alive connection; carries one exchange at a time. */
class Connection {
  readonly socket: Socket;
  /** Reads land here until a response's head is parsed, and between responses. */
  private scratch = Buffer.allocUnsafe(HEAD_START);
  private headLen = 0;
  private ex: Exchange | undefined;
  /** The region the socket reads into next (set by nextBuffer). */
  private current: Buffer;
  private reusable = true;
  private sawBytes = false;
  connected = false;

  constructor(host: string, port: number, private readonly onIdle: (c: Connection) => void, private readonly onGone: (c: Connection) => void, timeouts: Timeouts) {
    this.current = this.scratch;
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.nextBuffer(), callback: (n: number) => this.onRead(n) },
    });
    this.socket.setTimeout(timeouts.connectMs);
    this.socket.on('timeout', () => {
      // an idle connection just goes; one with an exchange fails it (retried as a network error)
      this.destroy(!this.connected ? netError('ETIMEDOUT', `no connection to ${host}:${port} within ${timeouts.connectMs} ms`) : this.ex ? netError('ETIMEDOUT', `no response byte for ${timeouts.idleMs} ms`) : undefined);
    });
    this.socket.once('connect', () => {
      this.connected = true;
      this.socket.setTimeout(timeouts.idleMs);
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.fail(netError('ERR_STREAM_PREMATURE_CLOSE', 'the server closed the connection')));
    this.socket.on('close', () => {
      this.fail(netError('ERR_STREAM_PREMATURE_CLOSE', 'connection closed'));
      this.onGone(this);
    });
  }

  get busy(): boolean {
    return this.ex !== undefined;
  }

  /** Sends a request; resolves with the head once the whole body went to the sink. */
  exchange(req: Http1Request, open: (head: Http1Head) => BodySink): Promise<Http1Head> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(netError('ECONNRESET', 'connection closed'));
      this.ex = { open, resolve, reject, remaining: 0, errorBytes: 0 };
      this.headLen = 0;
      this.sawBytes = false;
      this.socket.ref();
      // the last exchange may have ended with reading paused (its sink was still writing)
      this.socket.resume();
      let text = `GET ${req.path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(req.headers)) text += `${k}: ${v}\r\n`;
      this.socket.write(`${text}\r\n`, 'latin1');
    });
  }

  /** Whether the last exchange ended before the server sent a byte (a reused connection the server had closed). */
  get untouched(): boolean {
    return !this.sawBytes;
  }

  destroy(err?: Error): void {
    this.reusable = false;
    this.socket.destroy(err);
  }

  private nextBuffer(): Buffer {
    const ex = this.ex;
    if (ex?.sink && ex.remaining > 0) {
      const r = ex.sink.region();
      this.current = r.length > ex.remaining ? r.subarray(0, ex.remaining) : r;
    } else {
      this.current = this.scratch.subarray(this.headLen);
    }
    return this.current;
  }

  private onRead(n: number): boolean {
    const ex = this.ex;
    if (!ex) {
      // bytes nobody asked for: the connection is out of step
      this.destroy(netError('ECONNRESET', 'unexpected data from the server'));
      return false;
    }
    this.sawBytes = true;
    if (ex.sink) return this.onBody(ex, n);
    if (ex.head) return this.onErrorBody(ex, this.current.subarray(0, n));
    this.headLen += n;
    const end = this.scratch.subarray(0, this.headLen).indexOf(CRLFCRLF, Math.max(0, this.headLen - n - 3));
    if (end < 0) {
      if (this.headLen === this.scratch.length) {
        if (this.scratch.length >= HEAD_MAX) return this.abandon(ex, netError('ECONNRESET', 'response headers too large'));
        const bigger = Buffer.allocUnsafe(this.scratch.length * 2);
        this.scratch.copy(bigger, 0, 0, this.headLen);
        this.scratch = bigger;
      }
      return true;
    }
    let head: Http1Head;
    try {
      head = parseHead(this.scratch.toString('latin1', 0, end));
    } catch (err) {
      return this.abandon(ex, err);
    }
    ex.head = head;
    const rest = this.scratch.subarray(end + 4, this.headLen);
    this.headLen = 0;
    if (head.headers.connection?.toLowerCase() === 'close') this.reusable = false;
    if (head.status >= 300) {
      ex.errorBody = [];
      ex.remaining = head.length;
      return rest.length > 0 ? this.onErrorBody(ex, Buffer.from(rest)) : head.length === 0 ? this.complete(ex) : true;
    }
    if (head.length < 0 || head.headers['transfer-encoding'] !== undefined) return this.abandon(ex, new Http1Unsupported(`a ${head.status} response without Content-Length`));
    if (rest.length > head.length) return this.abandon(ex, netError('ECONNRESET', 'more bytes than Content-Length'));
    let sink: BodySink;
    try {
      sink = ex.open(head);
    } catch (err) {
      return this.abandon(ex, err);
    }
    ex.sink = sink;
    ex.remaining = head.length;
    if (head.length === 0) return this.complete(ex);
    if (rest.length === 0) return true;
    const region = sink.region();
    if (region.length < rest.length) return this.abandon(ex, new Error(`bug: a body sink's first region holds ${region.length} bytes, fewer than the ${rest.length} after the head`));
    rest.copy(region);
    this.current = region;
    return this.onBody(ex, rest.length);
  }

  private onBody(ex: Exchange, n: number): boolean {
    ex.remaining -= n;
    let pending: void | Promise<void>;
    try {
      pending = ex.sink!.took(n);
    } catch (err) {
      return this.abandon(ex, err);
    }
    if (!pending) return ex.remaining === 0 ? this.complete(ex) : true;
    pending.then(
      () => {
        if (this.ex !== ex) return;
        if (ex.remaining === 0) this.complete(ex);
        else this.socket.resume();
      },
      (err: unknown) => {
        if (this.ex === ex) this.abandon(ex, err);
      },
    );
    // reading stops until the sink has its memory back
    return false;
  }

  private onErrorBody(ex: Exchange, bytes: Buffer): boolean {
    if (ex.errorBytes < ERROR_BODY_MAX) ex.errorBody!.push(Buffer.from(bytes));
    ex.errorBytes += bytes.length;
    if (ex.remaining >= 0 && ex.errorBytes >= ex.remaining) return this.complete(ex);
    if (ex.remaining < 0 && /<\/Error>/.test(Buffer.concat(ex.errorBody!).toString('utf8'))) {
      // a body without length ends only with the connection: take what says what went wrong
      this.reusable = false;
      return this.complete(ex);
    }
    return true;
  }

  private complete(ex: Exchange): boolean {
    this.ex = undefined;
    const head = ex.head!;
    if (head.status >= 300) {
      const text = Buffer.concat(ex.errorBody ?? []).toString('utf8');
      if (ex.remaining < 0 || ex.errorBytes !== ex.remaining) this.reusable = false;
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `Http${head.status}`;
      ex.reject(new WireError(code, /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? code, head.status));
    } else {
      ex.resolve(head);
    }
    if (this.reusable && !this.socket.destroyed) {
      this.socket.unref();
      this.onIdle(this);
    } else {
      this.socket.destroy();
    }
    return true;
  }

  /** Ends the exchange with an error; the connection cannot be trusted after it. */
  private abandon(ex: Exchange, err: unknown): boolean {
    this.ex = undefined;
    this.destroy();
    ex.reject(err);
    return false;
  }

  private fail(err: Error): void {
    this.reusable = false;
    const ex = this.ex;
    if (!ex) return;
    this.ex = undefined;
    ex.reject(err);
  }
}

function parseHead(text: string): Http1Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw netError('ECONNRESET', `not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const cl = headers['content-length'];
  const length = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
  return { status: Number(m[1]), headers, length };
}

export interface Timeouts {
  connectMs: number;
  /** No byte for this long during an exchange ends it (ETIMEDOUT, retried). */
  idleMs: number;
}

/** Keep-alive connections to one host:port; as many as requests in flight (the caller bounds those). */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();

  constructor(private readonly host: string, private readonly port: number, private readonly timeouts: Timeouts = { connectMs: 10_000, idleMs: 60_000 }) {}

  /**
   * GET; `open` is called with the head of a 2xx response and returns where the body goes. Resolves
   * once the body is all in the sink. An error status rejects with an error carrying `status` and
   * the S3 `code`. A reused connection that the server had closed is replaced once, silently.
   */
  async get(req: Http1Request, open: (head: Http1Head) => BodySink, signal?: AbortSignal): Promise<Http1Head> {
    for (let attempt = 0; ; attempt++) {
      const reused = this.idle.length > 0;
      const conn = this.idle.pop() ?? this.connect();
      const onAbort = () => conn.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (signal?.aborted) onAbort();
        return await conn.exchange(req, open);
      } catch (err) {
        if (reused && attempt === 0 && conn.untouched && !signal?.aborted && !(err instanceof Http1Unsupported) && !(err instanceof WireError)) continue;
        throw err;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Closes every connection (idle ones would otherwise end with the server's keep-alive timeout). */
  destroy(): void {
    for (const c of this.all) c.destroy();
    this.idle.length = 0;
  }

  private connect(): Connection {
    const c = new Connection(
      this.host,
      this.port,
      (conn) => this.idle.push(conn),
      (conn) => {
        this.all.delete(conn);
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
      },
      this.timeouts,
    );
    this.all.add(c);
    return c;
  }
}
