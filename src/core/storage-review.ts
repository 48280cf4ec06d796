// `s3 review` as data: what is stored under a prefix, where the bytes are, how old it is, what
// incomplete multipart uploads hold, and what it costs a month. Pure: the CLI lists, this sums.

/** S3 Standard, us-east-1, first 50 TB, per GB-month (AWS bills a GB as 2^30 bytes). */
export const S3_STANDARD_USD_PER_GB_MONTH = 0.023;
const GIB = 2 ** 30;

export interface StoredObject {
  key: string;
  size: number;
  lastModifiedMs: number;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiatedMs?: number;
}

export interface PrefixUsage {
  /** First path segment below the reviewed prefix, with its trailing '/'; '' for objects directly under it. */
  prefix: string;
  count: number;
  bytes: number;
  newestMs: number;
}

export interface StorageReview {
  prefix: string;
  count: number;
  totalBytes: number;
  byPrefix: PrefixUsage[];
  largest: StoredObject[];
  newest?: StoredObject;
  oldest?: StoredObject;
  incompleteUploads: PendingUpload[];
  cost: { usdPerGBMonth: number; monthlyUSD: number };
}

export function reviewStorage(prefix: string, objects: readonly StoredObject[], uploads: readonly PendingUpload[], opts: { largest?: number; ratePerGBMonth?: number } = {}): StorageReview {
  const rate = opts.ratePerGBMonth ?? S3_STANDARD_USD_PER_GB_MONTH;
  const groups = new Map<string, PrefixUsage>();
  let total = 0;
  let newest: StoredObject | undefined;
  let oldest: StoredObject | undefined;
  for (const o of objects) {
    total += o.size;
    const rel = o.key.slice(prefix.length);
    const slash = rel.indexOf('/');
    const group = slash === -1 ? '' : rel.slice(0, slash + 1);
    const g = groups.get(group) ?? { prefix: group, count: 0, bytes: 0, newestMs: 0 };
    g.count++;
    g.bytes += o.size;
    g.newestMs = Math.max(g.newestMs, o.lastModifiedMs);
    groups.set(group, g);
    if (!newest || o.lastModifiedMs > newest.lastModifiedMs || (o.lastModifiedMs === newest.lastModifiedMs && o.key > newest.key)) newest = o;
    if (!oldest || o.lastModifiedMs < oldest.lastModifiedMs || (o.lastModifiedMs === oldest.lastModifiedMs && o.key < oldest.key)) oldest = o;
  }
  const byPrefix = [...groups.values()].sort((a, b) => b.bytes - a.bytes || (a.prefix < b.prefix ? -1 : 1));
  const largest = [...objects].sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1)).slice(0, opts.largest ?? 10);
  return {
    prefix,
    count: objects.length,
    totalBytes: total,
    byPrefix,
    largest,
    ...(newest ? { newest } : {}),
    ...(oldest ? { oldest } : {}),
    incompleteUploads: [...uploads].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    cost: { usdPerGBMonth: rate, monthlyUSD: (total / GIB) * rate },
  };
}
