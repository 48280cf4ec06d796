// `trainctl resources <verb>`: dispatches to the verb's module, loaded only when it runs (the EC2
// SDK is never imported for `--help`).
import type { CommandContext } from './commands.js';
import { quietSdkNotice } from './s3.js';

const VERBS: Record<string, () => Promise<(ctx: CommandContext) => Promise<number>>> = {
  list: async () => (await import('./resources-list.js')).list,
  summary: async () => (await import('./resources-list.js')).summary,
  insights: async () => (await import('./resources-insights.js')).insights,
  cleanup: async () => (await import('./resources-cleanup.js')).cleanup,
};

export async function run(ctx: CommandContext): Promise<number> {
  const load = VERBS[ctx.verb ?? ''];
  if (!load) throw new Error(`bug: resources verb ${ctx.verb} has no module`);
  quietSdkNotice();
  return (await load())(ctx);
}
