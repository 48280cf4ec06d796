// The transfer engine's value types: what a listing yields, what a transfer is told and what it
// reports. Plain data, shared by every transfer module and by the engine's callers.
import type { S3Location } from './uri.js';

/** One object from a listing, parsed once from the SDK's response. */
export interface ObjectInfo {
  /** Full key (not relative to the listed prefix). */
  key: string;
  size: number;
  /** Without quotes; '' when the server gave none. A multipart ETag ends in `-<parts>`. */
  etag: string;
  lastModified: Date;
  storageClass?: string;
}

/** One level of a delimited listing: an object directly under the prefix, or a "directory". */
export type ListEntry = ({ kind: 'object' } & ObjectInfo) | { kind: 'prefix'; key: string };

/** An incomplete multipart upload (space used, invisible in listings; `s3 review` shows them). */
export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

/**
 * How a transfer checks what it moved.
 * - `none`: trust the HTTP exchange.
 * - `size`: the stored/written size equals the source's. Downloads also pin every request to the
 *   listed ETag (If-Match), so an object replaced mid-download fails instead of mixing versions.
 * - `etag`: size, plus the content MD5 against the ETag — single-part objects and multipart
 *   objects whose part size is known (trainctl's uploads record it); on upload, every part's MD5
 *   is checked against the part ETag the server returns.
 * - `sha256`: `etag`, plus a SHA-256 of the whole content: stored as `x-amz-meta-sha256` on upload
 *   (a large file is read twice: once to hash, once to send) and checked on download when present.
 * Default: `etag` for uploads, `size` for downloads (MD5 costs ~1 s of CPU per GiB received).
 */
export type VerifyMode = 'none' | 'size' | 'etag' | 'sha256';

/** Progress of a whole transfer; `bytesPerSecond` and `etaMs` are a moving average, for rendering. */
export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  bytesPerSecond: number;
  /** undefined until a rate is known. */
  etaMs: number | undefined;
  elapsedMs: number;
}

export interface TransferOptions {
  /** Requests in flight at once (small objects and parts of large ones share it). Default 64, the client factory's socket count. */
  concurrency?: number;
  /**
   * Ranged GETs in flight for one large object (within `concurrency`). Default 4, as rclone's
   * --multi-thread-streams. Measured on radosgw (1 MiB write slabs then), a 1 GiB download cost the
   * client ~1.0 s of CPU with 4, 1.5 s with 8 and 1.9 s with 64, and was no faster for it: more
   * streams read smaller pieces more often, for bandwidth the link already had.
   */
  streamsPerObject?: number;
  /** Multipart part size and ranged-GET size in bytes; ≥ 5 MiB for multipart on AWS. Default 16 MiB. */
  partSize?: number;
  /** Objects at or above this size go multipart / ranged-parallel. Default: partSize. */
  multipartThreshold?: number;
  /** Globs over the path relative to the tree root ('/'-separated); a path must match one include
   *  (when any) and no exclude. Same syntax as checkpoint.pattern (src/core/glob.ts). */
  include?: readonly string[];
  exclude?: readonly string[];
  /** Default: 'etag' for uploads, 'size' for downloads. */
  verify?: VerifyMode;
  /** Called at most every ~100 ms and once at the end. */
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
  /** Resumable uploads: where the UploadId of an unfinished multipart upload is kept, keyed by
   *  source path + destination + size + mtime. Default: <tmpdir>/trainctl-uploads. false: not kept. */
  resumeDir?: string | false;
  /** fsync downloaded files before the rename (survives an OS crash, costs write-back time). */
  durable?: boolean;
  /** Retries after the first try for one request (throttling, 5xx, resets). Default 8. */
  retries?: number;
  /** Extra metadata (x-amz-meta-*) on uploaded objects. */
  metadata?: Record<string, string>;
  contentType?: string;
}

export interface TransferFailure {
  /** The local path (relative to the tree root for tree transfers). */
  path: string;
  key: string;
  /** One line, no credentials. */
  message: string;
}

export interface TransferReport {
  /** Objects or files transferred. */
  files: number;
  /** Bytes sent or received (resumed parts not counted). */
  bytes: number;
  /** Left alone: unchanged (sync), filtered out by include/exclude, or a symlink out of the tree. */
  skipped: number;
  failed: TransferFailure[];
  durationMs: number;
  /** Bytes a resumed multipart upload did not have to send again. */
  resumedBytes: number;
  /** Things a user should know that did not fail the transfer (e.g. a symlink not followed). */
  warnings: string[];
}

/** A sync end: a local directory or an S3 prefix. Direction follows the argument order. */
export type SyncEnd = string | S3Location;

export type SyncAction =
  | { kind: 'upload'; path: string; key: string; size: number; reason: 'missing' | 'size' | 'newer' }
  | { kind: 'download'; key: string; path: string; size: number; reason: 'missing' | 'size' | 'newer' }
  | { kind: 'delete-object'; key: string; size: number }
  | { kind: 'delete-file'; path: string; size: number };

export interface SyncOptions extends TransferOptions {
  src: SyncEnd;
  dst: SyncEnd;
  /** Remove what the destination has and the source lacks (within include/exclude). */
  delete?: boolean;
  /** Plan only: the report's actions say what would happen; nothing is changed. */
  dryRun?: boolean;
}

export interface SyncReport extends TransferReport {
  /** Every action planned (and, unless dryRun, carried out — failures are in `failed`). */
  actions: SyncAction[];
  deleted: number;
}
