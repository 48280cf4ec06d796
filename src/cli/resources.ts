// `trainctl resources <verb>`: dispatches to the verb's module, loaded only when it runs (the EC2
// SDK is never imported for `--help`).
import type { CommandContext } from './commands.js';
import { runVerb, type VerbModules } from './verbs.js';

const VERBS: VerbModules = {
  list: async () => (await import('./resources-list.js')).list,
  summary: async () => (await import('./resources-list.js')).summary,
  insights: async () => (await import('./resources-insights.js')).insights,
  cleanup: async () => (await import('./resources-cleanup.js')).cleanup,
};

export function run(ctx: CommandContext): Promise<number> {
  return runVerb('resources', VERBS, ctx);
}
