// The shell script SSM runs on a new instance (AWS-RunShellScript, as root): install node when the
// image lacks it, fetch the runner and the code, write task.json, start the runner in the
// background and return. When the runner exits (the trial ended, was stopped or interrupted) the
// instance powers off, and InstanceInitiatedShutdownBehavior=terminate makes that a termination:
// a finished trial never leaves a machine burning money. Pure: text in, text out.
import { shellQuote } from '../../core/template.js';
import type { RunnerTask } from '../../runner/task.js';

/** The node version installed where the image has none (or one older than the runner needs). */
export const NODE_VERSION = '20.18.1';

export interface BootstrapInput {
  /** The task without workDir (the script sets it from where it unpacks the code). */
  task: Omit<RunnerTask, 'workDir'>;
  runnerUrl: string;
  codeUrl: string;
  /** Watch IMDS for a spot interruption notice (spot instances). */
  spot: boolean;
}

/** Where on the node this attempt's files live, relative to $HOME (root's home on EC2). */
export function nodeDirName(task: Pick<RunnerTask, 'trial' | 'attempt' | 'nodeRank'>): string {
  return `trainctl/${task.trial}-a${task.attempt}-r${task.nodeRank}`;
}

/** Shared by the bootstrap and terminate: the runner's pid, for a graceful SIGTERM. */
export const RUNNER_PID_FILE = 'trainctl/runner.pid';

/**
 * The steps every provider's bootstrap shares, run in the node's attempt dir (`$base`, the current
 * dir): node ≥ 18 (the image's, else an official build), the runner and the code fetched through
 * their links, task.json written with `$base/work` as the work dir.
 */
export function prepareNodeLines(input: Omit<BootstrapInput, 'spot'>): string[] {
  const taskB64 = Buffer.from(JSON.stringify(input.task)).toString('base64');
  // A node one-liner fetches with retries: curl and wget are not on every image, node is (now).
  const fetchJs = `const [u,f]=process.argv.slice(1);(async()=>{for(let i=1;;i++){try{const r=await fetch(u);if(!r.ok)throw new Error('HTTP '+r.status);require('fs').writeFileSync(f,Buffer.from(await r.arrayBuffer()));return}catch(e){if(i>=5){console.error('trainctl bootstrap: cannot fetch '+f+': '+e.message);process.exit(1)}await new Promise(r=>setTimeout(r,i*1000))}}})()`;
  const taskJs = `const fs=require('fs');const t=JSON.parse(Buffer.from(process.argv[1],'base64'));t.workDir=process.argv[2];fs.writeFileSync('task.json',JSON.stringify(t))`;
  return [
    '# node ≥ 18 for the runner: the image\'s, else an official build',
    'major=$(node -p "process.versions.node.split(\'.\')[0]" 2>/dev/null || echo 0)',
    'if [ "$major" -lt 18 ]; then',
    '  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "trainctl bootstrap: unsupported CPU $(uname -m)" >&2; exit 1 ;; esac',
    `  curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-$arch.tar.xz" | tar -xJ -C /opt`,
    `  export PATH="/opt/node-v${NODE_VERSION}-linux-$arch/bin:$PATH"`,
    'fi',
    `node -e ${shellQuote(fetchJs)} ${shellQuote(input.runnerUrl)} runner.js`,
    `node -e ${shellQuote(fetchJs)} ${shellQuote(input.codeUrl)} code.tgz`,
    'rm -rf work && mkdir work && tar -xzf code.tgz -C work && rm code.tgz',
    `node -e ${shellQuote(taskJs)} ${shellQuote(taskB64)} "$base/work"`,
  ];
}

export function bootstrapScript(input: BootstrapInput): string {
  const dir = nodeDirName(input.task);
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    'export HOME="${HOME:-/root}"',
    `base="$HOME/${dir}"`,
    'mkdir -p "$base" && cd "$base"',
    '# sent twice (a re-run apply adopting this node): one runner is enough',
    `if [ -s "$HOME/${RUNNER_PID_FILE}" ] && kill -0 "$(cat "$HOME/${RUNNER_PID_FILE}")" 2>/dev/null; then echo "trainctl: runner already running"; exit 0; fi`,
    ...prepareNodeLines(input),
    `export TRAINCTL_SPOT_WATCH=${input.spot ? '1' : '0'}`,
    // setsid + nohup: the runner outlives this SSM command; the wrapper powers off when it ends
    `setsid nohup bash -c 'node runner.js task.json >runner.out 2>&1 & echo $! > "$HOME/${RUNNER_PID_FILE}"; wait $!; \${TRAINCTL_POWEROFF:-shutdown -h now}' >/dev/null 2>&1 </dev/null &`,
    `for i in $(seq 1 50); do [ -s "$HOME/${RUNNER_PID_FILE}" ] && break; sleep 0.1; done`,
    `echo "trainctl: runner started in $base (pid $(cat "$HOME/${RUNNER_PID_FILE}"))"`,
  ].join('\n');
}

/**
 * SIGTERM to the runner (it forwards it to training, waits for the final checkpoint and uploads
 * it), then wait for it to exit, up to `waitSeconds`.
 */
export function stopScript(waitSeconds: number): string {
  return [
    '#!/bin/bash',
    'export HOME="${HOME:-/root}"',
    `f="$HOME/${RUNNER_PID_FILE}"`,
    '[ -s "$f" ] || { echo "trainctl: no runner on this node"; exit 0; }',
    'pid=$(cat "$f")',
    'kill -TERM "$pid" 2>/dev/null || { echo "trainctl: runner already gone"; exit 0; }',
    `for i in $(seq 1 ${Math.max(1, Math.ceil(waitSeconds))}); do kill -0 "$pid" 2>/dev/null || { echo "trainctl: runner stopped"; exit 0; }; sleep 1; done`,
    'echo "trainctl: runner still running after the wait" >&2; exit 1',
  ].join('\n');
}
