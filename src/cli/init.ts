// `trainctl init`: a commented starter spec, plus the schema beside it for editor completion.
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import schema from '../../schema/trainjob.schema.json' with { type: 'json' };
import { ExitError } from '../core/errors.js';
import type { CommandContext } from './commands.js';

export const SCHEMA_FILE = 'trainjob.schema.json';

export function starterSpec(name: string): string {
  return `# yaml-language-server: $schema=./${SCHEMA_FILE}
# A TrainJob: what to train, where, and within which limits. \`trainctl plan\` shows what would
# change; \`trainctl schema\` prints every field with its description.
apiVersion: trainctl.dev/v1
kind: TrainJob
metadata:
  name: ${name}
  project: default
spec:
  # Where trials run: local (this machine), aws (EC2, spot or on-demand) or runpod.
  compute:
    provider: local
    gpus: 0                      # 0 trains on CPU
  # The code directory (relative to this file) and the command that trains.
  # {name} placeholders take hyperparameter values, quoted for the shell.
  code:
    path: .
    command: python3 train.py --lr {lr} --batch-size {batch_size}
    # setup: pip install -r requirements.txt
  # Data staged before training (s3:// or file:// sources).
  # data:
  #   - { source: s3://my-bucket/datasets/mnist/, target: data/ }
  # Run records, logs, metrics and checkpoints. Default for local jobs: $TRAINCTL_HOME/runs.
  # output: { uri: s3://my-bucket/runs/ }
  checkpoint:
    dir: checkpoints/            # where your code writes checkpoints
    keepLastN: 3
    resumeArg: "--resume {path}" # how an interrupted trial is told where to resume from
  hyperparameters:
    strategy: grid               # grid | random | list
    parameters:
      lr: [0.1, 0.01]
      batch_size: [32, 64]
    maxParallel: 2
  metrics:
    objective: { metric: val_loss, goal: minimize }
  limits:
    maxDuration: 2h
    # costUSD: 20
  retry:
    onFailure: 1
`;
}

export async function run(ctx: CommandContext): Promise<number> {
  const target = resolve(ctx.cwd, (ctx.values.output as string | undefined) ?? 'trainjob.yaml');
  const schemaPath = join(dirname(target), SCHEMA_FILE);
  const force = Boolean(ctx.values.force);
  for (const p of [target, schemaPath]) {
    if (existsSync(p) && !force) throw new ExitError(`${p} already exists`, 1, 'pass --force to overwrite it');
  }
  if (!existsSync(dirname(target))) throw new ExitError(`directory ${dirname(target)} does not exist`, 1, 'create it first');
  const name = basename(dirname(target)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+|-+$/g, '').slice(0, 40) || 'my-job';
  writeFileSync(schemaPath, `${JSON.stringify(schema, null, 2)}\n`);
  writeFileSync(target, starterSpec(name));
  ctx.stdout.write(`Wrote ${target} and ${schemaPath}.\nNext: edit it, then \`trainctl plan -f ${ctx.values.output ?? 'trainjob.yaml'}\`.\n`);
  return 0;
}
