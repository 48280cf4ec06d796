// What the `s3` and `checkpoint` commands share: S3 URIs and local paths parsed once into typed
// values (or one-line errors), the client from the one factory, numeric flags, and transfer
// progress on the terminal.
import { existsSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { ExitError } from '../core/errors.js';
import { progressLine, transferSummary } from '../render/bytes.js';
import { createS3Client, parseS3Uri, type S3Location, type TransferProgress, type TransferReport } from '../transfer/index.js';
import type { CommandContext } from './commands.js';

export type S3Client = ReturnType<typeof createS3Client>;

export const isS3Uri = (s: string): boolean => /^s3:\/\//i.test(s);

/** Parses an s3:// URI or throws the one-line error with a hint. */
export function s3Location(uri: string): S3Location {
  if (/^s3:\/\//i.test(uri) && !uri.startsWith('s3://')) throw new ExitError(`${JSON.stringify(uri)} is not an s3:// URI`, 1, 'the scheme is lowercase: s3://bucket/prefix/');
  const loc = parseS3Uri(uri);
  if ('error' in loc) throw new ExitError(loc.error, 1, loc.hint);
  return loc;
}

/** A prefix treated as a directory: '' stays the bucket root, anything else ends in '/'. */
export function dirPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

/** The client for --endpoint-url / AWS_ENDPOINT_URL*, with a malformed endpoint refused up front. */
export function s3Client(ctx: CommandContext): S3Client {
  const flag = ctx.values['endpoint-url'] as string | undefined;
  const endpoint = flag || ctx.env.AWS_ENDPOINT_URL_S3 || ctx.env.AWS_ENDPOINT_URL;
  if (endpoint) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ExitError(`malformed S3 endpoint ${JSON.stringify(endpoint.replace(/\/\/[^/@\s]+@/, '//'))}${flag ? '' : ' (from AWS_ENDPOINT_URL)'}`, 1, 'write it like https://s3.example.com or http://127.0.0.1:9000');
    }
  }
  return createS3Client({ ...(flag ? { endpoint: flag } : {}), env: ctx.env });
}

/** Exactly `names.length` positionals, or a usage error. */
export function positionals(ctx: CommandContext, names: readonly string[], usage: string): string[] {
  if (ctx.positionals.length === names.length) return ctx.positionals;
  const missing = names.slice(ctx.positionals.length);
  const problem = missing.length ? `missing ${missing.map((n) => `<${n}>`).join(' ')}` : `unexpected argument ${JSON.stringify(ctx.positionals[names.length])}`;
  throw new ExitError(problem, 1, `usage: ${usage}`);
}

/** A local path that must exist, resolved against the working directory. */
export function existingPath(ctx: CommandContext, path: string): { path: string; stat: Stats } {
  const full = resolve(ctx.cwd, path);
  if (!existsSync(full)) throw new ExitError(`${path}: no such file or directory`, 1, 'check the path (relative paths are from the current directory)');
  return { path: full, stat: statSync(full) };
}

export function keepLastN(ctx: CommandContext): number {
  const raw = ctx.values['keep-last-n'] as string | undefined;
  if (raw === undefined) throw new ExitError('--keep-last-n is required', 1, 'say how many of the newest checkpoints to keep, e.g. --keep-last-n 3');
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new ExitError(`--keep-last-n ${JSON.stringify(raw)} is not a whole number`, 1, 'e.g. --keep-last-n 3');
  if (n < 1) throw new ExitError('--keep-last-n must be at least 1', 1, 'cleanup always keeps the newest checkpoint; to remove everything, delete the prefix itself');
  return n;
}

/** `30d`, `12h`, `90s`, or plain seconds (`30`, as the original CLI took it). */
export function durationFlag(ctx: CommandContext, flag: string, fallback?: string): number | undefined {
  const raw = (ctx.values[flag] as string | undefined) ?? fallback;
  if (raw === undefined) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) * 1000 : parseDuration(raw);
  if (ms === undefined || ms <= 0) throw new ExitError(`--${flag} ${JSON.stringify(raw)} is not a duration`, 1, 'write it like 30s, 10m, 12h, 30d or 1h30m');
  return ms;
}

export function globs(ctx: CommandContext, flag: 'include' | 'exclude'): string[] {
  return (ctx.values[flag] as string[] | undefined) ?? [];
}

/**
 * Progress for one transfer: a line rewritten in place on a terminal (stderr), nothing otherwise;
 * `done` prints the one summary line on stdout either way.
 */
export function transferProgress(ctx: CommandContext, verb: string): { onProgress?: (p: TransferProgress) => void; clear(): void; done(r: TransferReport): void } {
  const tty = Boolean(ctx.stderr.isTTY) && ctx.env.TERM !== 'dumb';
  let shown = false;
  const clear = () => {
    if (shown) ctx.stderr.write('\r\x1b[K');
    shown = false;
  };
  return {
    ...(tty ? { onProgress: (p: TransferProgress) => { ctx.stderr.write(`\r\x1b[K${progressLine(p)}`); shown = true; } } : {}),
    clear,
    done(r) {
      clear();
      ctx.stdout.write(`${transferSummary(verb, { files: r.files, bytes: r.bytes, durationMs: r.durationMs, skipped: r.skipped, failed: r.failed.length, resumedBytes: r.resumedBytes })}\n`);
    },
  };
}

/** Warnings and per-file failures of a transfer on stderr; the exit code they mean. */
export function reportProblems(ctx: CommandContext, r: Pick<TransferReport, 'warnings' | 'failed'>): number {
  for (const w of r.warnings) ctx.stderr.write(`warning: ${w}\n`);
  for (const f of r.failed) ctx.stderr.write(`error: ${f.message}\n`);
  return r.failed.length ? 1 : 0;
}

export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
