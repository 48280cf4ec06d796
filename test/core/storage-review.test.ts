// `s3 review`'s sums, without I/O.
import { describe, expect, it } from 'vitest';
import { reviewStorage, S3_STANDARD_USD_PER_GB_MONTH } from '../../src/core/storage-review.js';

describe('reviewStorage', () => {
  it('sums by first segment below the prefix, finds largest/newest/oldest, and prices GB-months at S3 Standard', () => {
    const GiB = 2 ** 30;
    const r = reviewStorage('runs/', [
      { key: 'runs/a/1.pt', size: GiB, lastModifiedMs: 3000 },
      { key: 'runs/a/2.pt', size: 2 * GiB, lastModifiedMs: 1000 },
      { key: 'runs/b/x/y.bin', size: 5, lastModifiedMs: 4000 },
      { key: 'runs/top.txt', size: 1, lastModifiedMs: 2000 },
    ], [{ key: 'runs/z.pt', uploadId: 'u2' }, { key: 'runs/a.pt', uploadId: 'u1', initiatedMs: 5 }], { largest: 2 });
    expect(r.count).toBe(4);
    expect(r.totalBytes).toBe(3 * GiB + 6);
    expect(r.byPrefix.map((p) => [p.prefix, p.count, p.bytes, p.newestMs])).toEqual([['a/', 2, 3 * GiB, 3000], ['b/', 1, 5, 4000], ['', 1, 1, 2000]]);
    expect(r.largest.map((o) => o.key)).toEqual(['runs/a/2.pt', 'runs/a/1.pt']);
    expect([r.newest?.key, r.oldest?.key]).toEqual(['runs/b/x/y.bin', 'runs/a/2.pt']);
    expect(r.incompleteUploads.map((u) => u.uploadId)).toEqual(['u1', 'u2']);
    expect(r.cost.usdPerGBMonth).toBe(S3_STANDARD_USD_PER_GB_MONTH);
    expect(r.cost.monthlyUSD).toBeCloseTo(3 * 0.023, 9);
  });

  it('is empty for nothing stored', () => {
    const r = reviewStorage('', [], []);
    expect(r).toMatchObject({ count: 0, totalBytes: 0, byPrefix: [], largest: [], incompleteUploads: [], cost: { monthlyUSD: 0 } });
    expect(r.newest).toBeUndefined();
  });
});
