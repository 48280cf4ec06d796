// The s3:// store: the layout of DESIGN §4 under s3://bucket/prefix/, as on file://, with what
// S3 lacks done another way:
// - No append. A log or metrics stream is a sequence of segment objects
//   (`metrics/<writer>-<n>.jsonl`, `attempts/<a>/logs/<rank>/<writer>-<n>.log`), read back in key
//   order. A writer rewrites its open segment whole on each flush (at most one PUT per stream every
//   `appendIntervalMs`; appends in between ride along) and seals it at `segmentBytes` or after
//   `segmentWrites` rewrites. One object per flush would make thousands of objects per trial,
//   which every listing (readRecords!) pays for; rewriting one object forever would re-upload the
//   whole log on every flush. Sealing bounds both: a stream costs at most one PUT per interval, at
//   most `segmentBytes` per PUT, and about one object per MiB or per `segmentWrites` flushes.
// - No O_EXCL. Claims and the apply lease are conditional PUTs (If-None-Match: *; the lease's
//   compare-and-swap is If-Match on the ETag). radosgw (Ceph 16) honours both on PutObject — tested
//   in test/store/s3-store.test.ts — but compares If-Match against the bare ETag, so a quoted ETag
//   that fails is retried bare once the object is seen to still carry it.
// - Checkpoint files go through the transfer engine (multipart, verified); a file whose sha256 an
//   earlier complete checkpoint of the trial holds is not uploaded again: its manifest entry points
//   at that object. `checkpoint.compress` is applied per file when it saves at least 10%.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapBounded } from '../core/bounded.js';
import { parseMetricPoint } from '../core/metrics.js';
import type { AttemptRecord, TrialRecord } from '../core/observed.js';
import {
  deleteObjects, downloadObject, headObject, listObjects, parseS3Uri, toTransferError, TransferError, uploadFile,
  type ObjectInfo, type TransferOptions,
} from '../transfer/index.js';
import { parseLease, type LeaseRecord, type LeaseStore } from './lock.js';
import {
  assertManifestSafe, checkpointGarbage, compressIfWorthIt, copyDecodingHashing, defaultObject, encodingFor, ENCODING_SUFFIX, hashFile, isSafeObject, isSafeRelative, objectOf, parseManifest,
} from './manifest.js';
import {
  CheckpointError, checkComponents, recordJson as json, type CheckpointFile, type CheckpointManifest, type MetricPoint, type PutCheckpointOptions, type RunStore,
  type TrialRef, type TrialResult, type TrialSpecRecord,
} from './store.js';

export interface S3StoreOptions {
  /** Shortest time between two PUTs of one log or metrics stream. Default 2 s. */
  appendIntervalMs?: number;
  /** An open segment is sealed once it holds this many bytes. Default 1 MiB. */
  segmentBytes?: number;
  /** …or once it has been written this many times. Default 150. */
  segmentWrites?: number;
  /** Small-object requests in flight at once (records, manifests). Default 32. */
  concurrency?: number;
  /** For checkpoint file transfers (concurrency, part size, verify). */
  transfer?: TransferOptions;
  /** Shown when the endpoint cannot be reached; never holds credentials. */
  endpoint?: string;
}

const DEFAULTS = { appendIntervalMs: 2000, segmentBytes: 1 << 20, segmentWrites: 150, concurrency: 64 };

/** What one listing of a trial prefix says, before any GET. */
interface TrialKeys {
  job: string;
  trial: string;
  spec: boolean;
  result: boolean;
  latest: boolean;
  attempts: number[];
  manifests: Set<number>;
}

export class S3Store implements RunStore, LeaseStore {
  readonly bucket: string;
  /** Key prefix of the store: '' or ending in '/'. */
  readonly base: string;
  private readonly opts: typeof DEFAULTS & Pick<S3StoreOptions, 'transfer' | 'endpoint'>;
  private readonly streams = new Map<string, SegmentWriter>();

  constructor(readonly uri: string, readonly client: S3Client, opts: S3StoreOptions = {}) {
    const loc = parseS3Uri(uri);
    if ('error' in loc) throw new Error(loc.error);
    this.bucket = loc.bucket;
    this.base = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
    this.opts = { ...DEFAULTS, ...opts };
  }

  // ---- reading records ----

  async readRecords(project: string): Promise<TrialRecord[]> {
    checkComponents([project]);
    const prefix = `${this.base}${project}/`;
    const trials = new Map<string, TrialKeys>();
    for (const o of await this.list(prefix)) {
      const parts = o.key.slice(prefix.length).split('/');
      if (parts.length < 3) continue;
      const [job, trial] = parts as [string, string];
      if (job.startsWith('.') || trial.startsWith('.')) continue;
      const id = `${job}/${trial}`;
      let t = trials.get(id);
      if (!t) trials.set(id, (t = { job, trial, spec: false, result: false, latest: false, attempts: [], manifests: new Set() }));
      noteKey(t, parts.slice(2));
    }
    const sorted = [...trials.values()].sort((a, b) => cmp(a.job, b.job) || cmp(a.trial, b.trial));
    const recs = await mapBounded(sorted, this.opts.concurrency, (t) => this.assembleTrial({ project, job: t.job, trial: t.trial }, t));
    return recs.filter((r): r is TrialRecord => r !== undefined);
  }

  async readTrial(ref: TrialRef): Promise<TrialRecord | undefined> {
    const prefix = this.trialKey(ref, '');
    const t: TrialKeys = { job: ref.job, trial: ref.trial, spec: false, result: false, latest: false, attempts: [], manifests: new Set() };
    for (const o of await this.list(prefix)) noteKey(t, o.key.slice(prefix.length).split('/'));
    return this.assembleTrial(ref, t);
  }

  /** GETs only the small records the listing says exist, in parallel, and builds the record as file:// does. */
  private async assembleTrial(ref: TrialRef, t: TrialKeys): Promise<TrialRecord | undefined> {
    if (!t.spec) return undefined;
    const [spec, result, latest, ...statuses] = await Promise.all([
      this.getJson<{ specHash?: string }>(this.trialKey(ref, 'spec.json')),
      t.result ? this.getJson<TrialRecord['result']>(this.trialKey(ref, 'result.json')) : undefined,
      t.latest && t.manifests.size > 0 ? this.getText(this.trialKey(ref, 'checkpoints/LATEST')) : undefined,
      ...t.attempts.map((n) => this.getJson<AttemptRecord>(this.trialKey(ref, `attempts/${n}/status.json`))),
    ]);
    if (!spec?.specHash) return undefined;
    const attempts = statuses.flatMap((a) => (a && Number.isInteger(a.n) ? [{ ...a, costUSD: a.costUSD ?? 0 }] : []));
    attempts.sort((a, b) => a.n - b.n);
    const rec: TrialRecord = { project: ref.project, job: ref.job, trial: ref.trial, specHash: spec.specHash, attempts };
    if (result?.state) rec.result = result;
    const step = latest?.trim();
    // a checkpoint counts only with its MANIFEST, which is written last
    if (step && /^\d+$/.test(step) && t.manifests.has(Number(step))) rec.checkpoint = { step: Number(step) };
    return rec;
  }

  /** result.json in full, or undefined. */
  async readResult(ref: TrialRef): Promise<TrialResult | undefined> {
    const r = await this.getJson<TrialResult>(this.trialKey(ref, 'result.json'));
    return r?.state ? r : undefined;
  }

  // ---- claims and records ----

  async claimAttempt(ref: TrialRef, attempt: number, rank: number, holder: string): Promise<boolean> {
    const key = this.trialKey(ref, `attempts/${attempt}/claim-rank${rank}`);
    const token = randomBytes(12).toString('hex');
    try {
      await this.send('claim', key, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: `${holder}\n`, IfNoneMatch: '*', Metadata: { 'claim-token': token } })));
      return true;
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      // the SDK may have retried a PUT whose first try landed: then the claim is ours
      const head = await headObject(this.client, { bucket: this.bucket, key });
      return head?.metadata['claim-token'] === token;
    }
  }

  async noteInterruption(ref: TrialRef, attempt: number, rank: number): Promise<void> {
    const key = this.trialKey(ref, `attempts/${attempt}/interrupt-rank${rank}`);
    await this.send('note interruption', key, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: `${new Date().toISOString()}\n` })));
  }

  async interruptedRanks(ref: TrialRef, attempt: number): Promise<number[]> {
    const prefix = this.trialKey(ref, `attempts/${attempt}/interrupt-rank`);
    return (await this.list(prefix)).flatMap((o) => /^(\d+)$/.exec(o.key.slice(prefix.length))?.[1] ?? []).map(Number).sort((a, b) => a - b);
  }

  async writeSpec(ref: TrialRef, spec: TrialSpecRecord): Promise<void> {
    await this.putText(this.trialKey(ref, 'spec.json'), json(spec));
  }

  async writeStatus(ref: TrialRef, status: AttemptRecord & Record<string, unknown>): Promise<void> {
    await this.putText(this.trialKey(ref, `attempts/${status.n}/status.json`), json(status));
  }

  async writeResult(ref: TrialRef, result: TrialResult): Promise<void> {
    await this.putText(this.trialKey(ref, 'result.json'), json(result));
  }

  // ---- appends ----

  async appendMetrics(ref: TrialRef, jsonLines: string): Promise<void> {
    await this.stream(this.trialKey(ref, 'metrics/'), '.jsonl').append(Buffer.from(jsonLines));
  }

  async readMetrics(ref: TrialRef): Promise<MetricPoint[]> {
    const text = (await this.readSegments(this.trialKey(ref, 'metrics/'), 0))?.toString('utf8') ?? '';
    return text.split('\n').flatMap((line) => parseMetricPoint(line) ?? []);
  }

  /** The last metric points of the trial: only the newest segment is read. */
  async readRecentMetrics(ref: TrialRef): Promise<MetricPoint[]> {
    const segs = (await this.list(this.trialKey(ref, 'metrics/'))).sort((a, b) => cmp(a.key, b.key));
    const last = segs.at(-1);
    if (!last) return [];
    const text = (await this.getBytes(last.key))?.toString('utf8') ?? '';
    return text.split('\n').flatMap((line) => parseMetricPoint(line) ?? []);
  }

  async appendLog(ref: TrialRef, attempt: number, rank: number, chunk: string | Uint8Array): Promise<void> {
    await this.stream(this.logPrefix(ref, attempt, rank), '.log').append(Buffer.from(chunk));
  }

  async readLog(ref: TrialRef, attempt: number, rank: number, fromOffset = 0): Promise<Buffer | undefined> {
    return this.readSegments(this.logPrefix(ref, attempt, rank), fromOffset);
  }

  private logPrefix(ref: TrialRef, attempt: number, rank: number): string {
    if (!Number.isSafeInteger(attempt) || !Number.isSafeInteger(rank)) throw new Error(`bug: invalid attempt ${attempt} or rank ${rank}`);
    return this.trialKey(ref, `attempts/${attempt}/logs/${rank}/`);
  }

  private stream(prefix: string, suffix: string): SegmentWriter {
    let s = this.streams.get(prefix);
    if (!s) this.streams.set(prefix, (s = new SegmentWriter(prefix, suffix, (key, body) => this.putBytes(key, body), this.opts)));
    return s;
  }

  /**
   * A stream's bytes from `from` on: sealed segments have their final size in the listing, so only
   * those reaching past `from` are read (the first one ranged); the last may have grown since it
   * was listed, and is read whole. Undefined when the stream has no segment.
   */
  private async readSegments(prefix: string, from: number): Promise<Buffer | undefined> {
    const segs = (await this.list(prefix)).sort((a, b) => cmp(a.key, b.key));
    if (segs.length === 0) return undefined;
    let offset = 0;
    const wanted: { key: string; skip: number }[] = [];
    segs.forEach((s, i) => {
      const end = offset + s.size;
      if (end > from || i === segs.length - 1) wanted.push({ key: s.key, skip: Math.max(0, from - offset) });
      offset = end;
    });
    const bodies = await mapBounded(wanted, this.opts.concurrency, (w) => this.getBytes(w.key, w.skip));
    return Buffer.concat(bodies.map((b) => b ?? Buffer.alloc(0)));
  }

  // ---- checkpoints ----

  async putCheckpoint(ref: TrialRef, step: number, attempt: number, localDir: string, files: readonly string[], opts: PutCheckpointOptions = {}): Promise<CheckpointManifest> {
    const dir = this.checkpointPrefix(ref, step);
    for (const f of files) if (!isSafeRelative(f)) throw new CheckpointError(`refusing checkpoint file path ${JSON.stringify(f)}: not inside the checkpoint dir`);
    const manifests = await this.completeCheckpoints(ref);
    // re-putting a step: it stops being complete until its new MANIFEST lands
    if (manifests.has(step)) await this.deleteKey(`${dir}MANIFEST.json`);
    // sha256 → where an earlier complete checkpoint of this trial holds those bytes
    const held = new Map<string, { object: string; encoding?: CheckpointFile['encoding'] }>();
    const referencedElsewhere = new Map<string, string>();
    for (const m of manifests.values()) {
      for (const f of m.files) {
        const object = objectOf(m.step, f);
        if (!isSafeObject(object)) continue;
        held.set(`${f.sha256}:${f.size}`, { object, ...(f.encoding ? { encoding: f.encoding } : {}) });
        if (m.step !== step) referencedElsewhere.set(object, f.sha256);
      }
    }
    const encoding = encodingFor(opts.compress);
    const names = new Set(files);
    const entries = await mapBounded(files, 4, async (f): Promise<CheckpointFile> => {
      const local = join(localDir, f);
      const { size, sha256 } = await hashFile(local);
      const entry: CheckpointFile = { path: f, size, sha256 };
      const have = held.get(`${sha256}:${size}`);
      if (have && (await this.exists(this.trialKey(ref, have.object)))) {
        if (have.object !== defaultObject(step, f)) entry.object = have.object;
        if (have.encoding) entry.encoding = have.encoding;
        return entry;
      }
      let object = defaultObject(step, f);
      let upload = local;
      let tmp: string | undefined;
      try {
        if (encoding && !names.has(`${f}${ENCODING_SUFFIX[encoding]}`)) {
          tmp = join(dirname(local), `.${f.split('/').pop()!}.trainctl-${randomBytes(6).toString('hex')}${ENCODING_SUFFIX[encoding]}`);
          if ((await compressIfWorthIt(local, tmp, encoding)) !== undefined) {
            object = `${object}${ENCODING_SUFFIX[encoding]}`;
            upload = tmp;
            entry.encoding = encoding;
          }
        }
        // never overwrite bytes another complete checkpoint still points at
        const other = referencedElsewhere.get(object);
        if (other !== undefined && other !== sha256) object = `checkpoints/${step}/.v-${sha256.slice(0, 16)}/${object.slice(`checkpoints/${step}/`.length)}`;
        if (object !== defaultObject(step, f)) entry.object = object;
        await uploadFile(this.client, upload, { bucket: this.bucket, key: this.trialKey(ref, object) }, { ...this.opts.transfer, resumeDir: false });
      } finally {
        if (tmp) await rm(tmp, { force: true });
      }
      return entry;
    });
    const manifest: CheckpointManifest = { step, createdAt: new Date().toISOString(), attempt, files: entries };
    await this.putText(`${dir}MANIFEST.json`, json(manifest));
    await this.putText(this.trialKey(ref, 'checkpoints/LATEST'), `${step}\n`);
    return manifest;
  }

  async listCheckpoints(ref: TrialRef): Promise<number[]> {
    return [...(await this.completeCheckpoints(ref)).keys()].sort((a, b) => a - b);
  }

  /** Every complete checkpoint of the trial: a MANIFEST that parses. */
  private async completeCheckpoints(ref: TrialRef): Promise<Map<number, CheckpointManifest>> {
    const prefix = this.trialKey(ref, 'checkpoints/');
    const steps = (await this.list(prefix)).flatMap((o) => {
      const m = /^(\d+)\/MANIFEST\.json$/.exec(o.key.slice(prefix.length));
      return m ? [Number(m[1])] : [];
    });
    const manifests = await mapBounded(steps, this.opts.concurrency, async (s) => parseManifest(await this.getText(`${prefix}${s}/MANIFEST.json`)));
    const out = new Map<number, CheckpointManifest>();
    steps.forEach((s, i) => {
      const m = manifests[i];
      if (m) out.set(s, { ...m, step: s });
    });
    return out;
  }

  async deleteCheckpoint(ref: TrialRef, step: number): Promise<void> {
    const dir = this.checkpointPrefix(ref, step);
    const all = await this.completeCheckpoints(ref);
    const deleted = all.get(step);
    all.delete(step);
    // MANIFEST first: a checkpoint half-deleted by a crash is then merely incomplete
    await this.deleteKey(`${dir}MANIFEST.json`);
    const trialPrefix = this.trialKey(ref, '');
    const under = (await this.list(dir)).map((o) => o.key.slice(trialPrefix.length));
    const garbage = checkpointGarbage(step, deleted, [...all.values()], under).filter(isSafeObject);
    if (garbage.length > 0) {
      const res = await deleteObjects(this.client, this.bucket, garbage.map((k) => `${trialPrefix}${k}`));
      if (res.failed.length > 0) throw new TransferError('other', `output store ${this.uri}: ${res.failed[0]!.message}`);
    }
    const latestKey = this.trialKey(ref, 'checkpoints/LATEST');
    if ((await this.getText(latestKey))?.trim() !== String(step)) return;
    const newest = [...all.keys()].sort((a, b) => a - b).at(-1);
    if (newest === undefined) await this.deleteKey(latestKey);
    else await this.putText(latestKey, `${newest}\n`);
  }

  async fetchCheckpoint(ref: TrialRef, step: number, destDir: string): Promise<CheckpointManifest> {
    const dir = this.checkpointPrefix(ref, step);
    const found = parseManifest(await this.getText(`${dir}MANIFEST.json`));
    if (!found) throw new CheckpointError(`checkpoint ${step} of ${ref.trial} is incomplete: no valid MANIFEST.json`);
    const manifest = found;
    assertManifestSafe(manifest, ref, step, destDir);
    const root = resolve(destDir);
    // every file is downloaded and verified before any replaces what destDir holds
    const staged: { tmp: string; dest: string; raw?: string }[] = [];
    try {
      await mapBounded(manifest.files, 4, async (f) => {
        const dest = join(root, f.path);
        await mkdir(dirname(dest), { recursive: true });
        const tag = randomBytes(6).toString('hex');
        const s = { dest, tmp: join(dirname(dest), `.${relative(dirname(dest), dest)}.tmp-${tag}`), raw: join(dirname(dest), `.${relative(dirname(dest), dest)}.raw-${tag}`) };
        staged.push(s);
        try {
          await downloadObject(this.client, { bucket: this.bucket, key: this.trialKey(ref, objectOf(step, f)) }, s.raw, this.opts.transfer);
        } catch (err) {
          if (err instanceof TransferError && err.kind === 'not-found') throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path} is missing`);
          throw err;
        }
        let got: { size: number; sha256: string };
        try {
          got = await copyDecodingHashing(s.raw, s.tmp, f.encoding);
        } catch (err) {
          if (err instanceof CheckpointError) throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path}: ${err.message}`);
          throw err;
        }
        if (got.size !== f.size || got.sha256 !== f.sha256) {
          throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: ${f.path} does not match its MANIFEST (sha256 ${got.sha256.slice(0, 12)}…, expected ${f.sha256.slice(0, 12)}…)`);
        }
      });
      for (const s of staged) await rename(s.tmp, s.dest);
    } finally {
      await Promise.all(staged.flatMap((s) => [rm(s.tmp, { force: true }), rm(s.raw!, { force: true })]));
    }
    return manifest;
  }

  // ---- the apply lease ----

  async readLease(project: string): Promise<{ lease: LeaseRecord; version: string } | undefined> {
    const key = this.leaseKey(project);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await out.Body!.transformToString('utf8');
      return { lease: parseLease(text) ?? DAMAGED_LEASE, version: out.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.failure(err, 'read the apply lock', key);
    }
  }

  async createLease(project: string, lease: LeaseRecord): Promise<string | undefined> {
    const key = this.leaseKey(project);
    try {
      const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: json(lease), ContentType: 'application/json', IfNoneMatch: '*' }));
      return out.ETag ?? (await headObject(this.client, { bucket: this.bucket, key }))?.etag ?? '';
    } catch (err) {
      if (isPreconditionFailed(err)) return undefined;
      throw this.failure(err, 'create the apply lock', key);
    }
  }

  async replaceLease(project: string, version: string, lease: LeaseRecord): Promise<string | undefined> {
    const key = this.leaseKey(project);
    const put = (ifMatch: string) => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: json(lease), ContentType: 'application/json', IfMatch: ifMatch }));
    try {
      return (await put(version)).ETag ?? '';
    } catch (err) {
      if (!isPreconditionFailed(err)) throw this.failure(err, 'update the apply lock', key);
    }
    // radosgw 16 compares If-Match with the ETag without its quotes: when the lease still carries
    // the ETag we were given, say it bare
    const bare = version.replace(/^"|"$/g, '');
    const head = await headObject(this.client, { bucket: this.bucket, key });
    if (!head || head.etag !== bare || bare === version) return undefined;
    try {
      return (await put(bare)).ETag ?? '';
    } catch (err) {
      if (isPreconditionFailed(err)) return undefined;
      throw this.failure(err, 'update the apply lock', key);
    }
  }

  private leaseKey(project: string): string {
    checkComponents([project]);
    return `${this.base}${project}/.lock`;
  }

  // ---- keys and requests ----

  private trialKey(ref: TrialRef, rel: string): string {
    checkComponents([ref.project, ref.job, ref.trial]);
    return `${this.base}${ref.project}/${ref.job}/${ref.trial}/${rel}`;
  }

  private checkpointPrefix(ref: TrialRef, step: number): string {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`bug: invalid checkpoint step ${step}`);
    return this.trialKey(ref, `checkpoints/${step}/`);
  }

  /** Every object under a prefix; a store error (no bucket, no access, no endpoint) names the store. */
  private async list(prefix: string, parallel = 1): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    try {
      for await (const o of listObjects(this.client, { bucket: this.bucket, key: prefix }, { parallel })) out.push(o);
    } catch (err) {
      throw this.failure(err, 'list', prefix);
    }
    return out;
  }

  private async exists(key: string): Promise<boolean> {
    try {
      return (await headObject(this.client, { bucket: this.bucket, key })) !== undefined;
    } catch (err) {
      throw this.failure(err, 'read', key);
    }
  }

  private async getBytes(key: string, skip = 0): Promise<Buffer | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(skip > 0 ? { Range: `bytes=${skip}-` } : {}) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // a range starting at the end of the object: nothing new
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416 || (err as Error).name === 'InvalidRange') return Buffer.alloc(0);
      throw this.failure(err, 'read', key);
    }
  }

  private async getText(key: string): Promise<string | undefined> {
    return (await this.getBytes(key))?.toString('utf8');
  }

  private async getJson<T>(key: string): Promise<T | undefined> {
    const text = await this.getText(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }

  private async putBytes(key: string, body: Buffer | string, contentType?: string): Promise<void> {
    await this.send('write', key, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ...(contentType ? { ContentType: contentType } : {}) })));
  }

  private async putText(key: string, text: string): Promise<void> {
    await this.putBytes(key, text, key.endsWith('.json') ? 'application/json' : 'text/plain');
  }

  private async deleteKey(key: string): Promise<void> {
    await this.send('delete', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  private async send<T>(action: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isPreconditionFailed(err)) throw err;
      throw this.failure(err, action, key);
    }
  }

  /** One line naming the store and what failed, with a hint; never a credential. */
  private failure(err: unknown, action: string, key: string): TransferError {
    const t = err instanceof TransferError ? err : toTransferError(err, { bucket: this.bucket, key, action, ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}) });
    if (t.message.startsWith(`output store ${this.uri}`)) return t;
    return new TransferError(t.kind, `output store ${this.uri}: ${t.message}`, t.hint);
  }
}

/** A `.lock` that is not a lease (damaged by hand): free, so the next acquire replaces it. */
const DAMAGED_LEASE: LeaseRecord = { holder: 'a damaged lease', token: '', acquiredAt: new Date(0).toISOString(), expiresAt: new Date(0).toISOString() };

/** Files the trial listing shows, keyed by their path under the trial prefix. */
function noteKey(t: TrialKeys, rest: string[]): void {
  const path = rest.join('/');
  if (path === 'spec.json') t.spec = true;
  else if (path === 'result.json') t.result = true;
  else if (path === 'checkpoints/LATEST') t.latest = true;
  else if (rest.length === 3 && rest[0] === 'attempts' && rest[2] === 'status.json' && /^\d+$/.test(rest[1]!)) t.attempts.push(Number(rest[1]));
  else if (rest.length === 3 && rest[0] === 'checkpoints' && rest[2] === 'MANIFEST.json' && /^\d+$/.test(rest[1]!)) t.manifests.add(Number(rest[1]));
}

/**
 * One writer's side of an append stream: the open segment is rewritten whole on each flush,
 * sealed (never written again) at a size or rewrite count, and the next one begun. Keys sort in
 * write order: `<ms since epoch, 13 digits>-<random>-<segment, 6 digits><suffix>`.
 */
class SegmentWriter {
  private readonly writer = `${String(Date.now()).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
  private segment = 0;
  private open: Buffer = Buffer.alloc(0);
  private writes = 0;
  private pending: Buffer[] = [];
  private batch: Promise<void> | undefined;
  private tail: Promise<void> = Promise.resolve();
  private lastWrite = 0;

  constructor(
    private readonly prefix: string,
    private readonly suffix: string,
    private readonly put: (key: string, body: Buffer) => Promise<void>,
    private readonly opts: { appendIntervalMs: number; segmentBytes: number; segmentWrites: number },
  ) {}

  /** Resolves once the chunk is stored; appends that arrive while a write waits join it. */
  append(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    if (!this.batch) {
      this.batch = this.tail.then(() => this.write());
      this.tail = this.batch.catch(() => {});
    }
    return this.batch;
  }

  private async write(): Promise<void> {
    const wait = this.lastWrite + this.opts.appendIntervalMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.batch = undefined;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    // a failed write leaves the segment as it was: the caller retries these bytes
    const body = Buffer.concat([this.open, data]);
    const key = `${this.prefix}${this.writer}-${String(this.segment).padStart(6, '0')}${this.suffix}`;
    try {
      await this.put(key, body);
    } finally {
      this.lastWrite = Date.now();
    }
    this.open = body;
    this.writes++;
    if (this.open.length >= this.opts.segmentBytes || this.writes >= this.opts.segmentWrites) {
      this.segment++;
      this.open = Buffer.alloc(0);
      this.writes = 0;
    }
  }
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

