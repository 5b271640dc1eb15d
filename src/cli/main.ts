#!/usr/bin/env node
/**
 * The `microtp` command (package.json "bin"). Each subcommand is a module in commands/
 * (see command.ts for its shape); this file only dispatches: overall usage, `--help`,
 * `--version`, and usage + exit 2 for a wrong argument or an unknown command.
 */
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';
import bench from './commands/bench.js';
import connect from './commands/connect.js';
import listen from './commands/listen.js';
import plot from './commands/plot.js';
import recv from './commands/recv.js';
import send from './commands/send.js';
import { version } from './version.js';

/** Subcommands by name, in the order the usage lists them. */
const commands: Record<string, Command> = { listen, connect, send, recv, bench, plot };

function overallUsage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    'Usage: microtp <command> [arguments]',
    '',
    'µTP (BEP 29) from the command line. Commands:',
    ...lines,
    '',
    'microtp <command> --help   a command\'s arguments and an example',
    'microtp --version          the version',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : commands[topic];
    // Asked for: stdout and success. No command at all: a usage error, on stderr.
    (name === undefined ? process.stderr : process.stdout).write((command ? command.usage : overallUsage()) + '\n');
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`microtp ${version()} (node ${process.version})\n`);
    return EXIT_OK;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`microtp: unknown command "${name}"\n\n${overallUsage()}\n`);
    return EXIT_USAGE;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(command.usage + '\n');
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`microtp ${name}: ${error.message}\n\n${command.usage}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`microtp ${name}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}

// A reader that goes away (`microtp listen 6881 | head -c 100`) is the end of our output, not a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await main(process.argv.slice(2));
// Exit once stdout has taken everything: a handle left open (a terminal on stdin) must not
// keep the command alive, and the data written must not be cut short.
process.stdout.write('', () => process.exit(code));
