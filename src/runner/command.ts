// What the runner starts: the command line (resume argument, torchrun rewrite for DDP) and the
// environment given to training code (DESIGN §5). Pure: main.ts and attempt.ts do the spawning.
import { renderTemplate, shellQuote } from '../core/template.js';
import type { RunnerTask } from './task.js';

/** Absolute paths the runner prepares in the node's work dir before starting anything. */
export interface AttemptPaths {
  workDir: string;
  checkpointDir: string;
  metricsFile: string;
  /** The restored checkpoint: the file when it is one file, else the directory. */
  resumeFrom?: string;
}

export function trainingEnv(task: RunnerTask, paths: AttemptPaths, base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  // the node record belongs to the runner: training code must not be mistaken for it
  delete env.TRAINCTL_NODE_RECORD;
  Object.assign(env, task.env);
  for (const [name, value] of Object.entries(task.parameters)) env[`HP_${name.toUpperCase()}`] = String(value);
  Object.assign(env, {
    TRAINCTL_PROJECT: task.project,
    TRAINCTL_JOB: task.job,
    TRAINCTL_TRIAL: task.trial,
    TRAINCTL_ATTEMPT: String(task.attempt),
    TRAINCTL_NODE_RANK: String(task.nodeRank),
    TRAINCTL_NODES: String(task.nodes),
    TRAINCTL_NPROC_PER_NODE: String(task.nprocPerNode),
    TRAINCTL_CHECKPOINT_DIR: paths.checkpointDir,
    TRAINCTL_METRICS_FILE: paths.metricsFile,
    PYTHONUNBUFFERED: '1',
  });
  if (paths.resumeFrom !== undefined) env.TRAINCTL_RESUME_FROM = paths.resumeFrom;
  else delete env.TRAINCTL_RESUME_FROM;
  if (task.gpus !== undefined) env.CUDA_VISIBLE_DEVICES = task.gpus.join(',');
  if (task.distributed) {
    Object.assign(env, {
      TRAINCTL_DDP_BACKEND: task.distributed.backend,
      TRAINCTL_MASTER_ADDR: task.distributed.masterAddr,
      TRAINCTL_MASTER_PORT: String(task.distributed.masterPort),
    });
  }
  return env;
}

/** The command with the resume argument appended when the attempt restores a checkpoint. */
export function withResumeArg(command: string, resumeArg: string, resumeFrom: string | undefined): string {
  if (resumeFrom === undefined || resumeArg.trim() === '') return command;
  return `${command} ${renderTemplate(resumeArg, { path: resumeFrom })}`;
}

export type LauncherKind = 'python' | 'torchrun';

export interface DistributedCommand {
  command: string;
  /** The interpreter that runs torch.distributed.run, for probing it; undefined for torchrun. */
  python?: string;
  kind: LauncherKind;
}

const PYTHON_WORD = /^(?:\S*\/)?python3?(?:\.\d+)?$/;
const TORCHRUN_WORD = /^(?:\S*\/)?torchrun$/;
/** Python options that take a value as the next word. */
const PYTHON_VALUE_OPTS = new Set(['-W', '-X', '--check-hash-based-pycs']);

/**
 * Rewrites `python … script args` or `torchrun … script args` to launch through
 * torch.distributed.run with this node's place in the job. Undefined when the command starts with
 * anything else (`cd x && …`, `accelerate launch …`): it then runs as written, and the code finds
 * its place in the TRAINCTL_* variables. `redirectMap` works around the Python 3.11 crash of
 * torch < 2 (DESIGN §9): a per-rank map parses where the plain value does not.
 */
export function distributedCommand(command: string, task: RunnerTask, redirectMap: boolean): DistributedCommand | undefined {
  const d = task.distributed;
  if (!d) return undefined;
  const words = leadingWords(command);
  const first = words[0];
  if (first === undefined) return undefined;
  const flags = [
    '--nnodes', task.nodes, '--nproc_per_node', task.nprocPerNode, '--node_rank', task.nodeRank,
    '--master_addr', shellQuote(d.masterAddr), '--master_port', d.masterPort, '--max_restarts', 0, '--monitor_interval', 1,
    ...(redirectMap ? ['--redirects', '9:0', '--tee', '9:0'] : []),
  ].join(' ');
  if (TORCHRUN_WORD.test(first.word)) {
    return { kind: 'torchrun', command: `${first.word} ${flags}${command.slice(first.end)}` };
  }
  if (!PYTHON_WORD.test(first.word)) return undefined;
  // interpreter options stay with the interpreter; `-m module` becomes torchrun's `-m`
  let i = 1;
  while (i < words.length && words[i]!.word.startsWith('-') && words[i]!.word !== '-m') {
    if (words[i]!.word === '-c') return undefined;
    i += PYTHON_VALUE_OPTS.has(words[i]!.word) ? 2 : 1;
  }
  // an option value we could not read as a plain word: leave the command alone
  if (i > words.length) return undefined;
  const optsEnd = words[i - 1]!.end;
  const pythonPart = command.slice(0, optsEnd);
  const rest = command.slice(optsEnd);
  return { kind: 'python', python: first.word, command: `${pythonPart} -m torch.distributed.run ${flags}${rest}` };
}

/** Leading plain words (no quotes or shell syntax), with where each ends; stops at the first other. */
function leadingWords(command: string): { word: string; end: number }[] {
  const out: { word: string; end: number }[] = [];
  const re = /\s*([^\s'"`$\\;&|<>()]+)(?=\s|$)/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(command))) out.push({ word: m[1]!, end: re.lastIndex });
  return out;
}
