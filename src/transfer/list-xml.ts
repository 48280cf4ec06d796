// The ListObjectsV2 response (ListBucketResult) read without a general XML parser: a page of 1,000
// keys costs the SDK's parser ~25 ms of CPU and this ~1 ms. S3 writes these documents in one fixed
// shape — no attributes inside the elements read here, no CDATA, no comments, text escaped as XML
// entities — so finding each element by its tags is exact. Pure; checked against the SDK's own
// parse of real radosgw listings in test/transfer/list-xml.test.ts.
import type { ObjectInfo } from './types.js';

export interface ListPage {
  objects: ObjectInfo[];
  prefixes: string[];
  /** The token for the next page; undefined on the last. */
  next?: string;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const ENTITY = /&(?:#[xX]([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g;

/** Text content with its XML entities (named and numeric) resolved. */
export function unescapeXml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (_m, hex: string | undefined, dec: string | undefined, name: string | undefined) =>
    name ? NAMED[name]! : String.fromCodePoint(Number.parseInt(hex ?? dec!, hex ? 16 : 10)));
}

/** The text of the first <name> element in xml[from, to), or undefined; <name/> is ''. */
function textOf(xml: string, name: string, from = 0, to = xml.length): string | undefined {
  const open = `<${name}>`;
  const i = xml.indexOf(open, from);
  if (i < 0 || i >= to) {
    const empty = xml.indexOf(`<${name}/>`, from);
    return empty >= 0 && empty < to ? '' : undefined;
  }
  const start = i + open.length;
  const end = xml.indexOf(`</${name}>`, start);
  if (end < 0 || end > to) throw new Error(`malformed listing: <${name}> is not closed`);
  return unescapeXml(xml.slice(start, end));
}

/** Each [start, end) of the <name>…</name> elements' contents. */
function* blocks(xml: string, name: string): Generator<[number, number]> {
  const open = `<${name}>`;
  const close = `</${name}>`;
  for (let i = xml.indexOf(open); i >= 0; i = xml.indexOf(open, i)) {
    const start = i + open.length;
    const end = xml.indexOf(close, start);
    if (end < 0) throw new Error(`malformed listing: <${name}> is not closed`);
    yield [start, end];
    i = end + close.length;
  }
}

/** One ListObjectsV2 page. Throws on a document that is not a ListBucketResult. */
export function parseListPage(xml: string): ListPage {
  if (!xml.includes('<ListBucketResult')) throw new Error('malformed listing: no ListBucketResult');
  const objects: ObjectInfo[] = [];
  for (const [s, e] of blocks(xml, 'Contents')) {
    const key = textOf(xml, 'Key', s, e);
    if (key === undefined) continue;
    const modified = textOf(xml, 'LastModified', s, e);
    const storageClass = textOf(xml, 'StorageClass', s, e);
    objects.push({
      key,
      size: Number(textOf(xml, 'Size', s, e) ?? 0),
      etag: (textOf(xml, 'ETag', s, e) ?? '').replace(/^"|"$/g, ''),
      lastModified: modified ? new Date(modified) : new Date(0),
      ...(storageClass ? { storageClass } : {}),
    });
  }
  const prefixes: string[] = [];
  for (const [s, e] of blocks(xml, 'CommonPrefixes')) {
    const p = textOf(xml, 'Prefix', s, e);
    if (p !== undefined) prefixes.push(p);
  }
  const truncated = textOf(xml, 'IsTruncated') === 'true';
  const next = truncated ? textOf(xml, 'NextContinuationToken') : undefined;
  return { objects, prefixes, ...(next ? { next } : {}) };
}
