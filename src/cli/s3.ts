// `trainctl s3 <verb>`: dispatches to the verb's module, loaded only when it runs, and turns the
// SDK's credential-chain failure into the one line a user can act on.
import { ExitError } from '../core/errors.js';
import type { CommandContext } from './commands.js';

const VERBS: Record<string, () => Promise<(ctx: CommandContext) => Promise<number>>> = {
  upload: async () => (await import('./s3-transfer.js')).upload,
  download: async () => (await import('./s3-transfer.js')).download,
  sync: async () => (await import('./s3-sync.js')).sync,
  list: async () => (await import('./s3-list.js')).list,
  watch: async () => (await import('./s3-watch.js')).watch,
  review: async () => (await import('./s3-review.js')).review,
  cleanup: async () => (await import('./s3-cleanup.js')).cleanup,
};

export async function run(ctx: CommandContext): Promise<number> {
  const load = VERBS[ctx.verb ?? ''];
  if (!load) throw new Error(`bug: s3 verb ${ctx.verb} has no module`);
  return withS3Errors(async () => (await load())(ctx));
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

/**
 * The AWS SDK prints a multi-line "node < 22 support ends in 2027" notice on stderr once per
 * process; in a CLI that is every run, and it buries the one-line errors. S3 clients are quiet
 * already (the factory, src/transfer/client.ts, sets this); commands that build EC2/SSM clients
 * (src/providers/aws/clients.ts) still call this until that factory does the same.
 */
export function quietSdkNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
