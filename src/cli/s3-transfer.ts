// `trainctl s3 upload` and `s3 download`: one file or object, or a whole tree with --recursive,
// through the transfer engine (parallel, verified, atomic local writes), with progress.
import { resolve } from 'node:path';
import { ExitError } from '../core/errors.js';
import { downloadObject, downloadTree, formatS3Uri, TransferError, uploadFile, uploadTree, type TransferReport } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { outputFormat } from './shared.js';
import { existingPath, globs, isS3Uri, positionals, reportProblems, s3Client, s3Location, transferProgress } from './s3-shared.js';

function printReport(ctx: CommandContext, json: boolean, verb: string, report: TransferReport, extra: Record<string, unknown>, progress: ReturnType<typeof transferProgress>): number {
  if (json) {
    progress.clear();
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, ...extra, report }, null, 2)}\n`);
  } else {
    progress.done(report);
  }
  return reportProblems(ctx, report);
}

export async function upload(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [local, uri] = positionals(ctx, ['local', 's3uri'], 'trainctl s3 upload <local> <s3uri> [--recursive]');
  if (isS3Uri(local!) && !isS3Uri(uri!)) throw new ExitError('upload goes from a local path to an s3:// URI', 1, `did you mean \`trainctl s3 download ${local} ${uri}\`?`);
  const loc = s3Location(uri!);
  const src = existingPath(ctx, local!);
  const recursive = Boolean(ctx.values.recursive);
  if (src.stat.isDirectory() && !recursive) throw new ExitError(`${local} is a directory`, 1, 'pass --recursive to upload everything under it');
  const client = s3Client(ctx);
  const progress = transferProgress(ctx, 'Uploaded');
  const opts = { include: globs(ctx, 'include'), exclude: globs(ctx, 'exclude'), ...(progress.onProgress ? { onProgress: progress.onProgress } : {}) };
  let report: TransferReport;
  try {
    report = src.stat.isDirectory() ? await uploadTree(client, src.path, loc, opts) : await uploadFile(client, src.path, loc, opts);
  } finally {
    progress.clear();
  }
  return printReport(ctx, format === 'json', 'Uploaded', report, { source: src.path, destination: formatS3Uri(loc) }, progress);
}

export async function download(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [uri, local] = positionals(ctx, ['s3uri', 'local'], 'trainctl s3 download <s3uri> <local> [--recursive]');
  if (!isS3Uri(uri!) && isS3Uri(local!)) throw new ExitError('download goes from an s3:// URI to a local path', 1, `did you mean \`trainctl s3 upload ${uri} ${local}\`?`);
  const loc = s3Location(uri!);
  const recursive = Boolean(ctx.values.recursive);
  // a trailing '/' means "into this directory" for a single object
  const target = resolve(ctx.cwd, local!) + (local!.endsWith('/') ? '/' : '');
  const client = s3Client(ctx);
  const progress = transferProgress(ctx, 'Downloaded');
  const opts = { include: globs(ctx, 'include'), exclude: globs(ctx, 'exclude'), ...(progress.onProgress ? { onProgress: progress.onProgress } : {}) };
  let report: TransferReport;
  try {
    report = recursive ? await downloadTree(client, loc, target, opts) : await downloadObject(client, loc, target, opts);
  } catch (err) {
    if (!recursive && err instanceof TransferError && err.kind === 'not-found') throw new ExitError(err.message, 1, 'to download everything under a prefix, pass --recursive');
    throw err;
  } finally {
    progress.clear();
  }
  if (recursive && report.files === 0 && report.failed.length === 0) ctx.stderr.write(`warning: no objects under ${formatS3Uri(loc)}${report.skipped ? ` passed the filters (${report.skipped} left out)` : ''}\n`);
  return printReport(ctx, format === 'json', 'Downloaded', report, { source: formatS3Uri(loc), destination: target }, progress);
}
