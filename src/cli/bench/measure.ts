/** The client side of `microtp bench`: ping-pong round trips, then a bulk transfer, measured. */
import { once } from 'node:events';
import { connect, type ConnectionStats } from '../../index.js';
import { explainError, formatAddress } from '../args.js';
import { CliError } from '../command.js';
import { connected } from '../endpoints.js';
import { StreamReader } from '../stream-reader.js';
import { HEADER_PREFIX, PING_BYTES, type SinkReply } from './protocol.js';

const CHUNK = 256 * 1024;

export interface Measurement {
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

export async function measure(address: string, port: number, size: number, pings: number): Promise<Measurement> {
  const target = formatAddress(address, port);
  const socket = connect({ port, host: address, allowHalfOpen: true });
  socket.on('error', () => {}); // the awaits below see it
  await connected(socket, target);
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
    const sink = JSON.parse(reply) as SinkReply;
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
