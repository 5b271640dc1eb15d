/** `microtp recv [host] <port> [-o file]`: receives one file from `microtp send`. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { ConnectionStats, Socket } from '../../index.js';
import { applyQlog, boundPort, explainError, formatAddress, hostAndPort, parseCommandLine, resolveHost } from '../args.js';
import { CliError, type Command } from '../command.js';
import { listenOn } from '../endpoints.js';
import { decodeHeader, digestLine, MAX_LINE, parseDigestLine, safeFileName } from '../file-protocol.js';
import { abortConnection, untilInterrupted, watchInterrupt } from '../interrupt.js';
import { Progress } from '../progress.js';
import { StreamReader } from '../stream-reader.js';
import { buildReport, exitCode, formatReport, type Outcome } from '../transfer-report.js';

const usage = `Usage: microtp recv [host] <port> [-o <file>] [--json] [--qlog <dir>]

Waits on UDP <port> (all IPv4 addresses, or [host]) for one "microtp send", writes
the file, and checks its sha256 against the sender's. Progress on stderr when it is
a terminal, a summary at the end; the exit code is 1 if the sha256 differs.

Options:
  -o, --output <file>  where to write it ('-' for stdout); default: the sender's file
                       name in the current directory, which must not exist yet
  --json               print one JSON object at the end, and nothing else (on stdout;
                       on stderr with -o -)
  --qlog <dir>         write a qlog trace of the connection into <dir> (MICROTP_QLOG)
  -h, --help           this text

Port 0 picks a free port (printed, except with --json). For IPv6 give the host: microtp recv :: 6881.

Example:
  microtp recv 6881 -o ubuntu.iso`;

const options = {
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  qlog: { type: 'string' },
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, options);
  const { host, port } = hostAndPort(positionals, '0.0.0.0', true);
  applyQlog(values.qlog);
  const toStdout = values.output === '-';
  const say = (text: string): void => {
    if (!values.json) process.stderr.write(text + '\n');
  };
  const address = await resolveHost(host);
  // Ctrl-C from here on ends with a summary (even before anyone connected).
  const interrupt = watchInterrupt();
  const server = await listenOn(address, port);
  const bound = boundPort(server);
  say(`microtp recv: listening on ${formatAddress(address, bound)} (µTP over UDP); run: microtp send <file> <this host> ${bound}`);

  let socket: Socket | undefined;
  let socketError: Error | undefined;
  let peer = '(nobody)';
  let progress: Progress | undefined;
  let size: number | undefined;
  let received = 0;
  let startedAt = performance.now();
  let endedAt: number | undefined;
  let lastStats: ConnectionStats | undefined;
  let localSha256: string | null = null;
  let peerSha256: string | null = null;
  let file = values.output ?? '(not chosen yet)';
  let output: Writable | undefined;

  const transfer = async (): Promise<void> => {
    const [accepted] = (await once(server, 'connection')) as [Socket];
    socket = accepted;
    server.close(); // one transfer: later connections are refused
    socket.on('error', (error) => (socketError ??= error));
    peer = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    startedAt = performance.now();
    const reader = new StreamReader(socket);
    const header = decodeHeader((await reader.readLine(MAX_LINE)) ?? '');
    size = header.size;

    file = values.output ?? safeFileName(header.name);
    if (toStdout) output = process.stdout;
    else {
      // Without -o the name comes from the peer: never overwrite an existing file with it.
      const stream = createWriteStream(file, { flags: values.output === undefined ? 'wx' : 'w' });
      try {
        await once(stream, 'open');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'EEXIST' ? `${file} exists (choose another name with -o <file>)` : `cannot write ${file} (${code})`;
        await refuse(socket, why);
        throw new CliError(why);
      }
      output = stream;
    }
    say(`microtp recv: ${peer} sends ${header.name} (${header.size} bytes) -> ${toStdout ? 'stdout' : file}`);
    const socketOf = socket;
    progress = new Progress({ stream: process.stderr, label: `recv ${header.name}`, total: size, stats: () => socketOf.stats(), show: 'receiver', quiet: values.json === true });
    progress.start();

    const hash = createHash('sha256');
    for await (const chunk of reader.take(size)) {
      hash.update(chunk);
      progress.update((received += chunk.length));
      if (!output.write(chunk)) await once(output, 'drain');
    }
    const trailer = parseDigestLine(await reader.readLine(MAX_LINE));
    if (trailer instanceof Error) throw trailer;
    peerSha256 = trailer;
    if (!(await reader.atEnd())) throw new Error('the sender sent more than its header announced');
    localSha256 = hash.digest('hex');
    endedAt = performance.now();
    lastStats = socket.stats();
    socket.end(digestLine(localSha256));
    if (output !== process.stdout) {
      output.end();
      await finished(output);
    }
    if (!socket.destroyed) await once(socket, 'close');
  };

  let outcome: Outcome;
  try {
    outcome = (await untilInterrupted(transfer(), interrupt)) ?? 'done';
  } catch (error) {
    outcome = socketError && !(error instanceof CliError) ? new CliError(explainError(socketError, peer)) : (error as Error);
  } finally {
    interrupt.dispose();
  }
  lastStats ??= socket?.stats();
  if (outcome !== 'done') {
    if (socket) await abortConnection(socket);
    if (server.listening) server.close();
    if (output && output !== process.stdout) output.end();
  }
  progress?.stop();

  const report = buildReport({
    role: 'recv',
    file,
    peer,
    size,
    bytes: received,
    seconds: ((endedAt ?? performance.now()) - startedAt) / 1000,
    stats: lastStats,
    localSha256,
    peerSha256,
    outcome,
  });
  if (values.json) (toStdout ? process.stderr : process.stdout).write(JSON.stringify(report) + '\n');
  else process.stderr.write(formatReport(report));
  return exitCode(report);
}

/** Tells the sender why (an `error` line and our FIN), waiting briefly for it to be delivered. */
async function refuse(socket: Socket, why: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    socket.end(`error ${why}\n`, resolve);
    socket.once('close', resolve);
    timer = setTimeout(resolve, 2000);
  });
  clearTimeout(timer);
}

export default { summary: 'receive a file from "microtp send"', usage, run } satisfies Command;
