// `trainctl s3 review <s3uri>`: a storage report — count and size, size by sub-prefix, largest,
// newest and oldest, incomplete multipart uploads, estimated monthly cost. Reads only.
import { reviewStorage, type StorageReview } from '../core/storage-review.js';
import { formatBytes } from '../render/bytes.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { formatS3Uri, listMultipartUploads, listObjects } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { outputFormat } from './shared.js';
import { dirPrefix, isoSeconds, positionals, s3Client, s3Location } from './s3-shared.js';

export async function review(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [uri] = positionals(ctx, ['s3uri'], 'trainctl s3 review <s3uri> [--detailed]');
  const given = s3Location(uri!);
  const loc = { bucket: given.bucket, key: dirPrefix(given.key) };
  const client = s3Client(ctx);
  const objects: { key: string; size: number; lastModifiedMs: number }[] = [];
  for await (const o of listObjects(client, loc, { parallel: 8 })) objects.push({ key: o.key, size: o.size, lastModifiedMs: o.lastModified.getTime() });
  const uploads: { key: string; uploadId: string; initiatedMs?: number }[] = [];
  for await (const u of listMultipartUploads(client, loc)) uploads.push({ key: u.key, uploadId: u.uploadId, ...(u.initiated ? { initiatedMs: u.initiated.getTime() } : {}) });
  const detailed = Boolean(ctx.values.detailed);
  const r = reviewStorage(loc.key, objects, uploads);
  if (format === 'json') {
    const obj = (o: { key: string; size: number; lastModifiedMs: number }) => ({ key: o.key, size: o.size, lastModified: new Date(o.lastModifiedMs).toISOString() });
    ctx.stdout.write(`${JSON.stringify({
      formatVersion: 1,
      uri: formatS3Uri(loc),
      count: r.count,
      totalBytes: r.totalBytes,
      byPrefix: r.byPrefix.map((p) => ({ prefix: p.prefix, count: p.count, bytes: p.bytes, newest: new Date(p.newestMs).toISOString() })),
      largest: r.largest.map(obj),
      newest: r.newest ? obj(r.newest) : null,
      oldest: r.oldest ? obj(r.oldest) : null,
      incompleteUploads: r.incompleteUploads.map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: u.initiatedMs === undefined ? null : new Date(u.initiatedMs).toISOString() })),
      cost: { usdPerGBMonth: r.cost.usdPerGBMonth, monthlyUSD: Number(r.cost.monthlyUSD.toFixed(6)), storageClass: 'STANDARD' },
      ...(detailed ? { objects: [...objects].sort((a, b) => (a.key < b.key ? -1 : 1)).map(obj) } : {}),
    }, null, 2)}\n`);
    return 0;
  }
  const c = palette(colorEnabled(ctx.stdout, ctx.env));
  ctx.stdout.write(renderReview(formatS3Uri(loc), r, detailed ? objects : undefined, c));
  return 0;
}

const usd = (v: number) => (v > 0 && v < 0.01 ? `$${v.toFixed(4)}` : `$${v.toFixed(2)}`);

export function renderReview(uri: string, r: StorageReview, all: readonly { key: string; size: number; lastModifiedMs: number }[] | undefined, c: Palette): string {
  const out: string[] = [c.bold(`Storage under ${uri}`)];
  const line = (label: string, value: string) => out.push(`  ${label.padEnd(13)}${value}`);
  line('Objects:', String(r.count));
  line('Total size:', `${formatBytes(r.totalBytes)} (${r.totalBytes} bytes)`);
  if (r.newest) line('Newest:', `${isoSeconds(r.newest.lastModifiedMs)}  ${r.newest.key}`);
  if (r.oldest) line('Oldest:', `${isoSeconds(r.oldest.lastModifiedMs)}  ${r.oldest.key}`);
  line('Est. cost:', `${usd(r.cost.monthlyUSD)}/month at $${r.cost.usdPerGBMonth} per GB-month (S3 Standard; GB = 2^30 bytes; requests and transfer not included)`);
  line('Incomplete:', r.incompleteUploads.length ? c.yellow(`${r.incompleteUploads.length} multipart upload${r.incompleteUploads.length === 1 ? '' : 's'} (their parts are billed but not listed)`) : 'no multipart uploads pending');
  if (r.count === 0) return `${out.join('\n')}\n`;
  const pct = (n: number) => (r.totalBytes ? `${((100 * n) / r.totalBytes).toFixed(1)}%` : '-');
  out.push('', c.bold('By prefix'));
  out.push(renderTable(r.byPrefix, [
    { header: 'PREFIX', value: (p) => (p.prefix === '' ? '(top level)' : p.prefix) },
    { header: 'OBJECTS', value: (p) => String(p.count), align: 'right' },
    { header: 'SIZE', value: (p) => formatBytes(p.bytes), align: 'right' },
    { header: 'SHARE', value: (p) => pct(p.bytes), align: 'right' },
    { header: 'NEWEST', value: (p) => isoSeconds(p.newestMs) },
  ]).trimEnd());
  out.push('', c.bold('Largest'));
  out.push(renderTable(r.largest, [
    { header: 'SIZE', value: (o) => formatBytes(o.size), align: 'right' },
    { header: 'MODIFIED', value: (o) => isoSeconds(o.lastModifiedMs) },
    { header: 'KEY', value: (o) => o.key },
  ]).trimEnd());
  if (r.incompleteUploads.length) {
    out.push('', c.bold('Incomplete multipart uploads'));
    out.push(renderTable(r.incompleteUploads, [
      { header: 'INITIATED', value: (u) => (u.initiatedMs === undefined ? '-' : isoSeconds(u.initiatedMs)) },
      { header: 'KEY', value: (u) => u.key },
      { header: 'UPLOAD ID', value: (u) => u.uploadId, max: 40 },
    ]).trimEnd());
  }
  if (all) {
    out.push('', c.bold('Objects'));
    out.push(renderTable([...all].sort((a, b) => (a.key < b.key ? -1 : 1)), [
      { header: 'MODIFIED', value: (o) => isoSeconds(o.lastModifiedMs) },
      { header: 'SIZE', value: (o) => formatBytes(o.size), align: 'right' },
      { header: 'KEY', value: (o) => o.key },
    ]).trimEnd());
  }
  return `${out.join('\n')}\n`;
}
