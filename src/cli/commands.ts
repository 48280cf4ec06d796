// The command table: names, flags and help text. Kept free of heavy imports so `--help` and
// `--version` are instant; each command's code is imported only when it runs.
import type { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  /** For a command with verbs (`trainctl s3 upload`): the verb, already checked against the table. */
  verb?: string;
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
  /** `trainctl <name> <verb> …`: each verb has its own flags and help; the module dispatches on ctx.verb. */
  verbs?: VerbDef[];
  load(): Promise<CommandModule>;
}

export interface VerbDef {
  name: string;
  summary: string;
  usage: string;
  options: Options;
  help: string;
}

const file = { type: 'string', short: 'f', multiple: true } as const;
const output = { type: 'string', short: 'o' } as const;
const noColor = { type: 'boolean' } as const;
const yes = { type: 'boolean', short: 'y' } as const;
const dryRun = { type: 'boolean' } as const;
const endpointUrl = { type: 'string' } as const;
const recursive = { type: 'boolean', short: 'r' } as const;
const glob = { type: 'string', multiple: true } as const;
const RESOURCES = { region: { type: 'string', multiple: true }, duration: { type: 'string' } } as const;
const RESOURCES_COMMON = `      --region <r[,r…]>     regions to look in (repeatable; default: the specs' compute.region
                            and AWS_REGION / AWS_DEFAULT_REGION)
  -f, --file <path>         specs whose run stores tell heartbeats and known trials (repeatable)
      --no-color            no colours (also NO_COLOR=1; off when not a terminal)`;
const S3_COMMON = `      --endpoint-url <url>  S3 endpoint (default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS);
                            credentials and region from the AWS SDK's default chain`;

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
    usage: 'trainctl plan -f <file|dir>... [--output text|json|markdown] [--out plan.json] [--prune] [--detailed-exitcode]',
    options: { file, output, out: { type: 'string' }, prune: { type: 'boolean' }, 'detailed-exitcode': { type: 'boolean' }, 'no-color': noColor },
    help: `Compares the specs with the live world (resources tagged by trainctl, run records in the
output store) and prints the actions apply would take. Nothing is changed.

Options:
  -f, --file <path>        spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <format>    text (default), json (see README, "Plan JSON") or markdown
                           (tables and the folded text plan, for pull-request comments)
      --out <path>         also save the plan as JSON, for \`trainctl apply <path>\`
      --prune              plan deletes for managed resources whose trial is in no spec
      --detailed-exitcode  exit 2 when there are changes (0 none, 1 error)
      --no-color           no colours (also NO_COLOR=1; off when not a terminal)`,
    load: () => import('./plan.js'),
  },
  {
    name: 'apply',
    summary: 'Carry out the plan: launch, resume and stop trials',
    usage: 'trainctl apply (-f <file|dir>... | <plan.json>) [--yes] [--prune] [--wait [--interval 2s]] [--lock-timeout 5m]',
    options: { file, yes: { type: 'boolean', short: 'y' }, prune: { type: 'boolean' }, wait: { type: 'boolean' }, interval: { type: 'string' }, 'allow-over-budget': { type: 'boolean' }, 'lock-timeout': { type: 'string' }, 'no-color': noColor },
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
      --allow-over-budget  apply even when the worst-case cost estimate exceeds limits.costUSD
      --lock-timeout <dur> wait this long for a project locked by another apply or controller
                         (default 0: fail at once, naming the holder)
      --no-color         no colours (also NO_COLOR=1; off when not a terminal)

Each project's lock (<output>/<project>/.lock) is held from planning to the end, renewed while
it runs; TRAINCTL_LOCK_TTL (default 2m) is how long a lock outlives a holder that died.

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
    usage: 'trainctl destroy -f <file|dir>... [<trial>...] [--dry-run] [--yes] [--lock-timeout 5m]',
    options: { file, yes: { type: 'boolean', short: 'y' }, 'dry-run': { type: 'boolean' }, 'lock-timeout': { type: 'string' }, 'no-color': noColor },
    help: `Stops every live trial of the given specs, or only the named trials: each runner passes
SIGTERM to training, waits for its final checkpoint and uploads it. The trials are recorded as
stopped, so a later apply leaves them be; their checkpoints and records stay in the store.

Options:
  -f, --file <path>  spec file or directory (repeatable; default ./trainjob.yaml)
      --dry-run      show what would be stopped, stop nothing
  -y, --yes          do not ask for confirmation (required when stdin is not a terminal)
      --lock-timeout <dur>  wait this long for a project locked by an apply or controller
                     (default 0: fail at once, naming the holder)
      --no-color     no colours (also NO_COLOR=1; off when not a terminal)`,
    load: () => import('./destroy.js'),
  },
  {
    name: 'reconcile',
    summary: 'Converge every spec of a directory: one pass, or a controller loop',
    usage: 'trainctl reconcile -f <file|dir>... [--watch [--interval 60s]] [--prune] [--lock-timeout 5m]',
    options: { file, watch: { type: 'boolean' }, interval: { type: 'string' }, prune: { type: 'boolean' }, 'lock-timeout': { type: 'string' }, 'allow-over-budget': { type: 'boolean' }, 'no-color': noColor },
    help: `One level-based pass over every spec given: plan against the world as it is and carry out the
changes without asking (launch new and waiting trials, resume interrupted ones, retry failures,
stop what a limit stops). Running it again is always safe. With --watch it is a controller: a
pass every --interval, re-reading the specs each time, until SIGINT or SIGTERM (which end it after
the current pass). A pass that fails (store or cloud API unreachable, a spec that does not load)
is logged and retried with backoff. Each change is logged as one line:
\`<time> <action> <trial> (<reason>)\`. Each project's lock is held for the whole run.

Options:
  -f, --file <path>        spec file or directory (repeatable; default ./trainjob.yaml)
      --watch              keep reconciling until stopped
      --interval <dur>     time between passes with --watch (default 60s)
      --prune              also delete managed resources whose trial is in no spec
      --lock-timeout <dur> wait this long for a locked project (default 0: fail at once; with
                           --watch a locked project is retried every interval)
      --allow-over-budget  launch even when the worst-case cost estimate exceeds limits.costUSD
      --no-color           no colours (also NO_COLOR=1; off when not a terminal)

Exit codes: 0 the pass succeeded (or the controller was stopped), 1 error.`,
    load: () => import('./reconcile.js'),
  },
  {
    name: 'force-unlock',
    summary: "Release a project's lock left by an apply that died",
    usage: 'trainctl force-unlock <lock-id> -f <file|dir>... [--yes]',
    options: { file, yes },
    help: `Releases the lock with this id (printed by the apply or reconcile that found it held) in the
output stores of the given specs. Only for a lock whose holder is gone: releasing a lock a running
apply holds lets two of them launch at once. Asks first unless --yes.

Options:
  -f, --file <path>  spec file or directory (repeatable; default ./trainjob.yaml)
  -y, --yes          do not ask (required when stdin is not a terminal)`,
    load: () => import('./force-unlock.js'),
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
  {
    name: 's3',
    summary: 'Move, list, watch, review and clean up S3 data',
    usage: 'trainctl s3 <upload|download|sync|list|watch|review|cleanup> [options]',
    options: {},
    help: `Parallel, verified S3 transfers (multipart and ranged downloads for large files, atomic local
writes) and the housekeeping around them. Works with AWS S3 and S3-compatible servers.`,
    verbs: [
      {
        name: 'upload',
        summary: 'Upload a file, or a directory with --recursive',
        usage: 'trainctl s3 upload <local> <s3uri> [--recursive] [--include G]... [--exclude G]...',
        options: { recursive, include: glob, exclude: glob, 'endpoint-url': endpointUrl, output },
        help: `Uploads one file to <s3uri> (a URI ending in / gets the file's name), or with --recursive every
file under a directory to <s3uri>/<relative path>. Symlinks are followed only while they stay
inside the directory. Progress (bytes, rate, ETA) on a terminal; a summary line at the end.

Options:
  -r, --recursive           upload a directory tree
      --include <glob>      only paths matching (repeatable; relative to the directory)
      --exclude <glob>      leave out paths matching (repeatable)
  -o, --output <format>     text (default) or json (the transfer report)
${S3_COMMON}`,
      },
      {
        name: 'download',
        summary: 'Download an object, or a prefix with --recursive',
        usage: 'trainctl s3 download <s3uri> <local> [--recursive] [--include G]... [--exclude G]...',
        options: { recursive, include: glob, exclude: glob, 'endpoint-url': endpointUrl, output },
        help: `Downloads one object to <local> (an existing directory, or a path ending in /, gets the key's
name), or with --recursive every object under the prefix into the directory <local>. Files are
written to a temporary name and renamed when complete and verified. A key that would land
outside <local> (\`..\`, absolute, backslashes) refuses the whole download before anything is
written.

Options:
  -r, --recursive           download every object under the prefix
      --include <glob>      only keys matching (repeatable; relative to the prefix)
      --exclude <glob>      leave out keys matching (repeatable)
  -o, --output <format>     text (default) or json (the transfer report)
${S3_COMMON}`,
      },
      {
        name: 'sync',
        summary: 'Make a destination match a source (local ↔ S3)',
        usage: 'trainctl s3 sync <src> <dst> [--delete] [--include G]... [--exclude G]... [--dry-run] [--yes]',
        options: {
          delete: { type: 'boolean' }, include: glob, exclude: glob, 'dry-run': dryRun, yes, direction: { type: 'string' },
          'endpoint-url': endpointUrl, output,
        },
        help: `Copies what the destination lacks, or has with another size, or older than the source. The
direction follows the argument order: a local directory then an s3:// URI uploads, the reverse
downloads. With --delete, what the destination has and the source lacks (within the filters) is
removed: the list is shown first and only that list is deleted, after confirmation.

Options:
      --delete              also remove what the source lacks (asks first unless --yes)
      --include <glob>      only paths matching (repeatable)
      --exclude <glob>      leave out paths matching (repeatable)
      --dry-run             show what would be copied and deleted; change nothing
  -y, --yes                 do not ask before deleting (required when stdin is not a terminal)
      --direction <up|down> as in the original CLI: check the argument order against it
                            (\`sync ./dir s3://b/p --direction down\` downloads into ./dir)
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
      {
        name: 'list',
        summary: 'List objects under a prefix',
        usage: 'trainctl s3 list <s3uri> [--recursive] [--human-readable] [--output json]',
        options: { recursive, 'human-readable': { type: 'boolean', short: 'H' }, 'endpoint-url': endpointUrl, output },
        help: `Lists the objects directly under the prefix and its sub-prefixes (PRE), or with --recursive every
object below it, with a total.

Options:
  -r, --recursive           every object below the prefix
  -H, --human-readable      sizes as KiB, MiB, GiB
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
      {
        name: 'watch',
        summary: 'Print objects as they appear, change or go',
        usage: 'trainctl s3 watch <s3uri> [--interval 30s] [--output json]',
        options: { interval: { type: 'string' }, 'endpoint-url': endpointUrl, output },
        help: `Lists the prefix every interval and prints a line for each object that appeared (+), changed (~)
or was deleted (-) since the last look. Runs until interrupted (Ctrl-C).

Options:
      --interval <dur>      time between listings: 10s, 1m, … or plain seconds (default 30s)
  -o, --output <format>     text (default) or json (one JSON object per line per event)
${S3_COMMON}`,
      },
      {
        name: 'review',
        summary: 'Storage report: sizes by prefix, largest, age, pending uploads, cost',
        usage: 'trainctl s3 review <s3uri> [--detailed] [--output json]',
        options: { detailed: { type: 'boolean' }, 'endpoint-url': endpointUrl, output },
        help: `Reports on everything under the prefix: object count and total size, size by sub-prefix, the
largest objects, the newest and oldest, incomplete multipart uploads (space billed but invisible
in listings) and the estimated monthly cost at S3 Standard's rate. Nothing is changed.

Options:
      --detailed            also list every object
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
      {
        name: 'cleanup',
        summary: 'Delete old checkpoints under a prefix, keeping the newest N',
        usage: 'trainctl s3 cleanup <s3uri> --keep-last-n N [--pattern G] [--older-than 30d] [--dry-run] [--yes]',
        options: {
          'keep-last-n': { type: 'string' }, pattern: { type: 'string' }, 'older-than': { type: 'string' }, 'dry-run': dryRun, yes,
          'endpoint-url': endpointUrl, output, 'no-color': noColor,
        },
        help: `Treats each entry directly under the prefix as one checkpoint — an object, or a "directory" with
everything below it — ordered by the step number in its name (or by time when names carry no
number), and deletes all but the newest N. A trainctl store's checkpoints/ keeps LATEST's target,
and a checkpoint's MANIFEST.json is deleted before its files. The deletions are listed first and
exactly that list is deleted, after confirmation.

Options:
      --keep-last-n <n>     checkpoints to keep (≥ 1)
      --pattern <glob>      only entries whose name matches are considered (e.g. "*.pt")
      --older-than <dur>    only delete entries last modified longer ago than this (e.g. 30d)
      --dry-run             show what would be deleted; delete nothing
  -y, --yes                 do not ask (required when stdin is not a terminal)
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
    ],
    load: () => import('./s3.js'),
  },
  {
    name: 'checkpoint',
    summary: 'List, inspect, clean up and resume from checkpoints',
    usage: 'trainctl checkpoint <list|info|cleanup|resume> [options]',
    options: {},
    help: `Works on a trial's checkpoints in its output store (local or s3://: checkpoints/<step>/ with
MANIFEST.json and LATEST), and on plain directories of checkpoint files such as step-000050.pt.`,
    verbs: [
      {
        name: 'list',
        summary: 'Checkpoints with step, files, size, time and completeness',
        usage: 'trainctl checkpoint list <dir|s3uri> [--output json]',
        options: { 'endpoint-url': endpointUrl, output, 'no-color': noColor },
        help: `<dir|s3uri> is a trial's directory in an output store, its checkpoints/ directory, or any
directory (or prefix) of checkpoint files whose names carry the step (step-000050.pt,
checkpoint-500/). A store checkpoint is complete when its MANIFEST.json is there; LATEST is marked.

Options:
  -o, --output <format>     text (default) or json
      --no-color            no colours (also NO_COLOR=1; off when not a terminal)
${S3_COMMON}`,
      },
      {
        name: 'info',
        summary: "One checkpoint's files, sizes, manifest and checksums",
        usage: 'trainctl checkpoint info <path|s3uri> [--output json]',
        options: { 'endpoint-url': endpointUrl, output },
        help: `<path> is a checkpoint directory (checkpoints/<step>/), a checkpoint file, or a trial or
checkpoints/ directory (then its LATEST). Shows the step, every file with its size, and checks
each against MANIFEST.json by size and sha256. When /usr/bin/python3 has torch, a .pt/.pth/.ckpt
file's top-level keys, tensor count and epoch/step are shown; it is read with an unpickler that
admits only tensors and plain containers, so a checkpoint cannot run code. Exit 1 when a file
does not match its manifest.

Options:
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
      {
        name: 'cleanup',
        summary: 'Delete all but the newest N checkpoints',
        usage: 'trainctl checkpoint cleanup <dir|s3uri> --keep-last-n N [--dry-run] [--yes]',
        options: { 'keep-last-n': { type: 'string' }, 'dry-run': dryRun, yes, 'endpoint-url': endpointUrl, output, 'no-color': noColor },
        help: `Keeps the newest N complete checkpoints and LATEST's target, and deletes the older ones (and
incomplete leftovers older than the newest complete checkpoint). A checkpoint's MANIFEST.json is
deleted before its files, so one half-deleted by a crash is never taken for complete. The
deletions are listed first and exactly that list is deleted, after confirmation.

Options:
      --keep-last-n <n>     complete checkpoints to keep (≥ 1)
      --dry-run             show what would be deleted; delete nothing
  -y, --yes                 do not ask (required when stdin is not a terminal)
  -o, --output <format>     text (default) or json
${S3_COMMON}`,
      },
      {
        name: 'resume',
        summary: 'Make the next apply resume a trial from a chosen checkpoint',
        usage: 'trainctl checkpoint resume <checkpoint> -f <spec> [--trial ID] [--dry-run]',
        options: { file, trial: { type: 'string' }, 'dry-run': dryRun, 'no-color': noColor },
        help: `Points the trial's LATEST at the chosen checkpoint so that the next \`trainctl apply\` resumes
from it, and prints what \`trainctl plan\` will now do. <checkpoint> is a step number, a checkpoint
directory in the trial's store (.../<trial>/checkpoints/<step>), or a checkpoint file or directory
elsewhere (copied into the trial's store as a new checkpoint, step from its name). A trial that
had ended (stopped, failed, succeeded) gets an \`interrupted\` attempt record so the planner resumes
it. A live trial is refused: stop it with \`trainctl destroy\` first.

Options:
  -f, --file <path>         spec file or directory (repeatable; default ./trainjob.yaml)
      --trial <id>          the trial (needed when the job has several and the path names none)
      --dry-run             show what would change and the resulting plan; change nothing
      --no-color            no colours (also NO_COLOR=1; off when not a terminal)`,
      },
    ],
    load: () => import('./checkpoint.js'),
  },
  {
    name: 'experiments',
    summary: 'Compare the trials of a sweep: list, compare, HTML report',
    usage: 'trainctl experiments <list|compare|report> [-f <file|dir>...] [options]',
    options: {},
    help: `Reads the jobs of the given specs as \`trainctl status\` does (the live world and the output
store, every trial's metrics.jsonl) and lines their trials up: best first by the objective
(metrics.objective, its best value) or by --sort <metric>[:min|max] (its final value). Trials
without a value come after the ranked ones, failed trials last. Nothing is changed.`,
    verbs: [
      {
        name: 'list',
        summary: 'Jobs with trial counts, states, best objective and spend',
        usage: 'trainctl experiments list -f <file|dir>... [--output json]',
        options: { file, output, 'no-color': noColor },
        help: `One line per job of the given specs: its trials, how many are in each state, its objective, the
best trial and value so far (failed trials are not ranked), and the spend of every attempt.

Options:
  -f, --file <path>      spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <format>  text (default) or json
      --no-color         no colours (also NO_COLOR=1; off when not a terminal)`,
      },
      {
        name: 'compare',
        summary: "A job's trials side by side, best first",
        usage: 'trainctl experiments compare [<job>] -f <file|dir>... [--sort <metric>[:min|max]] [--output table|json|csv]',
        options: { file, output, sort: { type: 'string' }, 'no-color': noColor },
        help: `One row per trial of the job: rank, state, every parameter, the best objective value and the
step it was reached at, the final value of each metric, step, elapsed time and cost. <job> is a
job name (or project/job) in the specs; it may be left out when they hold one job.

Options:
  -f, --file <path>          spec file or directory (repeatable; default ./trainjob.yaml)
      --sort <metric[:min|max]>
                             rank by this metric's final value (default: the objective's best
                             value along its goal); ascending unless :max
  -o, --output <format>      table (default), json (see README, "Experiments JSON") or csv
                             (RFC 4180; columns param.<name>, best.*, final.<metric>)
      --no-color             no colours (also NO_COLOR=1; off when not a terminal)`,
      },
      {
        name: 'report',
        summary: 'One self-contained HTML page: curves, objective by parameter, table',
        usage: 'trainctl experiments report [<job>] -f <file|dir>... [-o report.html] [--sort <metric>[:min|max]]',
        options: { file, output, sort: { type: 'string' } },
        help: `Writes one HTML file that needs no network: a chart per metric with a curve per trial (by step),
the ranking metric against each parameter (a point per trial), and the comparison table, best
first. Hovering a trial picks it out in every chart. The compare JSON is embedded in the page
(<script id="experiment-data">).

Options:
  -f, --file <path>          spec file or directory (repeatable; default ./trainjob.yaml)
  -o, --output <path>        where to write it (default report.html; - for stdout)
      --sort <metric[:min|max]>
                             rank and plot by this metric's final value instead of the objective`,
      },
    ],
    load: () => import('./experiments.js'),
  },
  {
    name: 'resources',
    summary: 'Cloud instances: list, spend, insights (zombies, orphans) and cleanup',
    usage: 'trainctl resources <list|summary|insights|cleanup> [--region R]... [-f <spec>]... [options]',
    options: {},
    help: `Looks at the EC2 instances of one or more regions: the ones trainctl manages (tagged
trainctl:managed=true) with their trial, age, hourly price and spend so far, and the ones that need
attention. Regions: --region (repeatable or a comma list), else the regions of the specs given with
-f and AWS_REGION / AWS_DEFAULT_REGION. Specs are optional; with them, heartbeats and orphans are
judged from their run stores. Prices: your prices.json ($TRAINCTL_PRICES or $TRAINCTL_HOME/prices.json),
else the live spot price for spot instances, else the built-in list-price table.`,
    verbs: [
      {
        name: 'list',
        summary: 'Managed instances with trial, age, price and spend',
        usage: 'trainctl resources list [--region R]... [-f <spec>]... [--output json]',
        options: { region: RESOURCES.region, file, output, 'no-color': noColor },
        help: `One line per managed instance: id, region, state, type, market (spot or on-demand), project,
job, trial, node rank, attempt (from its tags), age, hourly price and spend so far (price × hours
since launch), then the totals.

Options:
${RESOURCES_COMMON}
  -o, --output <format>     text (default) or json`,
      },
      {
        name: 'summary',
        summary: 'Counts, spend and burn rate per project, job, region and state',
        usage: 'trainctl resources summary [--region R]... [-f <spec>]... [--output json]',
        options: { region: RESOURCES.region, file, output, 'no-color': noColor },
        help: `Managed instances counted and their spend summed per project, job, region and state, and the
hourly burn rate of everything still running.

Options:
${RESOURCES_COMMON}
  -o, --output <format>     text (default) or json`,
      },
      {
        name: 'insights',
        summary: 'Zombies, orphans, idle GPUs and untagged training instances',
        usage: 'trainctl resources insights [--region R]... [-f <spec>]... [--max-age 24h] [--heartbeat-timeout 15m] [--output json]',
        options: { region: RESOURCES.region, file, output, 'max-age': RESOURCES.duration, 'heartbeat-timeout': RESOURCES.duration, 'no-color': noColor },
        help: `Flags what needs attention, each with why and what to do:
  zombie             managed, running longer than --max-age, or no heartbeat (the trial's latest
                     attempt in its run store) for --heartbeat-timeout; heartbeats need the spec (-f)
  orphan             managed, but its trial is in no given spec and no store record (judged only
                     for projects with a spec given, as \`plan --prune\` does)
  idle-gpu           a GPU instance whose trial has ended in the store but that still runs
  untagged-training  no trainctl tag, but a GPU type (g*, p*) or a Name with "train": listed,
                     never touched
Nothing is changed.

Options:
${RESOURCES_COMMON}
      --max-age <dur>            zombie after running this long (default 24h)
      --heartbeat-timeout <dur>  zombie after this long without a heartbeat (default 15m)
  -o, --output <format>          text (default) or json`,
      },
      {
        name: 'cleanup',
        summary: 'Terminate zombie and orphan instances (managed ones only)',
        usage: 'trainctl resources cleanup [<instance-id>...] [--region R]... [-f <spec>]... [--dry-run] [--force] [--yes]',
        options: {
          region: RESOURCES.region, file, output, 'max-age': RESOURCES.duration, 'heartbeat-timeout': RESOURCES.duration,
          'dry-run': dryRun, force: { type: 'boolean' }, yes, 'no-color': noColor,
        },
        help: `Shows the zombies and orphans \`insights\` finds (or only the instances named), and with --force
terminates them after confirmation. Only instances tagged trainctl:managed=true are terminated:
each one's tags are read again right before TerminateInstances, and naming an untagged instance
is refused. Untagged instances are never touched.

Options:
${RESOURCES_COMMON}
      --max-age <dur>            zombie after running this long (default 24h)
      --heartbeat-timeout <dur>  zombie after this long without a heartbeat (default 15m)
      --dry-run                  show what would be terminated; change nothing
      --force                    terminate (without it, cleanup only shows the list)
  -y, --yes                      do not ask (required when stdin is not a terminal)
  -o, --output <format>          text (default) or json`,
      },
    ],
    load: () => import('./resources.js'),
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
  if (!c.verbs) return `Usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n`;
  const width = Math.max(...c.verbs.map((v) => v.name.length));
  return `Usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n\nCommands:\n${c.verbs.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`).join('\n')}

Run \`trainctl ${c.name} <command> --help\` for a command's options.\n`;
}

export function verbHelp(v: VerbDef): string {
  return `Usage: ${v.usage}\n\n${v.summary}.\n\n${v.help}\n`;
}
