// `trainctl experiments <verb>`: dispatches to the verb's module, loaded only when it runs.
import type { CommandContext } from './commands.js';
import { quietSdkNotice, withS3Errors } from './s3.js';

const VERBS: Record<string, () => Promise<(ctx: CommandContext) => Promise<number>>> = {
  list: async () => (await import('./experiments-list.js')).list,
  compare: async () => (await import('./experiments-compare.js')).compare,
  report: async () => (await import('./experiments-report.js')).report,
};

export async function run(ctx: CommandContext): Promise<number> {
  const load = VERBS[ctx.verb ?? ''];
  if (!load) throw new Error(`bug: experiments verb ${ctx.verb} has no module`);
  quietSdkNotice();
  return withS3Errors(async () => (await load())(ctx));
}
