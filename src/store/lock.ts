// The apply lock of DESIGN §4 (`<uri>/<project>/.lock`) as a lease: one holder at a time, until
// it releases or its lease expires unrenewed (a killed apply never blocks the project for long).
// Every change is a compare-and-swap on the stored lease, so two appliers racing to acquire or to
// take over an expired lease cannot both win. Times are the acquirer's clock: keep ttls far above
// the clock skew between machines that share a store.
import { randomBytes } from 'node:crypto';

/** `.lock` as stored. */
export interface LeaseRecord {
  /** Who holds it, for messages: e.g. `host:pid (trainctl apply)`. */
  holder: string;
  /** Unique per acquisition; renewals keep it. */
  token: string;
  acquiredAt: string;
  expiresAt: string;
  /** Released by its holder: free to take at once. */
  released?: boolean;
}

/**
 * Where a project's lease lives, with the three operations a lease needs: exclusive create
 * (S3: PutObject If-None-Match: *; file: link(2) of a complete temp file) and compare-and-swap
 * replace (S3: If-Match on the ETag; file: a short-lived O_EXCL guard around read-compare-rename).
 * `version` is opaque to callers.
 */
export interface LeaseStore {
  readonly uri: string;
  readLease(project: string): Promise<{ lease: LeaseRecord; version: string } | undefined>;
  /** The new version, or undefined when a lease already exists. */
  createLease(project: string, lease: LeaseRecord): Promise<string | undefined>;
  /** The new version, or undefined when the lease is no longer at `version`. */
  replaceLease(project: string, version: string, lease: LeaseRecord): Promise<string | undefined>;
}

/** A lease this process holds. */
export interface HeldLease {
  project: string;
  holder: string;
  token: string;
  acquiredAt: string;
  expiresAt: string;
  version: string;
}

export type AcquireOutcome =
  | { acquired: true; lease: HeldLease; /** The expired lease that was taken over. */ tookOver?: { holder: string; expiresAt: string } }
  | { acquired: false; holder: string; expiresAt: string };

export interface LeaseOptions {
  ttlMs: number;
  now?: () => number;
}

/** A lease that no longer binds anyone. */
export function isFree(lease: LeaseRecord, now: number): boolean {
  return lease.released === true || !(Date.parse(lease.expiresAt) > now);
}

/** Bounded: each lost race means someone else changed the lease, which settles quickly. */
const MAX_ROUNDS = 5;

export async function acquireLease(store: LeaseStore, project: string, holder: string, opts: LeaseOptions): Promise<AcquireOutcome> {
  const now = opts.now ?? Date.now;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const t = now();
    const fresh: LeaseRecord = {
      holder, token: randomBytes(12).toString('hex'), acquiredAt: new Date(t).toISOString(), expiresAt: new Date(t + opts.ttlMs).toISOString(),
    };
    const held = (version: string): HeldLease => ({ project, holder, token: fresh.token, acquiredAt: fresh.acquiredAt, expiresAt: fresh.expiresAt, version });
    const current = await store.readLease(project);
    if (!current) {
      const version = await store.createLease(project, fresh);
      if (version !== undefined) return { acquired: true, lease: held(version) };
      continue;
    }
    if (!isFree(current.lease, t)) return { acquired: false, holder: current.lease.holder, expiresAt: current.lease.expiresAt };
    const version = await store.replaceLease(project, current.version, fresh);
    if (version !== undefined) {
      return { acquired: true, lease: held(version), ...(current.lease.released ? {} : { tookOver: { holder: current.lease.holder, expiresAt: current.lease.expiresAt } }) };
    }
  }
  const last = await store.readLease(project);
  return { acquired: false, holder: last?.lease.holder ?? 'another process', expiresAt: last?.lease.expiresAt ?? new Date(now()).toISOString() };
}

/**
 * Extends the lease by ttl from now. Undefined when it was lost (taken over after it expired, or
 * released): the caller must stop doing what the lease guarded.
 */
export async function renewLease(store: LeaseStore, held: HeldLease, opts: LeaseOptions): Promise<HeldLease | undefined> {
  const now = opts.now ?? Date.now;
  const current = await store.readLease(held.project);
  if (!current || current.lease.token !== held.token || current.lease.released) return undefined;
  const expiresAt = new Date(now() + opts.ttlMs).toISOString();
  const version = await store.replaceLease(held.project, current.version, { ...current.lease, expiresAt });
  return version === undefined ? undefined : { ...held, expiresAt, version };
}

/**
 * Gives the lease up. The record stays, marked released (a conditional write; a delete could not
 * be made conditional on every server), so the next acquire takes it at once. False when it was
 * no longer ours.
 */
export async function releaseLease(store: LeaseStore, held: HeldLease): Promise<boolean> {
  const current = await store.readLease(held.project);
  if (!current || current.lease.token !== held.token || current.lease.released) return false;
  return (await store.replaceLease(held.project, current.version, { ...current.lease, released: true })) !== undefined;
}

/** Parses a stored lease; undefined when it is not one. */
export function parseLease(text: string): LeaseRecord | undefined {
  try {
    const v = JSON.parse(text) as LeaseRecord;
    if (v && typeof v.holder === 'string' && typeof v.token === 'string' && typeof v.expiresAt === 'string' && typeof v.acquiredAt === 'string') return v;
  } catch {
    // fall through
  }
  return undefined;
}
