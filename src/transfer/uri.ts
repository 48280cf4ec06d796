// S3 URIs and the mapping from object keys to local paths. A key that would land outside the
// target directory (`..`, absolute, backslashes, empty segments, NUL) is refused, never cleaned up.
import { isAbsolute, join, relative, sep } from 'node:path';

export interface S3Location {
  bucket: string;
  /** Key or key prefix; '' for the whole bucket. */
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Uri(uri: string): S3Location | { error: string; hint?: string } {
  const m = /^s3:\/\/([^/]*)\/?(.*)$/s.exec(uri);
  if (!m) return { error: `${JSON.stringify(uri)} is not an s3:// URI`, hint: 'write it like s3://bucket/prefix/' };
  const bucket = m[1]!;
  if (!BUCKET.test(bucket)) return { error: `invalid S3 bucket name ${JSON.stringify(bucket)}`, hint: 'bucket names have 3–63 lowercase letters, digits, dots and dashes' };
  return { bucket, key: m[2]! };
}

export function formatS3Uri(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.key}`;
}

/** Why a key (relative to a prefix) may not become a local path, or undefined when it may. */
export function unsafeKeyReason(relKey: string): string | undefined {
  if (relKey === '') return 'empty key';
  if (relKey.includes('\0')) return 'NUL in key';
  if (relKey.includes('\\')) return 'backslash in key';
  if (relKey.startsWith('/') || isAbsolute(relKey) || /^[A-Za-z]:/.test(relKey)) return 'absolute key';
  const parts = relKey.split('/');
  if (parts.some((p) => p === '..')) return '".." segment in key';
  if (parts.some((p, i) => p === '' && i < parts.length - 1) || parts.some((p) => p === '.')) return 'empty or "." segment in key';
  return undefined;
}

/** The local path a key maps to under `root`, or an error; checked twice (lexically and by path). */
export function localPathFor(root: string, relKey: string): { path: string } | { error: string } {
  const reason = unsafeKeyReason(relKey);
  if (reason) return { error: `refusing ${JSON.stringify(relKey)}: ${reason}` };
  const path = join(root, ...relKey.split('/'));
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return { error: `refusing ${JSON.stringify(relKey)}: it leaves the target directory` };
  return { path };
}
