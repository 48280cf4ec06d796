// Checkpoint manifests as both stores read them: parsing a stored MANIFEST.json once, safe paths,
// where an entry's bytes are (its own copy, an earlier checkpoint's, a compressed one), which
// stored objects a deletion may remove, and the compression codecs.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { CheckpointError, type TrialRef, type CheckpointCompression, type CheckpointEncoding, type CheckpointFile, type CheckpointManifest } from './store.js';

/** Relative, '/'-separated, and never climbing out: what a manifest may name. */
export function isSafeRelative(path: string): boolean {
  if (!path || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

const ENCODINGS: readonly CheckpointEncoding[] = ['gzip', 'zstd'];

/** A stored MANIFEST.json, or undefined when it is not one (damaged, half-written, wrong shape). */
export function parseManifest(text: string | undefined): CheckpointManifest | undefined {
  if (text === undefined) return undefined;
  let m: CheckpointManifest;
  try {
    m = JSON.parse(text) as CheckpointManifest;
  } catch {
    return undefined;
  }
  if (!m || typeof m !== 'object' || !Array.isArray(m.files)) return undefined;
  const wellFormed = m.files.every((f) => f && typeof f.path === 'string' && typeof f.size === 'number' && typeof f.sha256 === 'string'
    && (f.object === undefined || typeof f.object === 'string')
    && (f.encoding === undefined || ENCODINGS.includes(f.encoding)));
  return wellFormed ? m : undefined;
}

/** Where a checkpoint file's bytes are when nothing else is said: relative to the trial dir. */
export function defaultObject(step: number, path: string): string {
  return `checkpoints/${step}/${path}`;
}

/** The stored object (relative to the trial dir) holding an entry's bytes. */
export function objectOf(step: number, f: CheckpointFile): string {
  return f.object ?? defaultObject(step, f.path);
}

/** An entry's object must be a file of some checkpoint of the same trial, nothing else in the store. */
export function isSafeObject(object: string): boolean {
  return isSafeRelative(object) && /^checkpoints\/\d+\/./.test(object);
}

/** The checkpoint directory an object lives in. */
export function homeStep(object: string): number | undefined {
  const m = /^checkpoints\/(\d+)\//.exec(object);
  return m ? Number(m[1]) : undefined;
}

/**
 * Objects to remove when checkpoint `step` is deleted: those in its directory and those its
 * manifest referred to elsewhere, except what a remaining complete checkpoint still needs (a
 * reference from its manifest, or anything in its own directory). Pure; keys relative to the trial dir.
 */
export function checkpointGarbage(step: number, deleted: CheckpointManifest | undefined, remaining: readonly CheckpointManifest[], underStep: readonly string[]): string[] {
  const candidates = new Set(underStep);
  for (const f of deleted?.files ?? []) candidates.add(objectOf(step, f));
  const keep = new Set<string>();
  const liveSteps = new Set(remaining.map((m) => m.step));
  for (const m of remaining) for (const f of m.files) keep.add(objectOf(m.step, f));
  return [...candidates].filter((k) => {
    const home = homeStep(k);
    return !keep.has(k) && (home === undefined || home === step || !liveSteps.has(home));
  }).sort();
}

/** A file's size and sha256, read once. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

// node ≥ 22.15 has zstd in zlib; node 20 does not, so these are looked up, not imported.
interface ZstdZlib {
  createZstdCompress?: (opts?: object) => Transform;
  createZstdDecompress?: (opts?: object) => Transform;
}
const zstd = zlib as unknown as ZstdZlib;

export function zstdAvailable(): boolean {
  return typeof zstd.createZstdCompress === 'function' && typeof zstd.createZstdDecompress === 'function';
}

/**
 * The encoding `checkpoint.compress` comes to on this node: zstd where node has it, else gzip
 * (a spec written for a newer node still runs here, compressed a little less well).
 */
export function encodingFor(compress: CheckpointCompression | undefined): CheckpointEncoding | undefined {
  if (compress === undefined || compress === 'none') return undefined;
  return compress === 'zstd' && !zstdAvailable() ? 'gzip' : compress;
}

/** File name suffix of a compressed object. */
export const ENCODING_SUFFIX: Record<CheckpointEncoding, string> = { gzip: '.gz', zstd: '.zst' };

function compressor(encoding: CheckpointEncoding): Transform {
  // level 1 (gzip) / 3 (zstd): checkpoints are large and written often; speed beats the last few percent
  return encoding === 'gzip' ? zlib.createGzip({ level: 1 }) : zstd.createZstdCompress!();
}

/** A stream that undoes `encoding`; CheckpointError when this node cannot (zstd on node < 22.15). */
export function decompressor(encoding: CheckpointEncoding | undefined): Transform | undefined {
  if (encoding === undefined) return undefined;
  if (encoding === 'gzip') return zlib.createGunzip();
  if (!zstdAvailable()) throw new CheckpointError(`this checkpoint is zstd-compressed and node ${process.version} has no zstd (node ≥ 22.15 has): run the runner on a newer node`);
  return zstd.createZstdDecompress!();
}

/** Compression must save at least this share of the bytes to be worth the CPU on both ends. */
export const MIN_SAVING = 0.1;
const SAMPLE_BYTES = 1 << 20;

/**
 * Compresses src into dest when that helps: a large file is judged by its first MiB first, so
 * incompressible weights cost one small trial instead of a full pass. Returns the compressed size,
 * or undefined (dest unused) when the file is stored as is.
 */
export async function compressIfWorthIt(src: string, dest: string, encoding: CheckpointEncoding): Promise<number | undefined> {
  const { size } = await stat(src);
  if (size === 0) return undefined;
  if (size > 4 * SAMPLE_BYTES) {
    const fh = await open(src, 'r');
    let sample: Buffer;
    try {
      sample = Buffer.alloc(SAMPLE_BYTES);
      await fh.read(sample, 0, SAMPLE_BYTES, 0);
    } finally {
      await fh.close();
    }
    const packed = encoding === 'gzip' ? zlib.gzipSync(sample, { level: 1 }) : await collect(sample, compressor(encoding));
    if (packed.length > sample.length * (1 - MIN_SAVING)) return undefined;
  }
  let out = 0;
  await pipeline(createReadStream(src), compressor(encoding), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      out += chunk.length;
      yield chunk;
    }
  }, createWriteStream(dest));
  return out <= size * (1 - MIN_SAVING) ? out : undefined;
}

async function collect(input: Buffer, t: Transform): Promise<Buffer> {
  const chunks: Buffer[] = [];
  t.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    t.on('end', resolve);
    t.on('error', reject);
  });
  t.end(input);
  await done;
  return Buffer.concat(chunks);
}

/**
 * Streams src to dest, undoing `encoding` and hashing what is written, so the digest describes the
 * restored file exactly.
 */
export async function copyDecodingHashing(src: string, dest: string, encoding: CheckpointEncoding | undefined): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const count = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  };
  const decode = decompressor(encoding);
  try {
    if (decode) await pipeline(createReadStream(src), decode, count, createWriteStream(dest, { flush: true }));
    else await pipeline(createReadStream(src), count, createWriteStream(dest, { flush: true }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a damaged compressed object is a bad checkpoint, not a transient failure
    if (code?.startsWith('Z_') || code === 'ERR_ZSTD_INVALID_PARAM') throw new CheckpointError(`cannot decompress (${encoding}): ${(err as Error).message}`);
    throw err;
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Refuses a manifest that would write outside destDir or read an object outside the checkpoints:
 * checked for every file before anything is restored.
 */
export function assertManifestSafe(manifest: CheckpointManifest, ref: TrialRef, step: number, destDir: string): void {
  const root = resolve(destDir);
  for (const f of manifest.files) {
    const target = resolve(root, f.path);
    if (!isSafeRelative(f.path) || !target.startsWith(root + sep)) {
      throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: refusing manifest path ${JSON.stringify(f.path)}`);
    }
    if (f.object !== undefined && !isSafeObject(f.object)) {
      throw new CheckpointError(`checkpoint ${step} of ${ref.trial}: refusing manifest object ${JSON.stringify(f.object)} for ${f.path}`);
    }
  }
}
