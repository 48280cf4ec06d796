// `trainctl checkpoint <verb>`: dispatches to the verb's module, loaded only when it runs.
import type { CommandContext } from './commands.js';
import { runVerb, type VerbModules } from './verbs.js';
import { withS3Errors } from './s3.js';

const VERBS: VerbModules = {
  list: async () => (await import('./checkpoint-list.js')).list,
  info: async () => (await import('./checkpoint-info.js')).info,
  cleanup: async () => (await import('./checkpoint-cleanup.js')).cleanup,
  resume: async () => (await import('./checkpoint-resume.js')).resume,
};

export function run(ctx: CommandContext): Promise<number> {
  return withS3Errors(() => runVerb('checkpoint', VERBS, ctx));
}
