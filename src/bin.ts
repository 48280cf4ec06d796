#!/usr/bin/env node
// trainctl's entry point: argv → command, one top-level catch. An ExitError is an expected
// failure (one line and a hint); anything else is a bug and prints its stack.
import { parseArgs } from 'node:util';
import { COMMANDS, commandHelp, globalHelp, verbHelp, type VerbDef } from './cli/commands.js';
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
  let args = rest;
  let verb: VerbDef | undefined;
  if (command.verbs) {
    const [word, ...after] = rest;
    if (word === undefined || word === '-h' || word === '--help' || word === 'help') {
      process.stdout.write(commandHelp(command));
      return word === undefined ? 1 : 0;
    }
    verb = command.verbs.find((v) => v.name === word);
    if (!verb) {
      const guess = didYouMean(word, command.verbs.map((v) => v.name));
      throw new ExitError(`unknown command "${name} ${word}"`, 1, guess ? `did you mean \`trainctl ${name} ${guess}\`?` : `run \`trainctl ${name} --help\` for the list`);
    }
    args = after;
  }
  const options = verb?.options ?? command.options;
  const [ours, passed] = command.passThrough ? splitAtPositional(args, options) : [args, []];
  if (ours.includes('-h') || ours.includes('--help')) {
    process.stdout.write(verb ? verbHelp(verb) : commandHelp(command));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: ours, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ExitError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`, 1, `see \`trainctl ${name}${verb ? ` ${verb.name}` : ''} --help\``);
  }
  const mod = await command.load();
  return mod.run({
    ...(verb ? { verb: verb.name } : {}),
    values: parsed.values as Record<string, string | boolean | string[] | undefined>,
    positionals: [...parsed.positionals, ...passed],
    cwd: process.cwd(),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
  });
}

/** Splits argv at the first positional: what follows belongs to it, flags included. */
function splitAtPositional(args: string[], options: (typeof COMMANDS)[number]['options']): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return [args.slice(0, i), args.slice(i + 1)];
    if (!a.startsWith('-') || a === '-') return [args.slice(0, i + 1), args.slice(i + 1)];
    const name = a.startsWith('--') ? a.slice(2).split('=')[0]! : Object.keys(options).find((k) => options[k]!.short === a.slice(1));
    if (name && !a.includes('=') && options[name]?.type === 'string') i++;
  }
  return [args, []];
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
