// The one expected-failure type of the CLI: a message for the user and an exit code.
// bin.ts catches it once at the top; anything else is a bug and prints a stack.

export class ExitError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly hint?: string) {
    super(message);
    this.name = 'ExitError';
  }
}
