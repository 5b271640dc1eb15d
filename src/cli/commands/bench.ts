/**
 * `microtp bench`: a throughput and latency check whose table can be pasted into an issue.
 * Without a peer it starts a sink in a child process on loopback (`bench --serve 0`), so
 * sender and receiver get a core each, as two real peers would.
 *
 * Protocol (sink = `microtp bench --serve <port>`):
 *   client -> sink  `microtp-bench/1 {"pings":P,"size":N}\n`, then P times: 64 bytes, waiting
 *                   for the sink to echo them (the ping-pong latency), then N bytes
 *   sink -> client  the P echoes, then `{"bytes":N,"ms":<first to last byte>,"cpuMs":<sink CPU>}\n`
 *                   and FIN; the client ends too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus, release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type ConnectionStats, type Socket } from '../../index.js';
import { applyQlog, boundPort, explainError, formatAddress, parseCommandLine, parseHost, parsePort, resolveHost } from '../args.js';
import { CliError, EXIT_INTERRUPTED, EXIT_OK, UsageError, type Command } from '../command.js';
import { formatBytes, formatMs, formatRate } from '../format.js';
import { untilInterrupted, watchInterrupt } from '../interrupt.js';
import { StreamReader } from '../stream-reader.js';
import { version } from '../version.js';

const usage = `Usage: microtp bench [<host> <port>] [--size <MiB>] [--pings <n>] [--json] [--qlog <dir>]
       microtp bench --serve <port> [--host <address>]

Measures µTP throughput (a bulk transfer) and latency (ping-pong round trips) and
prints a table to paste into an issue. Without <host> <port> it runs on loopback
against a sink it starts in a child process; with them, against a sink started
there with "microtp bench --serve <port>".

Options:
  --size <MiB>       bytes to transfer, in MiB (default 64)
  --pings <n>        ping-pong round trips before the transfer (default 20)
  --json             print one JSON object instead of the table
  --qlog <dir>       write a qlog trace of the connection into <dir> (MICROTP_QLOG)
  --serve <port>     run the sink: answer bench clients until Ctrl-C (0: any free port)
  --host <address>   the sink's address (default 0.0.0.0; :: for IPv6)
  -h, --help         this text

Examples:
  microtp bench
  microtp bench --serve 6881            (on the other machine, then:)
  microtp bench 192.168.1.20 6881`;

const options = {
  size: { type: 'string' },
  pings: { type: 'string' },
  json: { type: 'boolean' },
  qlog: { type: 'string' },
  serve: { type: 'string' },
  host: { type: 'string' },
} as const;

const HEADER_PREFIX = 'microtp-bench/1 ';
const PING_BYTES = 64;
const CHUNK = 256 * 1024;
const SINK_READY = /listening on (\S+)/;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, options);
  applyQlog(values.qlog);
  if (values.serve !== undefined) {
    if (positionals.length > 0) throw new UsageError('--serve takes no <host> <port>; use --host <address>');
    return serve(await resolveHost(parseHost(values.host ?? '0.0.0.0')), parsePort(values.serve, true));
  }
  if (values.host !== undefined) throw new UsageError('--host is for --serve; a client names the sink as <host> <port>');
  const size = positiveNumber(values.size ?? '64', '--size') * 1024 * 1024;
  const pings = Math.round(positiveNumber(values.pings ?? '20', '--pings', true));
  if (positionals.length !== 0 && positionals.length !== 2) throw new UsageError('expected no arguments (loopback) or <host> <port>');

  let child: ChildProcess | undefined;
  let address: string;
  let port: number;
  let where: string;
  if (positionals.length === 2) {
    address = await resolveHost(parseHost(positionals[0]!));
    port = parsePort(positionals[1]);
    where = 'remote sink';
  } else {
    ({ child, port } = await startChildSink());
    address = '127.0.0.1';
    where = 'loopback, sink in a child process';
  }
  const interrupt = watchInterrupt();
  try {
    const result = await untilInterrupted(measure(address, port, Math.round(size), pings), interrupt);
    if (result === 'interrupted') {
      process.stderr.write('microtp bench: interrupted\n');
      return EXIT_INTERRUPTED;
    }
    const report = { ...environment(), peer: formatAddress(address, port), where, ...result };
    process.stdout.write(values.json ? JSON.stringify(report) + '\n' : table(report));
    return EXIT_OK;
  } finally {
    interrupt.dispose();
    child?.kill();
  }
}

function positiveNumber(text: string, name: string, allowZero = false): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new UsageError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${text}"`);
  }
  return n;
}

function environment() {
  const cpu = cpus();
  return {
    microtp: version(),
    node: process.version,
    platform: `${process.platform} ${release()} ${process.arch}, ${cpu.length} CPUs${cpu[0] ? ` (${cpu[0].model.trim()})` : ''}`,
  };
}

/** `bench` without a peer: the sink as a child process; resolves with its port once it listens. */
async function startChildSink(): Promise<{ child: ChildProcess; port: number }> {
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'bench', '--serve', '0', '--host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = SINK_READY.exec(line);
    if (match) return { child, port: Number(match[1]!.slice(match[1]!.lastIndexOf(':') + 1)) };
  }
  throw new CliError('the loopback sink (a child process) did not start');
}

/** The sink: serves bench clients, any number at once, until Ctrl-C or SIGTERM. */
async function serve(address: string, port: number): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {}); // a client that goes away is its own business
    void sinkOne(socket).catch(() => socket.destroy());
  });
  server.listen(port, address);
  await once(server, 'listening').catch((error: unknown) => {
    throw new CliError(explainError(error, formatAddress(address, port)));
  });
  process.stdout.write(`microtp bench: sink listening on ${formatAddress(address, boundPort(server))}\n`);
  const interrupt = watchInterrupt();
  const terminated = new Promise((resolve) => process.once('SIGTERM', resolve));
  await Promise.race([interrupt.signalled, terminated]);
  interrupt.dispose();
  server.close();
  return EXIT_OK;
}

async function sinkOne(socket: Socket): Promise<void> {
  socket.setNoDelay(true);
  const reader = new StreamReader(socket);
  const line = (await reader.readLine(4096)) ?? '';
  if (!line.startsWith(HEADER_PREFIX)) throw new Error('not a bench client');
  const { pings, size } = JSON.parse(line.slice(HEADER_PREFIX.length)) as { pings: number; size: number };
  for (let i = 0; i < pings; i++) {
    for await (const chunk of reader.take(PING_BYTES)) socket.write(chunk);
  }
  let first: number | undefined;
  const cpuBefore = process.cpuUsage();
  let bytes = 0;
  for await (const chunk of reader.take(size)) {
    first ??= performance.now();
    bytes += chunk.length;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const ms = first === undefined ? 0 : performance.now() - first;
  socket.end(JSON.stringify({ bytes, ms, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
  await reader.atEnd();
}

interface Measurement {
  size: number;
  seconds: number;
  rate: number;
  pingMs: { count: number; median: number | null; p90: number | null };
  rttMs: number | null;
  queuingDelayMs: number | null;
  maxCwnd: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  packetsSent: number;
  cpuSecondsPerGiB: { sender: number; receiver: number };
}

async function measure(address: string, port: number, size: number, pings: number): Promise<Measurement> {
  const target = formatAddress(address, port);
  const socket = connect({ port, host: address, allowHalfOpen: true });
  socket.on('error', () => {}); // the awaits below see it
  await once(socket, 'connect').catch((error: unknown) => {
    throw new CliError(explainError(error, target));
  });
  socket.setNoDelay(true);
  const reader = new StreamReader(socket);
  socket.write(`${HEADER_PREFIX}${JSON.stringify({ pings, size })}\n`);

  const pingTimes: number[] = [];
  const ping = Buffer.alloc(PING_BYTES, 0x70);
  for (let i = 0; i < pings; i++) {
    const sentAt = performance.now();
    socket.write(ping);
    for await (const _ of reader.take(PING_BYTES));
    pingTimes.push(performance.now() - sentAt);
  }

  // The bulk transfer, with the connection's view sampled every 100 ms.
  const samples: ConnectionStats[] = [];
  const sampler = setInterval(() => {
    const stats = socket.stats();
    if (stats) samples.push(stats);
  }, 100);
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const block = Buffer.alloc(CHUNK, 0x61);
  try {
    for (let left = size; left > 0; left -= CHUNK) {
      const more = socket.write(left >= CHUNK ? block : block.subarray(0, left));
      if (!more) await once(socket, 'drain');
    }
    const reply = await reader.readLine(4096);
    if (reply === undefined) throw new CliError(`${target} closed before confirming the transfer (is it "microtp bench --serve"?)`);
    const seconds = (performance.now() - startedAt) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const sink = JSON.parse(reply) as { bytes: number; cpuMs: number };
    if (sink.bytes !== size) throw new CliError(`the sink counted ${sink.bytes} bytes, ${size} were sent`);
    const final = socket.stats();
    socket.end();
    await reader.atEnd();
    const gib = size / 2 ** 30;
    return {
      size,
      seconds,
      rate: size / seconds,
      pingMs: { count: pingTimes.length, median: percentile(pingTimes, 0.5), p90: percentile(pingTimes, 0.9) },
      rttMs: percentile(samples.map((s) => s.rtt), 0.5),
      queuingDelayMs: percentile(samples.map((s) => s.queuingDelay), 0.5),
      maxCwnd: Math.max(0, ...samples.map((s) => s.cwnd)),
      retransmits: final?.retransmits ?? 0,
      fastRetransmits: final?.fastRetransmits ?? 0,
      timeouts: final?.timeouts ?? 0,
      packetsSent: final?.packetsSent ?? 0,
      cpuSecondsPerGiB: { sender: (cpu.user + cpu.system) / 1e6 / gib, receiver: sink.cpuMs / 1000 / gib },
    };
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(explainError(error, target));
  } finally {
    clearInterval(sampler);
  }
}

function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

type Report = ReturnType<typeof environment> & { peer: string; where: string } & Measurement;

/** A Markdown table: readable in a terminal, and renders when pasted into an issue. */
function table(r: Report): string {
  const ms = (v: number | null): string => (v === null ? 'n/a' : formatMs(v));
  const rows: Array<[string, string]> = [
    ['microtp', r.microtp],
    ['node', r.node],
    ['platform', r.platform],
    ['peer', `${r.peer} (${r.where})`],
    ['throughput', `${formatRate(r.rate)} (${formatBytes(r.size)} in ${r.seconds.toFixed(2)} s)`],
    ['ping-pong', `median ${ms(r.pingMs.median)}, p90 ${ms(r.pingMs.p90)} (${r.pingMs.count} round trips of ${PING_BYTES} B)`],
    ['µTP rtt (stats)', `median ${ms(r.rttMs)} during the transfer`],
    ['queueing delay', `median ${ms(r.queuingDelayMs)}`],
    ['cwnd', `max ${formatBytes(r.maxCwnd)}`],
    ['retransmits', `${r.retransmits} (fast ${r.fastRetransmits}, timeouts ${r.timeouts})`],
    ['packets sent', String(r.packetsSent)],
    ['CPU per GiB', `sender ${r.cpuSecondsPerGiB.sender.toFixed(2)} s, receiver ${r.cpuSecondsPerGiB.receiver.toFixed(2)} s`],
  ];
  return ['| microtp bench | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n') + '\n';
}

export default { summary: 'measure throughput and latency (loopback, or against "bench --serve")', usage, run } satisfies Command;
