#!/usr/bin/env node
// trainctl's entry point: argv → command, one top-level catch. An ExitError is an expected
// failure (one line and a hint); anything else is a bug and prints its stack.
import { parseArgs } from 'node:util';
import { COMMANDS, commandHelp, globalHelp } from './cli/commands.js';
import { didYouMean } from './core/diagnostics.js';
import { ExitError } from './core/errors.js';

declare const __TRAINCTL_VERSION__: string;
const VERSION = typeof __TRAINCTL_VERSION__ === 'string' ? __TRAINCTL_VERSION__ : '0.0.0-dev';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(globalHelp(VERSION));
    return name === undefined ? 1 : 0;
  }
  if (name === '-v' || name === '--version' || name === 'version') {
    process.stdout.write(`trainctl ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const guess = didYouMean(name, COMMANDS.map((c) => c.name));
    throw new ExitError(`unknown command "${name}"`, 1, guess ? `did you mean \`trainctl ${guess}\`?` : 'run `trainctl --help` for the list');
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ExitError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`, 1, `see \`trainctl ${name} --help\``);
  }
  const mod = await command.load();
  return mod.run({
    values: parsed.values as Record<string, string | boolean | string[] | undefined>,
    positionals: parsed.positionals,
    cwd: process.cwd(),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof ExitError) {
      process.stderr.write(`error: ${err.message}${err.hint ? ` — ${err.hint}` : ''}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`trainctl: internal error (a bug; please report it)\n${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
