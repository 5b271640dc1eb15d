/** `microtp send <file> <host> <port>`: one file to `microtp recv`, with progress and sha256 checked at both ends. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { connect, type ConnectionStats } from '../../index.js';
import { applyQlog, explainError, formatAddress, parseCommandLine, parseHost, parsePort, resolveHost } from '../args.js';
import { CliError, UsageError, type Command } from '../command.js';
import { connected } from '../endpoints.js';
import { digestLine, encodeHeader, MAX_LINE, parseDigestLine } from '../file-protocol.js';
import { abortConnection, untilInterrupted, watchInterrupt } from '../interrupt.js';
import { Progress } from '../progress.js';
import { StreamReader } from '../stream-reader.js';
import { buildReport, exitCode, formatReport, type Outcome } from '../transfer-report.js';

const usage = `Usage: microtp send <file> <host> <port> [--json] [--qlog <dir>]

Sends <file> over µTP to "microtp recv" listening on <host> <port>, with a progress
line on stderr (when it is a terminal) and a summary at the end. Both ends compute
the file's sha256 and compare them; the exit code is 1 if they differ.

Options:
  --json         print one JSON object on stdout at the end, and nothing else
  --qlog <dir>   write a qlog trace of the connection into <dir> (MICROTP_QLOG)
  -h, --help     this text

<host> is a name or an IPv4/IPv6 address ([::1] and ::1 both work).

Example:
  microtp send ./ubuntu.iso 192.168.1.20 6881`;

const options = {
  json: { type: 'boolean' },
  qlog: { type: 'string' },
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, options);
  if (positionals.length < 3) throw new UsageError('expected <file> <host> <port>');
  if (positionals.length > 3) throw new UsageError(`too many arguments: ${positionals.slice(3).join(' ')}`);
  const [file, hostText, portText] = positionals as [string, string, string];
  const port = parsePort(portText);
  const host = parseHost(hostText);
  applyQlog(values.qlog);

  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file} (${error.code ?? error.message})`);
  });
  if (!info.isFile()) throw new CliError(`${file} is not a regular file`);
  const size = info.size;
  const address = await resolveHost(host);
  const peer = formatAddress(address, port);

  const socket = connect({ port, host: address, allowHalfOpen: true });
  let socketError: Error | undefined;
  socket.on('error', (error) => (socketError ??= error));
  const progress = new Progress({ stream: process.stderr, label: `send ${basename(file)}`, total: size, stats: () => socket.stats(), show: 'sender', quiet: values.json === true });
  let sent = 0;
  let startedAt = performance.now();
  let endedAt: number | undefined;
  let lastStats: ConnectionStats | undefined;
  let localSha256: string | null = null;
  let peerSha256: string | null = null;
  /** The receiver's answer if it came before we finished (a refusal: the reason to report). */
  let early: string | Error | undefined;

  const transfer = async (): Promise<void> => {
    await connected(socket, peer);
    startedAt = performance.now();
    progress.start();
    const reader = new StreamReader(socket);
    // Read the reply from the start: a receiver that refuses (file exists) answers at once.
    const reply = reader.readLine(MAX_LINE);
    reply.then((line) => (early = parseDigestLine(line)), (error: Error) => (early = error));

    socket.write(encodeHeader({ name: basename(file), size }));
    const hash = createHash('sha256');
    let read = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      if (early instanceof Error) throw early;
      if (socketError) throw socketError;
      read += chunk.length;
      hash.update(chunk);
      // The write callback means the bytes are in packets: count them as sent then.
      const more = socket.write(chunk, (error) => {
        if (!error) progress.update((sent += chunk.length));
      });
      if (!more) await once(socket, 'drain');
    }
    if (read !== size) throw new CliError(`${file} changed size while being sent (${size} -> ${read} bytes)`);
    localSha256 = hash.digest('hex');
    socket.end(digestLine(localSha256));

    const answer = parseDigestLine(await reply);
    if (answer instanceof Error) throw answer;
    peerSha256 = answer;
    endedAt = performance.now();
    lastStats = socket.stats();
    if (!(await reader.atEnd())) throw new Error('the receiver sent more than its sha256');
    if (!socket.destroyed) await once(socket, 'close');
  };

  const interrupt = watchInterrupt();
  let outcome: Outcome;
  try {
    outcome = (await untilInterrupted(transfer(), interrupt)) ?? 'done';
  } catch (error) {
    // A refusal from the receiver explains the reset that follows it; a reset alone gets explained.
    if (early instanceof Error) outcome = early;
    else outcome = socketError && !(error instanceof CliError) ? new CliError(explainError(socketError, peer)) : (error as Error);
  } finally {
    interrupt.dispose();
  }
  lastStats ??= socket.stats();
  if (outcome !== 'done') await abortConnection(socket);
  progress.stop();

  const report = buildReport({
    role: 'send',
    file,
    peer,
    size,
    bytes: sent,
    seconds: ((endedAt ?? performance.now()) - startedAt) / 1000,
    stats: lastStats,
    localSha256,
    peerSha256,
    outcome,
  });
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n');
  else process.stderr.write(formatReport(report));
  return exitCode(report);
}

export default { summary: 'send a file to "microtp recv", with progress and sha256 checked', usage, run } satisfies Command;
