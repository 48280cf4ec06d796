// The runpod provider's one API client: GraphQL (RUNPOD_API_URL, default
// https://api.runpod.io/graphql) for creating pods and GPU type prices, REST (RUNPOD_REST_URL,
// default https://rest.runpod.io/v1) for listing, stopping and deleting them, over node's fetch.
// The key comes from RUNPOD_API_KEY or runpodctl's ~/.runpod/config.toml. Answers a user must act
// on (no key, a rejected key, an endpoint that does not answer) become one-line ExitErrors here.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ExitError } from '../../core/errors.js';
import { withRetry } from '../../core/retry.js';
import { classifyAnswer, type RunpodErrorKind } from './model.js';

export const DEFAULT_GRAPHQL_URL = 'https://api.runpod.io/graphql';
export const DEFAULT_REST_URL = 'https://rest.runpod.io/v1';

export interface RunpodConfig {
  graphqlUrl: string;
  restUrl: string;
  /** Undefined when neither RUNPOD_API_KEY nor ~/.runpod/config.toml has one. */
  apiKey?: string;
}

/** `apikey = "…"` from runpodctl's config.toml (viper writes keys lower-case), or undefined. */
export function configFileKey(text: string): string | undefined {
  const m = /^\s*api_?key\s*=\s*(?:"([^"]*)"|'([^']*)')\s*$/im.exec(text);
  const key = (m?.[1] ?? m?.[2] ?? '').trim();
  return key || undefined;
}

export function runpodConfig(env: NodeJS.ProcessEnv = process.env): RunpodConfig {
  let apiKey = env.RUNPOD_API_KEY?.trim() || undefined;
  if (!apiKey) {
    try {
      apiKey = configFileKey(readFileSync(join(env.HOME || homedir(), '.runpod', 'config.toml'), 'utf8'));
    } catch {
      // no config file: no key
    }
  }
  return {
    graphqlUrl: env.RUNPOD_API_URL || DEFAULT_GRAPHQL_URL,
    restUrl: (env.RUNPOD_REST_URL || DEFAULT_REST_URL).replace(/\/+$/, ''),
    ...(apiKey ? { apiKey } : {}),
  };
}

/** An API answer that is not a success, with its kind (see model.ts classifyAnswer). */
export class RunpodError extends Error {
  constructor(readonly kind: RunpodErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'RunpodError';
  }
}

export const kindOf = (err: unknown): RunpodErrorKind | undefined => (err instanceof RunpodError ? err.kind : undefined);

const TRANSIENT: ReadonlySet<RunpodErrorKind | undefined> = new Set(['throttled', 'server', 'unreachable']);
export const isTransient = (err: unknown): boolean => TRANSIENT.has(kindOf(err));

export interface RunpodApiOptions {
  /** Retries of throttling and 5xx answers; 0 for calls that must not be repeated blindly (create). */
  retries?: number;
  /** Per request. */
  timeoutMs?: number;
}

export class RunpodApi {
  readonly config: RunpodConfig;
  constructor(env: NodeJS.ProcessEnv = process.env, private readonly opts: RunpodApiOptions = {}) {
    this.config = runpodConfig(env);
  }

  get configured(): boolean {
    return this.config.apiKey !== undefined;
  }

  private key(): string {
    if (!this.config.apiKey) {
      throw new ExitError('no RunPod API key: RUNPOD_API_KEY is not set and ~/.runpod/config.toml has none', 1, 'export RUNPOD_API_KEY=… (from https://www.runpod.io/console/user/settings), or run `runpodctl config --apiKey …`');
    }
    return this.config.apiKey;
  }

  private async send(url: string, init: RequestInit, what: string): Promise<{ status: number; body: unknown; text: string }> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RunpodError('unreachable', `${what}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    return { status: res.status, body, text };
  }

  private retrying<T>(fn: () => Promise<T>, retries = this.opts.retries ?? 6): Promise<T> {
    return withRetry(fn, { retries, backoff: { baseMs: 300, maxMs: 8000, factor: 2, jitter: 0.5 }, isTransient });
  }

  /** One GraphQL operation; `errors` (HTTP 200) become a RunpodError of the first message's kind. */
  graphql<T>(query: string, variables: Record<string, unknown>, what: string, retries?: number): Promise<T> {
    const key = this.key();
    return this.retrying(async () => {
      const r = await this.send(this.config.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables }),
      }, what);
      const body = r.body as { data?: T; errors?: { message?: string }[] } | undefined;
      const message = body?.errors?.[0]?.message ?? errorText(r.body, r.text);
      if (r.status !== 200 || body?.errors?.length) {
        throw new RunpodError(classifyAnswer(r.status === 200 ? 400 : r.status, message), `${what}: ${message}${r.status !== 200 ? ` (HTTP ${r.status})` : ''}`, r.status);
      }
      if (!body || body.data === undefined) throw new RunpodError('server', `${what}: the answer has no data`, r.status);
      return body.data;
    }, retries);
  }

  /** One REST call; 404 is a RunpodError of kind `not-found` (callers decide whether that is fine). */
  rest<T>(method: 'GET' | 'POST' | 'DELETE', path: string, what: string, body?: unknown): Promise<T> {
    const key = this.key();
    return this.retrying(async () => {
      const r = await this.send(`${this.config.restUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }, what);
      if (r.status < 200 || r.status >= 300) {
        const message = errorText(r.body, r.text);
        throw new RunpodError(classifyAnswer(r.status, message), `${what}: ${message} (HTTP ${r.status})`, r.status);
      }
      return r.body as T;
    });
  }
}

/** The message of an error body: REST `{"error": …}`, `{"message": …}`, GraphQL `errors[0].message`, else the text. */
function errorText(body: unknown, text: string): string {
  const b = body as { error?: unknown; message?: unknown; errors?: { message?: unknown }[] } | undefined;
  const m = b?.error ?? b?.message ?? b?.errors?.[0]?.message;
  if (typeof m === 'string' && m) return m;
  return text.trim().split('\n')[0]?.slice(0, 200) || 'no message';
}

/**
 * Rethrows an API error as the one-line ExitError a user can act on when it is one: a rejected
 * key, an endpoint that does not answer, throttling or server errors that outlasted the retries.
 * Anything else is returned as is.
 */
export function userFacing(err: unknown, what: string): unknown {
  if (err instanceof ExitError || !(err instanceof RunpodError)) return err;
  switch (err.kind) {
    case 'auth':
      return new ExitError(`${what}: RunPod rejected the API key (HTTP ${err.status ?? 401})`, 1, 'check RUNPOD_API_KEY (or apikey in ~/.runpod/config.toml): create a key at https://www.runpod.io/console/user/settings');
    case 'unreachable':
      return new ExitError(`${what}: the RunPod API does not answer (${err.message.split(': ').at(-1)})`, 1, 'check RUNPOD_API_URL / RUNPOD_REST_URL and your network');
    case 'throttled':
    case 'server':
      return new ExitError(`${what}: the RunPod API kept failing (${err.message.split(': ').slice(1).join(': ')})`, 1, 'RunPod is throttling or having trouble; run the command again in a minute');
    default:
      return err;
  }
}
