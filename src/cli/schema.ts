// `trainctl schema`: print the TrainJob JSON schema.
import schema from '../../schema/trainjob.schema.json' with { type: 'json' };
import type { CommandContext } from './commands.js';

export async function run(ctx: CommandContext): Promise<number> {
  ctx.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return 0;
}
