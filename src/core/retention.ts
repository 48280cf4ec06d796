// Keep-last-N retention: which checkpoints a cleanup deletes, from a listing already made. Pure:
// the CLI lists once, this decides, the CLI shows the decision and deletes exactly that.
import { globToRegExp } from './glob.js';

/** One checkpoint as a cleanup sees it: a store step dir, a group of files, an S3 "directory". */
export interface RetentionItem {
  /** Name relative to the cleaned location: `120`, `step-000050.pt`, `checkpoint-500`. */
  name: string;
  step?: number;
  /** Newest modification time of its files, ms since the epoch. */
  modifiedMs: number;
  size: number;
  /** Store layout only: whether MANIFEST.json is there. Undefined for plain files. */
  complete?: boolean;
}

export interface RetentionOptions {
  keepLastN: number;
  /** Only items whose name matches are considered; the rest are left alone and not counted. */
  pattern?: string;
  /** Only items last modified at least this long ago are deleted. */
  olderThanMs?: number;
  now: number;
  /** Never deleted: LATEST's target. */
  protect?: ReadonlySet<string>;
}

export type RetentionReason =
  | 'newest'        // keep: among the newest N
  | 'latest'        // keep: LATEST points at it
  | 'recent'        // keep: modified more recently than --older-than
  | 'in-progress'   // keep: incomplete and newer than every complete checkpoint (may be uploading)
  | 'unmatched'     // keep: not matched by --pattern
  | 'no-step'       // keep: no step number where the others have one (LATEST, notes, logs)
  | 'older'         // delete: older than the newest N
  | 'incomplete';   // delete: no MANIFEST, and a newer complete checkpoint exists

export interface RetentionDecision<T extends RetentionItem = RetentionItem> {
  item: T;
  action: 'keep' | 'delete';
  reason: RetentionReason;
}

export interface RetentionPlan<T extends RetentionItem = RetentionItem> {
  /** Every item, newest first (items that cannot be ordered last). */
  decisions: RetentionDecision<T>[];
  /** What orders the candidates: step numbers when every candidate has one, else modification time. */
  orderedBy: 'step' | 'time';
  deleteCount: number;
  deleteBytes: number;
}

export const RETENTION_REASON_TEXT: Record<RetentionReason, string> = {
  newest: 'among the newest kept',
  latest: 'LATEST points at it',
  recent: 'newer than --older-than',
  'in-progress': 'incomplete, newer than every complete checkpoint (may still be uploading)',
  unmatched: 'does not match --pattern',
  'no-step': 'no step number in its name',
  older: 'older than the newest kept',
  incomplete: 'incomplete (no MANIFEST.json) and superseded',
};

/**
 * Decides a keep-last-N cleanup. Incomplete checkpoints (store layout) are not counted among the
 * N; one older than the newest complete checkpoint is a leftover and goes, a newer one may still
 * be uploading and stays. LATEST's target always stays.
 */
export function planRetention<T extends RetentionItem>(items: readonly T[], opts: RetentionOptions): RetentionPlan<T> {
  if (!Number.isSafeInteger(opts.keepLastN) || opts.keepLastN < 1) throw new Error(`bug: keepLastN must be ≥ 1, got ${opts.keepLastN}`);
  const re = opts.pattern === undefined ? undefined : globToRegExp(opts.pattern);
  const decisions = new Map<T, RetentionDecision<T>>();
  const keep = (item: T, reason: RetentionReason) => decisions.set(item, { item, action: 'keep', reason });
  const remove = (item: T, reason: RetentionReason) => decisions.set(item, { item, action: 'delete', reason });

  const matching = items.filter((i) => (re ? re.test(i.name) : true));
  for (const i of items) if (!matching.includes(i)) keep(i, 'unmatched');
  const anyStep = matching.some((i) => i.step !== undefined);
  const orderedBy: 'step' | 'time' = anyStep ? 'step' : 'time';
  const candidates = anyStep ? matching.filter((i) => i.step !== undefined) : [...matching];
  for (const i of matching) if (!candidates.includes(i)) keep(i, 'no-step');
  const newestFirst = (a: T, b: T) => (orderedBy === 'step' ? b.step! - a.step! : b.modifiedMs - a.modifiedMs) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);
  candidates.sort(newestFirst);

  const tooRecent = (i: T) => opts.olderThanMs !== undefined && opts.now - i.modifiedMs < opts.olderThanMs;
  const complete = candidates.filter((i) => i.complete !== false);
  const newestComplete = complete[0];
  let kept = 0;
  for (const i of candidates) {
    if (opts.protect?.has(i.name)) {
      keep(i, 'latest');
      if (i.complete !== false) kept++;
      continue;
    }
    if (i.complete === false) {
      const superseded = newestComplete !== undefined && newestFirst(i, newestComplete) > 0;
      if (!superseded) keep(i, 'in-progress');
      else if (tooRecent(i)) keep(i, 'recent');
      else remove(i, 'incomplete');
      continue;
    }
    if (kept < opts.keepLastN) {
      keep(i, 'newest');
      kept++;
    } else if (tooRecent(i)) {
      keep(i, 'recent');
    } else {
      remove(i, 'older');
    }
  }

  const ordered = [...candidates, ...items.filter((i) => !candidates.includes(i))].map((i) => decisions.get(i)!);
  const deleted = ordered.filter((d) => d.action === 'delete');
  return { decisions: ordered, orderedBy, deleteCount: deleted.length, deleteBytes: deleted.reduce((s, d) => s + d.item.size, 0) };
}
