// The runner's entry point: `node runner.js <task.json>`, started by a launcher on every node.
// Bundled alone into dist/runner.js, so it runs with nothing but node.
import { openRunStore } from '../store/open.js';
import { AttemptRun } from './attempt.js';
import { watchSpotNotice } from './spot.js';
import { readRunnerTask } from './task-file.js';

const say = (line: string) => process.stderr.write(`trainctl-runner: ${line}\n`);

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 1) {
    say('usage: node runner.js <task.json>');
    return 2;
  }
  const task = readRunnerTask(argv[0]!);
  if ('error' in task) {
    say(`bad task file ${task.error}`);
    return 2;
  }
  const store = await openRunStore(task.storeUri);
  if ('error' in store) {
    say(store.hint ? `${store.error} — ${store.hint}` : store.error);
    return 2;
  }
  const run = new AttemptRun(task, store, say);
  process.on('SIGTERM', () => run.interrupt('signal'));
  process.on('SIGINT', () => run.interrupt('signal'));
  // on a spot instance (the aws bootstrap sets this) the reclaim notice stops the attempt like SIGTERM
  if (process.env.TRAINCTL_SPOT_WATCH === '1') {
    watchSpotNotice((a) => {
      say(`spot interruption notice (${a.action}${a.time ? ` at ${a.time}` : ''})`);
      run.interrupt('spot-notice');
    }, { say });
  }
  // the runner's own bugs still end the attempt in a terminal state, with the children stopped
  const fatal = (err: unknown) => void run.crash(err).then((code) => process.exit(code), () => process.exit(1));
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  return run.run();
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // anything left (a stuck store call) must not keep a finished runner alive
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    say(`failed before the attempt started: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
