// The apply lock wired into apply and reconcile: one lease per (output store, project) a run
// touches, taken in sorted order (two runners wanting the same set never deadlock), renewed in the
// background while the run lasts, released at the end. A held lease fails at once or is waited for
// (--lock-timeout); an expired one, or one whose holder process is gone from this host, is taken over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ExitError } from '../core/errors.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { acquireLease, isFree, releaseLease, renewLease, type HeldLease, type LeaseRecord, type LeaseStore } from '../store/lock.js';
import type { Job } from '../spec/types.js';

export interface LockTarget { uri: string; project: string }

/** A lease is renewed every ttl/4: three renewals may fail (a store hiccup) before it lapses. */
export const DEFAULT_LOCK_TTL_MS = 2 * 60_000;
const POLL_MS = 1000;

const targetKey = (t: LockTarget) => `${t.uri}\u0000${t.project}`;

/** The (store, project) pairs of the jobs, once each, in the one order every runner takes them in. */
export function lockTargets(jobs: readonly Job[]): LockTarget[] {
  const seen = new Map<string, LockTarget>();
  for (const j of jobs) {
    const t = { uri: j.spec.output.uri, project: j.project };
    seen.set(targetKey(t), t);
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}

/** `host:pid (trainctl apply)`: who holds a lease, for messages and for the dead-holder check. */
export function holderName(command: string): string {
  return `${hostname()}:${process.pid} (trainctl ${command})`;
}

/** The lease store of an output store URI (both file:// and s3:// stores are one). */
export async function leaseStoreFor(uri: string): Promise<LeaseStore> {
  const { openRunStore } = await import('../store/open.js');
  const store = await openRunStore(uri);
  if ('error' in store) throw new ExitError(store.error, 1, store.hint);
  if (!('createLease' in store)) throw new ExitError(`output store ${uri} cannot hold a lock`, 1, 'use a file:// or s3:// output store');
  return store as unknown as LeaseStore;
}

/** A lease someone else holds, as the one-line error and the hint that names the way out. */
export class LockHeldError extends ExitError {
  constructor(readonly target: LockTarget, readonly lease: LeaseRecord, waitedMs: number, specHint: string) {
    const waited = waitedMs > 0 ? ` (waited ${formatDuration(waitedMs)})` : '';
    super(
      `project ${target.project} is locked by ${lease.holder} since ${lease.acquiredAt}, lock id ${lease.token}${waited}`,
      1,
      `wait for it with --lock-timeout 5m; if that process is gone, \`trainctl force-unlock ${lease.token}${specHint}\` (or wait until ${lease.expiresAt}, when it expires)`,
    );
    this.name = 'LockHeldError';
  }
}

export interface LockOptions {
  /** Who takes it: `apply`, `reconcile`. */
  command: string;
  /** How long to wait for a held lease; 0 fails at once. */
  timeoutMs: number;
  ttlMs?: number;
  /** ` -f jobs/`: how the hint tells force-unlock where the spec is. */
  specHint?: string;
  /** Once per lease that is waited for, and for each expired or abandoned lease taken over. */
  onNotice?(message: string): void;
  /** For tests. */
  now?: () => number;
}

/** TRAINCTL_LOCK_TTL (a duration) shortens or lengthens the lease; the default suits every store. */
export function lockTtlFrom(env: NodeJS.ProcessEnv): number {
  const text = env.TRAINCTL_LOCK_TTL;
  if (!text) return DEFAULT_LOCK_TTL_MS;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new ExitError(`TRAINCTL_LOCK_TTL "${text}" is not a duration of at least 1s`, 1, 'write it like 30s or 2m, or unset it');
  return ms;
}

interface Held { target: LockTarget; store: LeaseStore; lease: HeldLease }

/**
 * The leases a run holds. `lost` names those that were taken from it (expired unrenewed, or
 * force-unlocked): whoever holds them now may launch, so the run must stop launching.
 */
export class ProjectLocks {
  private held: Held[] = [];
  private readonly lostTargets: LockTarget[] = [];
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly ttlMs: number;

  constructor(private readonly opts: LockOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  }

  /** Takes the leases of `jobs`, sorted; on failure releases what it took and throws LockHeldError. */
  static async acquire(jobs: readonly Job[], opts: LockOptions): Promise<ProjectLocks> {
    const locks = new ProjectLocks(opts);
    await locks.sync(jobs);
    return locks;
  }

  get lost(): readonly LockTarget[] {
    return this.lostTargets;
  }

  /** Throws when a lease was lost: nothing may launch under a lease someone else may hold. */
  assertHeld(): void {
    const t = this.lostTargets[0];
    if (t) throw new ExitError(`lost the lock of project ${t.project} in ${t.uri} (it expired unrenewed or was force-unlocked); stopped launching`, 1, 'check that the output store is reachable, and that no one force-unlocked a running apply');
  }

  /**
   * Holds exactly the leases `jobs` need: takes missing ones (and lost ones again), releases those
   * no longer needed. Used once by apply, and before every pass by a controller whose specs change.
   */
  async sync(jobs: readonly Job[]): Promise<void> {
    const want = lockTargets(jobs);
    const wanted = new Set(want.map(targetKey));
    const drop = this.held.filter((h) => !wanted.has(targetKey(h.target)));
    this.held = this.held.filter((h) => wanted.has(targetKey(h.target)));
    await Promise.all(drop.map((h) => releaseLease(h.store, h.lease).catch(() => false)));
    this.lostTargets.splice(0);
    const have = new Set(this.held.map((h) => targetKey(h.target)));
    try {
      for (const target of want) if (!have.has(targetKey(target))) this.held.push(await this.take(target));
    } catch (err) {
      await this.release();
      throw err;
    }
    this.startRenewing();
  }

  private async take(target: LockTarget): Promise<Held> {
    const store = await leaseStoreFor(target.uri);
    const now = this.opts.now ?? Date.now;
    const started = now();
    const holder = holderName(this.opts.command);
    let noticed = false;
    for (;;) {
      const got = await acquireLease(store, target.project, holder, { ttlMs: this.ttlMs, now });
      if (got.acquired) {
        if (got.tookOver) this.opts.onNotice?.(`took over the expired lock of project ${target.project} held by ${got.tookOver.holder} (expired ${got.tookOver.expiresAt})`);
        return { target, store, lease: got.lease };
      }
      const current = await store.readLease(target.project);
      if (current && !isFree(current.lease, now()) && holderIsDeadHere(current.lease.holder)) {
        const taken = await this.takeAbandoned(store, target, holder, current);
        if (taken) return taken;
        continue;
      }
      const waited = now() - started;
      if (!current || isFree(current.lease, now())) continue;
      if (waited >= this.opts.timeoutMs) throw new LockHeldError(target, current.lease, this.opts.timeoutMs > 0 ? waited : 0, this.opts.specHint ?? '');
      if (!noticed) this.opts.onNotice?.(`waiting for the lock of project ${target.project}, held by ${current.lease.holder} since ${current.lease.acquiredAt}`);
      noticed = true;
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(10, this.opts.timeoutMs - waited))));
    }
  }

  /** A lease whose holder was a process on this host that no longer runs (an apply killed with -9). */
  private async takeAbandoned(store: LeaseStore, target: LockTarget, holder: string, current: { lease: LeaseRecord; version: string }): Promise<Held | undefined> {
    const now = (this.opts.now ?? Date.now)();
    const fresh = randomBytes(12).toString('hex');
    const lease: LeaseRecord = { holder, token: fresh, acquiredAt: new Date(now).toISOString(), expiresAt: new Date(now + this.ttlMs).toISOString() };
    // compare-and-swap on the version read: of two runners taking it over, one wins
    const version = await store.replaceLease(target.project, current.version, lease);
    if (version === undefined) return undefined;
    this.opts.onNotice?.(`took over the lock of project ${target.project} from ${current.lease.holder}: that process is no longer running`);
    return { target, store, lease: { project: target.project, holder, token: fresh, acquiredAt: lease.acquiredAt, expiresAt: lease.expiresAt, version } };
  }

  private startRenewing(): void {
    if (this.timer || this.held.length === 0) return;
    this.timer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => { this.renewing = undefined; });
    }, Math.max(250, Math.floor(this.ttlMs / 4)));
    // a run that has finished must not be kept alive by its lease
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    await Promise.all(this.held.map(async (h) => {
      let next: HeldLease | undefined;
      try {
        next = await renewLease(h.store, h.lease, { ttlMs: this.ttlMs, ...(this.opts.now ? { now: this.opts.now } : {}) });
      } catch {
        // the store did not answer: try again next tick; the lease lapses only after ttl
        return;
      }
      if (next) h.lease = next;
      else if (!this.lostTargets.some((t) => targetKey(t) === targetKey(h.target))) this.lostTargets.push(h.target);
    }));
    const lost = new Set(this.lostTargets.map(targetKey));
    this.held = this.held.filter((h) => !lost.has(targetKey(h.target)));
  }

  /** Releases every lease still held; a store that does not answer leaves its lease to expire. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    const held = this.held.splice(0);
    await Promise.all(held.map((h) => releaseLease(h.store, h.lease).catch(() => false)));
  }
}

/**
 * Whether a holder name (`host:pid (…)`) is a process of this host that no longer runs. Only a pid
 * that is certainly gone counts: a reused pid looks alive, and then the lease is waited out.
 */
export function holderIsDeadHere(holder: string): boolean {
  const m = /^(.+):(\d+) \(/.exec(holder);
  if (!m || m[1] !== hostname() || Number(m[2]) === process.pid) return false;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A `--lock-timeout` value: a duration or 0. */
export function parseLockTimeout(text: string | undefined): number {
  if (text === undefined || text === '0') return 0;
  const ms = parseDuration(text);
  if (ms === undefined) throw new ExitError(`--lock-timeout "${text}" is not a duration`, 1, 'write it like 30s or 5m (0, the default, fails at once when the project is locked)');
  return ms;
}

export interface CliLockOptions {
  command: string;
  lockTimeout: string | undefined;
  env: NodeJS.ProcessEnv;
  inputs: readonly string[];
  onNotice(message: string): void;
}

/** A CLI run's (not yet taken) leases: `--lock-timeout` parsed, the hint naming its specs. */
export function cliLocks(o: CliLockOptions): ProjectLocks {
  const specHint = o.inputs.map((i) => ` -f ${/^[\w./@:-]+$/.test(i) ? i : JSON.stringify(i)}`).join('');
  return new ProjectLocks({ command: o.command, timeoutMs: parseLockTimeout(o.lockTimeout), ttlMs: lockTtlFrom(o.env), specHint, onNotice: o.onNotice });
}

/** Takes the leases of `jobs` for a CLI run; notices (waiting, taking over) on stderr. */
export async function takeLocks(jobs: readonly Job[], o: Omit<CliLockOptions, 'onNotice'> & { stderr: NodeJS.WritableStream }): Promise<ProjectLocks> {
  const locks = cliLocks({ ...o, onNotice: (m) => o.stderr.write(`${m}\n`) });
  await locks.sync(jobs);
  return locks;
}
