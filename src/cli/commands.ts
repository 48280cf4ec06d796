// The command table: names, flags and help text. Kept free of heavy imports so `--help` and
// `--version` are instant; each command's code is imported only when it runs.
import type { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface CommandModule {
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandDef {
  name: string;
  summary: string;
  usage: string;
  options: Options;
  help: string;
  /** Everything after the first positional goes to it untouched (`run <script> --its-flags`). */
  passThrough?: boolean;
  load(): Promise<CommandModule>;
}

const file = { type: 'string', short: 'f', multiple: true } as const;
const output = { type: 'string', short: 'o' } as const;
const noColor = { type: 'boolean' } as const;

export const COMMANDS: CommandDef[] = [
  {
    name: 'validate',
    summary: 'Check TrainJob specs and report every problem',
    usage: 'trainctl validate -f <file|dir>... [--output text|json]',
    options: { file, output },
    help: `Loads every TrainJob in the given files and directories (multi-document YAML is fine),
checks it against the schema and the rules the schema cannot express, and prints each
problem as file:line:col: error: message.

Options:
  -f, --file <path>      spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <format>  text (default) or json

Exit codes: 0 valid, 1 problems found.`,
    load: () => import('./validate.js'),
  },
  {
    name: 'plan',
    summary: 'Show what apply would change',
    usage: 'trainctl plan -f <file|dir>... [--output text|json] [--out plan.json] [--prune] [--detailed-exitcode]',
    options: { file, output, out: { type: 'string' }, prune: { type: 'boolean' }, 'detailed-exitcode': { type: 'boolean' }, 'no-color': noColor },
    help: `Compares the specs with the live world (resources tagged by trainctl, run records in the
output store) and prints the actions apply would take. Nothing is changed.

Options:
  -f, --file <path>        spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <format>    text (default) or json (see README, "Plan JSON")
      --out <path>         also save the plan as JSON, for \`trainctl apply <path>\`
      --prune              plan deletes for managed resources whose trial is in no spec
      --detailed-exitcode  exit 2 when there are changes (0 none, 1 error)
      --no-color           no colours (also NO_COLOR=1; off when not a terminal)`,
    load: () => import('./plan.js'),
  },
  {
    name: 'apply',
    summary: 'Carry out the plan: launch, resume and stop trials',
    usage: 'trainctl apply (-f <file|dir>... | <plan.json>) [--yes] [--prune] [--wait [--interval 2s]]',
    options: { file, yes: { type: 'boolean', short: 'y' }, prune: { type: 'boolean' }, wait: { type: 'boolean' }, interval: { type: 'string' }, 'no-color': noColor },
    help: `Plans as \`trainctl plan\` does, prints the plan, asks for confirmation and carries it out:
launches new, resumed and retried trials in parallel, and stops what the plan stops. Running it
again changes nothing that is already done. Given a plan saved with \`trainctl plan --out\`, it
applies exactly that plan, and refuses when the specs or the world changed since it was made.

Options:
  -f, --file <path>      spec file or directory (repeatable; default ./trainjob.yaml)
  -y, --yes              do not ask for confirmation (required when stdin is not a terminal)
      --prune            also delete managed resources whose trial is in no spec
      --wait             keep reconciling until every trial has finished, with live progress
      --interval <dur>   time between passes with --wait (default 2s)
      --no-color         no colours (also NO_COLOR=1; off when not a terminal)

Exit codes: 0 success, 1 error, or (with --wait) a trial failed for good.`,
    load: () => import('./apply.js'),
  },
  {
    name: 'status',
    summary: 'Show where every trial stands',
    usage: 'trainctl status -f <file|dir>... [--output text|json]',
    options: { file, output, 'no-color': noColor },
    help: `For every trial of the given specs: state, attempt, step, latest metric, elapsed time
and spend, read from the live world and the output store, then a line per job with its counts,
best objective value and spend. Nothing is changed.

Options:
  -f, --file <path>      spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <format>  text (default) or json
      --no-color         no colours (also NO_COLOR=1; off when not a terminal)`,
    load: () => import('./status.js'),
  },
  {
    name: 'logs',
    summary: "Print a trial's log",
    usage: 'trainctl logs <trial> [--follow] [--attempt N] [--rank N] [--file <spec>]',
    options: { follow: { type: 'boolean', short: 'f' }, attempt: { type: 'string' }, rank: { type: 'string' }, file: { type: 'string', multiple: true } },
    help: `Prints the log of one trial from its output store: the latest attempt and node rank 0
unless told otherwise.

Options:
  -f, --follow           keep printing what is appended until the attempt ends
      --attempt <n>      which attempt (default the latest)
      --rank <n>         which node rank (default 0)
      --file <path>      a spec whose output store holds the trial (default: ./trainjob.yaml
                         if present, and the local store under $TRAINCTL_HOME/runs)`,
    load: () => import('./logs.js'),
  },
  {
    name: 'destroy',
    summary: 'Stop live trials gracefully, keeping checkpoints',
    usage: 'trainctl destroy -f <file|dir>... [<trial>...] [--dry-run] [--yes]',
    options: { file, yes: { type: 'boolean', short: 'y' }, 'dry-run': { type: 'boolean' }, 'no-color': noColor },
    help: `Stops every live trial of the given specs, or only the named trials: each runner passes
SIGTERM to training, waits for its final checkpoint and uploads it. The trials are recorded as
stopped, so a later apply leaves them be; their checkpoints and records stay in the store.

Options:
  -f, --file <path>  spec file or directory (repeatable; default ./trainjob.yaml)
      --dry-run      show what would be stopped, stop nothing
  -y, --yes          do not ask for confirmation (required when stdin is not a terminal)
      --no-color     no colours (also NO_COLOR=1; off when not a terminal)`,
    load: () => import('./destroy.js'),
  },
  {
    name: 'run',
    summary: 'Run a script once as a job, from flags',
    usage: 'trainctl run <script> [script args...] [--gpus N] [--nodes N --nproc-per-node N] [--name NAME] [--detach]',
    options: {
      gpus: { type: 'string' }, nodes: { type: 'string' }, 'nproc-per-node': { type: 'string' }, name: { type: 'string' }, project: { type: 'string' },
      setup: { type: 'string' }, 'checkpoint-dir': { type: 'string' }, 'keep-last': { type: 'string' }, 'output-uri': { type: 'string' },
      detach: { type: 'boolean' }, 'no-color': noColor,
    },
    passThrough: true,
    help: `Builds a one-off TrainJob from flags and applies it with --wait: the script runs on this
machine through the runner, with logs, metrics and checkpoints in the output store, and resumes
from its last checkpoint if interrupted (re-run with the same --name). Everything after the
script is passed to it. \`.py\` runs with python3, \`.sh\` with bash, anything else as is.

Options:
      --gpus <n>             GPUs (0 for CPU)
      --nodes <n>            DDP nodes on this host (torchrun; default 1)
      --nproc-per-node <n>   DDP processes per node (default 1)
      --name <name>          job name (default <script>-<time>, a new job each run)
      --project <name>       project (default "default")
      --setup <command>      run once before the script
      --checkpoint-dir <d>   where the script writes checkpoints (default checkpoints/)
      --keep-last <n>        checkpoints kept in the store (default 3)
      --output-uri <uri>     output store (default $TRAINCTL_HOME/runs)
      --detach               start it and return; follow with \`trainctl status\` / \`logs\``,
    load: () => import('./run.js'),
  },
  {
    name: 'schema',
    summary: 'Print the TrainJob JSON schema',
    usage: 'trainctl schema',
    options: {},
    help: 'Prints schema/trainjob.schema.json, for editors and other tools.',
    load: () => import('./schema.js'),
  },
  {
    name: 'init',
    summary: 'Write a commented starter trainjob.yaml',
    usage: 'trainctl init [-o trainjob.yaml] [--force]',
    options: { output, force: { type: 'boolean' } },
    help: `Writes a commented starter spec, and trainjob.schema.json beside it so editors with the
YAML language server complete and check it.

Options:
  -o, --output <path>  where to write the spec (default trainjob.yaml)
      --force          overwrite existing files`,
    load: () => import('./init.js'),
  },
];

export function globalHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `trainctl ${version} — declarative ML training jobs: plan and apply TrainJob specs

Usage: trainctl <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Options:
  -h, --help     help for trainctl or a command
  -v, --version  print the version

Run \`trainctl <command> --help\` for a command's options.
`;
}

export function commandHelp(c: CommandDef): string {
  return `Usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n`;
}
