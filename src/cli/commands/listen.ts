/** `microtp listen [host] <port> [-k]`: netcat's server side over µTP. */
import { on } from 'node:events';
import type { Socket } from '../../index.js';
import { applyQlog, boundPort, explainError, formatAddress, hostAndPort, parseCommandLine, resolveHost } from '../args.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, type Command } from '../command.js';
import { listenOn } from '../endpoints.js';
import { abortConnection, untilInterrupted, watchInterrupt } from '../interrupt.js';
import { InputFeeder, relay } from '../relay.js';

const usage = `Usage: microtp listen [host] <port> [-k] [-q] [--qlog <dir>]

Waits for a µTP connection on UDP <port> (all IPv4 addresses, or [host]) and copies
the connection to stdout and stdin to the connection. At EOF on stdin it sends a
FIN and keeps reading until the peer ends too.

Options:
  -k, --keep-listening  after a connection ends, wait for the next one (connections
                        are served one at a time; stdin goes to the current one)
  -q, --quiet           no messages on stderr (errors still are)
  --qlog <dir>          write a qlog trace of each connection into <dir>
  -h, --help            this text

Port 0 picks a free port (printed). For IPv6 give the host: microtp listen :: 6881.

Example:
  microtp listen 6881 > file.bin`;

const options = {
  'keep-listening': { type: 'boolean', short: 'k' },
  quiet: { type: 'boolean', short: 'q' },
  qlog: { type: 'string' },
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, options);
  const { host, port } = hostAndPort(positionals, '0.0.0.0', true);
  applyQlog(values.qlog);
  const say = (text: string): void => {
    if (!values.quiet) process.stderr.write(`microtp listen: ${text}\n`);
  };
  const address = await resolveHost(host);
  const interrupt = watchInterrupt();
  const server = await listenOn(address, port);
  say(`listening on ${formatAddress(address, boundPort(server))}`);

  const feeder = new InputFeeder(process.stdin);
  // Connections queue here while one is served: unread, their windows close and peers wait.
  const connections = on(server, 'connection') as AsyncIterableIterator<[Socket]>;
  let failed = false;
  try {
    for (;;) {
      const next = await untilInterrupted(connections.next(), interrupt);
      if (next === 'interrupted' || next.done) break;
      const [socket] = next.value;
      if (!values['keep-listening']) server.close(); // one connection, as nc without -k
      const peer = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
      say(`connection from ${peer}`);
      const result = await untilInterrupted(relay(socket, feeder, process.stdout), interrupt);
      if (result === 'interrupted') {
        await abortConnection(socket);
        break;
      }
      if (result.error) {
        failed = true;
        process.stderr.write(`microtp listen: ${explainError(result.error, peer)}\n`);
      } else say(`${peer} closed (${result.received} bytes received)`);
      if (!values['keep-listening']) return failed ? EXIT_FAILURE : EXIT_OK;
    }
    say('interrupted');
    return EXIT_INTERRUPTED;
  } finally {
    interrupt.dispose();
    feeder.release();
    if (server.listening) server.close();
  }
}

export default { summary: 'netcat over µTP: wait for a connection, the peer to stdout, stdin to the peer', usage, run } satisfies Command;
