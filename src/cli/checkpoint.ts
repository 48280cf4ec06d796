// `trainctl checkpoint <verb>`: dispatches to the verb's module, loaded only when it runs.
import type { CommandContext } from './commands.js';
import { withS3Errors } from './s3.js';

const VERBS: Record<string, () => Promise<(ctx: CommandContext) => Promise<number>>> = {
  list: async () => (await import('./checkpoint-list.js')).list,
  info: async () => (await import('./checkpoint-info.js')).info,
  cleanup: async () => (await import('./checkpoint-cleanup.js')).cleanup,
  resume: async () => (await import('./checkpoint-resume.js')).resume,
};

export async function run(ctx: CommandContext): Promise<number> {
  const load = VERBS[ctx.verb ?? ''];
  if (!load) throw new Error(`bug: checkpoint verb ${ctx.verb} has no module`);
  return withS3Errors(async () => (await load())(ctx));
}
