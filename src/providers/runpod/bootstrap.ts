// What a pod runs: its start command (the container's main process, in the foreground) decodes
// the bootstrap from the pod env and runs it. The bootstrap shares the aws one's steps (node,
// runner, code, task.json), then runs the runner in the foreground, forwards SIGTERM to it (RunPod
// stops a pod, and takes an interruptible one away, by SIGTERM to the main process and SIGKILL
// later), and when the runner ends deletes its own pod through the REST API. RunPod restarts a
// container whose main process exits, so exiting is no way to end: the pod must delete itself, or
// it would keep billing (and run the attempt again). Pure: text in, text out.
import { shellQuote } from '../../core/template.js';
import type { RunnerTask } from '../../runner/task.js';
import { prepareNodeLines } from '../aws/bootstrap.js';

/** The pod env var that carries the bootstrap (base64): the start command stays one short line. */
export const BOOTSTRAP_ENV = 'TRAINCTL_BOOTSTRAP';

/**
 * Where the pod's REST API is, for the bootstrap's self-delete (the provider passes its own
 * RUNPOD_REST_URL). The key is RUNPOD_API_KEY, the pod-scoped key RunPod puts in every pod, never
 * the user's: a pod can end itself and nothing else.
 */
export const REST_URL_ENV = 'TRAINCTL_RUNPOD_REST_URL';

/**
 * The start command (GraphQL `dockerArgs`; RunPod splits it like a shell into the container's
 * CMD). `eval` keeps the bootstrap in the main process, so the stop signal reaches its trap.
 */
export const START_COMMAND = `bash -c 'eval "$(printf %s "$${BOOTSTRAP_ENV}" | base64 -d)"'`;

export interface PodBootstrapInput {
  task: Omit<RunnerTask, 'workDir'>;
  runnerUrl: string;
  codeUrl: string;
}

/** The attempt's dir on the pod volume (/workspace: it outlives a container restart, the container disk does not). */
export function podDirName(task: Pick<RunnerTask, 'trial' | 'attempt' | 'nodeRank'>): string {
  return `trainctl/${task.trial}-a${task.attempt}-r${task.nodeRank}`;
}

// DELETE /pods/{id} with the pod-scoped key; 404 means already gone, which is what we want.
const DELETE_JS = `fetch(process.argv[1],{method:'DELETE',headers:{authorization:'Bearer '+(process.env.RUNPOD_API_KEY||'')}}).then(r=>process.exit(r.ok||r.status===404?0:1),()=>process.exit(1))`;

export function podBootstrapScript(input: PodBootstrapInput): string {
  const dir = podDirName(input.task);
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    'export HOME="${HOME:-/root}"',
    // TRAINCTL_POD_ROOT: the emulator's stand-in for the volume mount; unset on RunPod
    `base="\${TRAINCTL_POD_ROOT:-/workspace}/${dir}"`,
    'mkdir -p "$base" && cd "$base"',
    'end_pod() {',
    '  trap - EXIT',
    '  [ -n "${RUNPOD_POD_ID:-}" ] || { echo "trainctl: no RUNPOD_POD_ID: not on a pod, nothing to end"; return 0; }',
    `  url="\${${REST_URL_ENV}:-https://rest.runpod.io/v1}/pods/$RUNPOD_POD_ID"`,
    '  for i in 1 2 3 4 5 6; do',
    `    if command -v node >/dev/null 2>&1 && node -e ${shellQuote(DELETE_JS)} "$url"; then echo "trainctl: pod $RUNPOD_POD_ID deleted"; return 0; fi`,
    '    if command -v runpodctl >/dev/null 2>&1 && runpodctl remove pod "$RUNPOD_POD_ID"; then return 0; fi',
    '    sleep $((i * 5))',
    '  done',
    // waiting rather than exiting: a restarted container would only try again at once
    '  echo "trainctl: could not delete pod $RUNPOD_POD_ID; trainctl resources cleanup deletes it" >&2; sleep 600',
    '}',
    // every way out ends the pod: the runner's end, a failed bootstrap, a stop signal
    'trap end_pod EXIT',
    '# a restarted container after the runner ended: only the pod is left to end',
    'if [ -e done ]; then echo "trainctl: the runner has ended; ending the pod"; exit 0; fi',
    ...prepareNodeLines(input),
    // pods have no IMDS spot notice: RunPod's notice is the SIGTERM itself
    'export TRAINCTL_SPOT_WATCH=0',
    'node runner.js task.json >>runner.out 2>&1 &',
    'runner=$!',
    'trap \'kill -TERM "$runner" 2>/dev/null || true\' TERM INT',
    'echo "trainctl: runner started in $base (pid $runner)"',
    'rc=0',
    'wait "$runner" || rc=$?',
    // a trapped signal ends `wait` early: wait on until the runner itself has ended
    'while kill -0 "$runner" 2>/dev/null; do wait "$runner" || rc=$?; done',
    'touch done',
    'echo "trainctl: runner ended (exit $rc)"',
  ].join('\n');
}
