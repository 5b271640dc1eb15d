/**
 * What every `microtp` subcommand exports (src/cli/commands/<name>.ts, registered in main.ts):
 * a one-line summary for the overall usage, its own usage text for `--help` and for errors, and
 * `run(argv)` with the arguments after the subcommand's name, resolving to the exit code.
 */
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Exit codes shared by the subcommands. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** A wrong argument: the usage is printed (as getopt-based tools do). */
export const EXIT_USAGE = 2;
/** Ended by Ctrl-C (128 + SIGINT), after a summary of what was done so far. */
export const EXIT_INTERRUPTED = 130;

/** A wrong argument. main.ts prints the message and the command's usage, and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the user can act on: main.ts prints only the message (no stack) and exits with 1. */
export class CliError extends Error {
  override name = 'CliError';
}
