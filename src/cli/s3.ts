// `trainctl s3 <verb>`: dispatches to the verb's module, loaded only when it runs, and turns the
// SDK's credential-chain failure into the one line a user can act on.
import { ExitError } from '../core/errors.js';
import type { CommandContext } from './commands.js';
import { runVerb, type VerbModules } from './verbs.js';

const VERBS: VerbModules = {
  upload: async () => (await import('./s3-transfer.js')).upload,
  download: async () => (await import('./s3-transfer.js')).download,
  sync: async () => (await import('./s3-sync.js')).sync,
  list: async () => (await import('./s3-list.js')).list,
  watch: async () => (await import('./s3-watch.js')).watch,
  review: async () => (await import('./s3-review.js')).review,
  cleanup: async () => (await import('./s3-cleanup.js')).cleanup,
};

export function run(ctx: CommandContext): Promise<number> {
  return withS3Errors(() => runVerb('s3', VERBS, ctx));
}

/** The SDK's "no credentials anywhere in the chain" says which providers it tried; users need what to set. */
export async function withS3Errors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExitError && /CredentialsProviderError|Could not load credentials/.test(err.message)) {
      throw new ExitError('no AWS credentials found', 1, 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (credentials are read by the AWS SDK\'s default chain)');
    }
    if (!(err instanceof ExitError) && err instanceof Error && err.name === 'CredentialsProviderError') {
      throw new ExitError('no AWS credentials found', 1, 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE');
    }
    throw err;
  }
}
