/** `microtp connect <host> <port>`: netcat's client side over µTP. */
import { connect } from '../../index.js';
import { applyQlog, explainError, formatAddress, parseCommandLine, parseHost, parsePort, resolveHost } from '../args.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, type Command } from '../command.js';
import { connected } from '../endpoints.js';
import { abortConnection, untilInterrupted, watchInterrupt } from '../interrupt.js';
import { InputFeeder, relay } from '../relay.js';

const usage = `Usage: microtp connect <host> <port> [-q] [--qlog <dir>]

Connects to <host> <port> over µTP (e.g. "microtp listen", or any µTP peer) and
copies stdin to the connection and the connection to stdout. At EOF on stdin it
sends a FIN and keeps reading until the peer ends too, so a file moves byte-exact.

Options:
  -q, --quiet    no messages on stderr (errors still are)
  --qlog <dir>   write a qlog trace of the connection into <dir> (MICROTP_QLOG)
  -h, --help     this text

Example:
  microtp connect 127.0.0.1 6881 < file.bin`;

const options = {
  quiet: { type: 'boolean', short: 'q' },
  qlog: { type: 'string' },
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, options);
  if (positionals.length < 2) throw new UsageError('expected <host> <port>');
  if (positionals.length > 2) throw new UsageError(`too many arguments: ${positionals.slice(2).join(' ')}`);
  const host = parseHost(positionals[0]!);
  const port = parsePort(positionals[1]);
  applyQlog(values.qlog);
  const address = await resolveHost(host);
  const peer = formatAddress(address, port);

  const socket = connect({ port, host: address, allowHalfOpen: true });
  const feeder = new InputFeeder(process.stdin);
  const interrupt = watchInterrupt();
  try {
    if ((await untilInterrupted(connected(socket, peer), interrupt)) === 'interrupted') {
      await abortConnection(socket);
      return EXIT_INTERRUPTED;
    }
    const result = await untilInterrupted(relay(socket, feeder, process.stdout), interrupt);
    if (result === 'interrupted') {
      await abortConnection(socket);
      if (!values.quiet) process.stderr.write(`\nmicrotp connect: interrupted after ${feeder.sent} bytes out\n`);
      return EXIT_INTERRUPTED;
    }
    if (result.error) {
      process.stderr.write(`microtp connect: ${explainError(result.error, peer)}\n`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  } finally {
    interrupt.dispose();
    feeder.release();
  }
}

export default { summary: 'netcat over µTP: connect, stdin to the peer, the peer to stdout', usage, run } satisfies Command;
