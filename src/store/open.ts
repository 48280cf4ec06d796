// Opens the run store a URI names. The runner and the engine see only the RunStore interface.
// Each implementation is imported on demand: a file:// runner never loads the S3 SDK.
import type { RunStore } from './store.js';

export async function openRunStore(uri: string): Promise<RunStore | { error: string; hint?: string }> {
  if (uri.startsWith('file://')) {
    const { FileStore } = await import('./file.js');
    try {
      return new FileStore(uri);
    } catch (err) {
      return { error: `output store ${uri} is not a valid file:// URI (${(err as Error).message})` };
    }
  }
  if (uri.startsWith('s3://')) {
    const { parseS3Uri, createS3Client, s3Endpoint } = await import('../transfer/index.js');
    const loc = parseS3Uri(uri);
    if ('error' in loc) return { error: `output store ${uri}: ${loc.error}`, ...(loc.hint ? { hint: loc.hint } : {}) };
    const { S3Store } = await import('./s3.js');
    const endpoint = s3Endpoint();
    // credentials, region and endpoint from the environment (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the SDK chain)
    return new S3Store(uri, createS3Client(), endpoint ? { endpoint } : {});
  }
  return { error: `output store ${uri}: unknown scheme (expected file:// or s3://)` };
}
