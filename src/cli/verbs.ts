// The verb groups (`s3`, `checkpoint`, `experiments`, `resources`): each verb's module is imported
// only when it runs, so `--help` and the other verbs never load its code (or a cloud SDK).
import type { CommandContext } from './commands.js';

export type VerbModules = Record<string, () => Promise<(ctx: CommandContext) => Promise<number>>>;

export async function runVerb(group: string, verbs: VerbModules, ctx: CommandContext): Promise<number> {
  const load = verbs[ctx.verb ?? ''];
  // bin.ts only passes verbs that commands.ts lists
  if (!load) throw new Error(`bug: ${group} verb ${ctx.verb} has no module`);
  return (await load())(ctx);
}
