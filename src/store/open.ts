// Opens the run store a URI names. The runner and the engine see only the RunStore interface.
import { FileStore } from './file.js';
import type { RunStore } from './store.js';

export function openRunStore(uri: string): RunStore | { error: string } {
  if (uri.startsWith('file://')) {
    try {
      return new FileStore(uri);
    } catch (err) {
      return { error: `output store ${uri} is not a valid file:// URI (${(err as Error).message})` };
    }
  }
  if (uri.startsWith('s3://')) return { error: `output store ${uri}: s3:// stores are not supported by this version of the runner` };
  return { error: `output store ${uri}: unknown scheme (expected file:// or s3://)` };
}
