// `trainctl s3 sync <src> <dst>`: make the destination match the source, local ↔ S3. With
// --delete the plan is computed once and shown; after confirmation the copies run and exactly the
// deletions shown are carried out (minus any whose source reappeared meanwhile).
import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ExitError } from '../core/errors.js';
import { formatBytes } from '../render/bytes.js';
import { colorEnabled, palette } from '../render/color.js';
import { deleteObjects, formatS3Uri, syncTree, type S3Location, type SyncAction, type SyncReport, type TransferFailure } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { confirmOrRefuse, outputFormat } from './shared.js';
import { globs, isS3Uri, positionals, reportProblems, s3Client, s3Location, transferProgress } from './s3-shared.js';

type End = { kind: 'local'; path: string; shown: string } | { kind: 's3'; loc: S3Location };

function ends(ctx: CommandContext): { src: End; dst: End; direction: 'up' | 'down' } {
  const [a, b] = positionals(ctx, ['src', 'dst'], 'trainctl s3 sync <src> <dst> [--delete] [--dry-run]');
  const parse = (s: string): End => (isS3Uri(s) ? { kind: 's3', loc: s3Location(s) } : { kind: 'local', path: resolve(ctx.cwd, s), shown: s });
  let src = parse(a!);
  let dst = parse(b!);
  if (src.kind === dst.kind) {
    throw new ExitError(src.kind === 's3' ? 'sync between two s3:// URIs is not supported' : 'sync needs an s3:// URI on one side', 1, 'e.g. trainctl s3 sync ./data s3://bucket/data/ (upload) or the reverse (download)');
  }
  const flag = ctx.values.direction as string | undefined;
  if (flag !== undefined && flag !== 'up' && flag !== 'down') throw new ExitError(`--direction ${JSON.stringify(flag)} is not up or down`, 1, 'the argument order gives the direction; --direction is only needed with the original CLI\'s order');
  // the original CLI took `sync <local> <s3uri> --direction down`; honour it by swapping the ends
  if (flag && (flag === 'up') !== (src.kind === 'local')) [src, dst] = [dst, src];
  return { src, dst, direction: src.kind === 'local' ? 'up' : 'down' };
}

const endText = (e: End) => (e.kind === 's3' ? formatS3Uri(e.loc) : e.shown);

function actionLine(a: SyncAction, bucket: string, cwd: string, c: ReturnType<typeof palette>): string {
  const uri = (key: string) => `s3://${bucket}/${key}`;
  const local = (p: string) => {
    const rel = relative(cwd, p);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
  };
  switch (a.kind) {
    case 'upload': return `  ${c.green('upload')}    ${local(a.path)} → ${uri(a.key)}  ${c.dim(`${formatBytes(a.size)}, ${a.reason}`)}`;
    case 'download': return `  ${c.green('download')}  ${uri(a.key)} → ${local(a.path)}  ${c.dim(`${formatBytes(a.size)}, ${a.reason}`)}`;
    case 'delete-object': return `  ${c.red('delete')}    ${uri(a.key)}  ${c.dim(formatBytes(a.size))}`;
    case 'delete-file': return `  ${c.red('delete')}    ${local(a.path)}  ${c.dim(formatBytes(a.size))}`;
  }
}

const isDelete = (a: SyncAction) => a.kind === 'delete-object' || a.kind === 'delete-file';

function planSummary(actions: readonly SyncAction[], unchanged: number): string {
  const copies = actions.filter((a) => !isDelete(a));
  const deletes = actions.filter(isDelete);
  const verb = copies[0]?.kind === 'download' ? 'download' : 'upload';
  const parts = [`${copies.length} to ${verb} (${formatBytes(copies.reduce((s, a) => s + a.size, 0))})`];
  if (deletes.length) parts.push(`${deletes.length} to delete (${formatBytes(deletes.reduce((s, a) => s + a.size, 0))})`);
  parts.push(`${unchanged} unchanged`);
  return `Sync: ${parts.join(', ')}.`;
}

export async function sync(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const { src, dst, direction } = ends(ctx);
  const local = src.kind === 'local' ? src : (dst as Extract<End, { kind: 'local' }>);
  const remote = (src.kind === 's3' ? src : dst) as Extract<End, { kind: 's3' }>;
  if (direction === 'up') {
    if (!existsSync(local.path)) throw new ExitError(`${local.shown}: no such file or directory`, 1, 'check the path (relative paths are from the current directory)');
    if (!statSync(local.path).isDirectory()) throw new ExitError(`${local.shown} is not a directory`, 1, 'sync works on directories; for one file use `trainctl s3 upload`');
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  const client = s3Client(ctx);
  const wantDelete = Boolean(ctx.values.delete);
  const dryRun = Boolean(ctx.values['dry-run']);
  const base = {
    src: src.kind === 'local' ? src.path : src.loc,
    dst: dst.kind === 'local' ? dst.path : dst.loc,
    include: globs(ctx, 'include'),
    exclude: globs(ctx, 'exclude'),
  };
  const json = format === 'json';
  const header = { formatVersion: 1, source: endText(src), destination: endText(dst), direction, delete: wantDelete };

  // The preview: computed once; the deletions in it are the only ones ever made.
  let preview: SyncReport | undefined;
  if (dryRun || wantDelete) {
    preview = await syncTree(client, { ...base, delete: wantDelete, dryRun: true });
    const unchanged = preview.skipped;
    if (!json) {
      for (const a of preview.actions) ctx.stdout.write(`${actionLine(a, remote.loc.bucket, ctx.cwd, c)}\n`);
      ctx.stdout.write(`${planSummary(preview.actions, unchanged)}${dryRun ? ' (dry run: nothing changed)' : ''}\n`);
    }
    if (dryRun) {
      if (json) ctx.stdout.write(`${JSON.stringify({ ...header, dryRun: true, actions: preview.actions }, null, 2)}\n`);
      return reportProblems(ctx, { warnings: preview.warnings, failed: [] });
    }
    const deletes = preview.actions.filter(isDelete);
    if (deletes.length) await confirmOrRefuse(ctx, 'delete', `\n${c.bold(`Delete these ${deletes.length} ${direction === 'up' ? 'objects' : 'files'}?`)} [y/N] `);
  }

  const progress = transferProgress(ctx, direction === 'up' ? 'Uploaded' : 'Downloaded');
  let report: SyncReport;
  try {
    report = await syncTree(client, { ...base, delete: false, ...(progress.onProgress ? { onProgress: progress.onProgress } : {}) });
  } finally {
    progress.clear();
  }
  const { deleted, failed } = await deletePreviewed(client, remote.loc.bucket, preview?.actions.filter(isDelete) ?? [], report.actions);
  const result = { ...report, deleted: deleted.length, failed: [...report.failed, ...failed] };
  if (json) {
    ctx.stdout.write(`${JSON.stringify({ ...header, dryRun: false, actions: report.actions, deleted, report: { ...result, actions: undefined } }, null, 2)}\n`);
  } else {
    progress.done(result);
    if (deleted.length) ctx.stdout.write(`Deleted ${deleted.length} ${direction === 'up' ? 'object' : 'file'}${deleted.length === 1 ? '' : 's'} that ${endText(src)} no longer has.\n`);
  }
  return reportProblems(ctx, result);
}

/**
 * Deletes exactly the previewed deletions, except one whose source came back since the preview
 * (the copy just made wrote it again; deleting it would lose it).
 */
async function deletePreviewed(client: ReturnType<typeof s3Client>, bucket: string, previewed: readonly SyncAction[], copies: readonly SyncAction[]): Promise<{ deleted: string[]; failed: TransferFailure[] }> {
  const written = new Set(copies.flatMap((a) => (a.kind === 'upload' ? [a.key] : a.kind === 'download' ? [a.path] : [])));
  const keys = previewed.flatMap((a) => (a.kind === 'delete-object' && !written.has(a.key) ? [a.key] : []));
  const paths = previewed.flatMap((a) => (a.kind === 'delete-file' && !written.has(a.path) ? [a.path] : []));
  const deleted: string[] = [];
  const failed: TransferFailure[] = [];
  if (keys.length) {
    const r = await deleteObjects(client, bucket, keys);
    deleted.push(...r.deleted);
    failed.push(...r.failed);
  }
  for (const p of paths) {
    try {
      await rm(p);
      deleted.push(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') deleted.push(p);
      else failed.push({ path: p, key: '', message: `delete ${p}: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  return { deleted, failed };
}
