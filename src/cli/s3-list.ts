// `trainctl s3 list <s3uri>`: objects directly under a prefix and its sub-prefixes, or with
// --recursive everything below it, as a table with a total, or as JSON.
import { sizeCell, formatBytes } from '../render/bytes.js';
import { renderTable } from '../render/table.js';
import { formatS3Uri, listLevel, listObjects, type ObjectInfo } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { outputFormat } from './shared.js';
import { isoSeconds, positionals, s3Client, s3Location } from './s3-shared.js';

export async function list(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [uri] = positionals(ctx, ['s3uri'], 'trainctl s3 list <s3uri> [--recursive] [--human-readable]');
  const loc = s3Location(uri!);
  const client = s3Client(ctx);
  const recursive = Boolean(ctx.values.recursive);
  const objects: ObjectInfo[] = [];
  const prefixes: string[] = [];
  if (recursive) {
    for await (const o of listObjects(client, loc, { parallel: 8 })) objects.push(o);
  } else {
    for await (const e of listLevel(client, loc)) {
      if (e.kind === 'prefix') prefixes.push(e.key);
      else objects.push(e);
    }
  }
  objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  prefixes.sort();
  const total = objects.reduce((s, o) => s + o.size, 0);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({
      formatVersion: 1, uri: formatS3Uri(loc), recursive, count: objects.length, totalBytes: total, prefixes,
      objects: objects.map((o) => ({ key: o.key, size: o.size, etag: o.etag, lastModified: o.lastModified.toISOString(), ...(o.storageClass ? { storageClass: o.storageClass } : {}) })),
    }, null, 2)}\n`);
    return 0;
  }
  if (objects.length === 0 && prefixes.length === 0) {
    ctx.stdout.write(`No objects under ${formatS3Uri(loc)}.\n`);
    return 0;
  }
  const human = Boolean(ctx.values['human-readable']);
  type Row = { modified: string; size: string; key: string };
  const rows: Row[] = [
    ...prefixes.map((p) => ({ modified: '', size: 'PRE', key: p })),
    ...objects.map((o) => ({ modified: isoSeconds(o.lastModified.getTime()), size: sizeCell(o.size, human), key: o.key })),
  ];
  ctx.stdout.write(renderTable(rows, [
    { header: 'MODIFIED', value: (r) => r.modified },
    { header: 'SIZE', value: (r) => r.size, align: 'right' },
    { header: 'KEY', value: (r) => r.key },
  ]));
  const dirs = prefixes.length ? `, ${prefixes.length} prefix${prefixes.length === 1 ? '' : 'es'}` : '';
  ctx.stdout.write(`\n${objects.length} object${objects.length === 1 ? '' : 's'}, ${human ? formatBytes(total) : `${total} bytes`}${dirs}\n`);
  return 0;
}
