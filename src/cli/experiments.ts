// `trainctl experiments <verb>`: dispatches to the verb's module, loaded only when it runs.
import type { CommandContext } from './commands.js';
import { runVerb, type VerbModules } from './verbs.js';
import { withS3Errors } from './s3.js';

const VERBS: VerbModules = {
  list: async () => (await import('./experiments-list.js')).list,
  compare: async () => (await import('./experiments-compare.js')).compare,
  report: async () => (await import('./experiments-report.js')).report,
};

export function run(ctx: CommandContext): Promise<number> {
  return withS3Errors(() => runVerb('experiments', VERBS, ctx));
}
