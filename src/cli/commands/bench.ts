/**
 * `microtp bench`: a throughput and latency check whose table can be pasted into an issue.
 * Without a peer it starts a sink in a child process on loopback (`bench --serve 0`), so
 * sender and receiver get a core each, as two real peers would.
 * The sink, the measurement and their framing are in ../bench/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { measure, type Measurement } from '../bench/measure.js';
import { PING_BYTES } from '../bench/protocol.js';
import { serve, SINK_READY } from '../bench/sink.js';
import { applyQlog, formatAddress, parseCommandLine, parseHost, parsePort, resolveHost } from '../args.js';
import { CliError, EXIT_INTERRUPTED, EXIT_OK, UsageError, type Command } from '../command.js';
import { formatBytes, formatMs, formatRate } from '../format.js';
import { untilInterrupted, watchInterrupt } from '../interrupt.js';
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
