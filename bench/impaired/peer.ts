// One end of an impaired transfer, run as its own process (forked by run.ts):
//   node build/bench/impaired/peer.js receiver <stack> <bytes> <dataSeed>
//   node build/bench/impaired/peer.js sender   <stack> <bytes> <dataSeed> <relayPort>
// Stacks: microtp, utp-native (libutp with 1 MiB kernel UDP buffers, as
// bench/throughput.ts does). The sender writes the seeded stream of data.ts
// and keeps the connection open; the receiver checks every byte against the
// same stream and keeps a running SHA-256.
//
// IPC, child -> parent: receiver {ready, port}, {progress} each second, {done}
//   at the last byte, {report} when asked; sender {started}, {connected},
//   {stats} when asked; either {error}.
// parent -> child: 'report' (receiver), 'stats' (sender), 'exit'.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ConnectionStats, Socket as MicrotpSocket } from '../../src/index.js';
import { utpNativeStack } from '../utp-native-stack.js';
import { CHUNK, StreamChecker, chunk } from './data.js';

export const STACKS = ['microtp', 'utp-native'] as const;
export type StackName = (typeof STACKS)[number];

const HOST = '127.0.0.1';
const UTP_SOCKBUF = 1024 * 1024;

/** The stream operations used here, common to both stacks. */
interface Pipe {
  write(chunk: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

interface Stack {
  listen(onPipe: (pipe: Pipe) => void): Promise<number>;
  connect(port: number): Promise<Pipe>;
  /** Per-connection counters, where the stack has them (microtp). */
  stats(pipe: Pipe): ConnectionStats | undefined;
}

async function microtp(): Promise<Stack> {
  const { createServer, connect } = await import('../../src/index.js');
  return {
    async listen(onPipe) {
      const server = createServer({}, onPipe);
      await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
      const address = server.address();
      if (!address || typeof address !== 'object') throw new Error('microtp: server.address() is empty after listen');
      return address.port;
    },
    async connect(port) {
      const sock = connect(port, HOST);
      await once(sock, 'connect');
      return sock;
    },
    stats: (pipe) => (pipe as MicrotpSocket).stats(),
  };
}

async function utpNative(): Promise<Stack> {
  return { ...(await utpNativeStack(HOST, UTP_SOCKBUF)), stats: () => undefined };
}

const now = (): number => performance.timeOrigin + performance.now(); // epoch ms, comparable across processes
const send = (msg: object): void => void process.send?.(msg);
const errorText = (err: unknown): string => {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return code === undefined ? err.message : `${String(code)}: ${err.message}`;
};

export interface ReceiverReport {
  bytes: number;
  sha256: string;
  /** Offset of the first byte that differs from what the sender sent, if any. */
  firstMismatch?: number;
  firstByteAt?: number;
  lastByteAt?: number;
  /** Longest silence between two reads after the first byte (up to now for a report), ms. */
  maxGapMs: number;
  maxGapAtBytes: number;
  connections: number;
  ended: boolean;
  closed: boolean;
  errors: string[];
  stats?: ConnectionStats;
  cpuMicros: number;
}

async function receiver(stack: Stack, total: number, seed: number): Promise<void> {
  const check = new StreamChecker(seed);
  let firstByteAt: number | undefined;
  let lastByteAt: number | undefined;
  let maxGapMs = 0;
  let maxGapAtBytes = 0;
  let connections = 0;
  let ended = false;
  let closed = false;
  let pipe: Pipe | undefined;
  let doneSent = false;
  const errors: string[] = [];
  const cpu = process.cpuUsage();
  const report = (at: number): ReceiverReport => {
    let gap = maxGapMs;
    let gapAt = maxGapAtBytes;
    if (lastByteAt !== undefined && !doneSent && at - lastByteAt > gap) [gap, gapAt] = [at - lastByteAt, check.bytes];
    const stats = pipe ? stack.stats(pipe) : undefined;
    const c = process.cpuUsage(cpu);
    return {
      bytes: check.bytes,
      sha256: check.digest(),
      ...(check.firstMismatch !== undefined ? { firstMismatch: check.firstMismatch } : {}),
      ...(firstByteAt !== undefined ? { firstByteAt } : {}),
      ...(lastByteAt !== undefined ? { lastByteAt } : {}),
      maxGapMs: gap,
      maxGapAtBytes: gapAt,
      connections,
      ended,
      closed,
      errors,
      ...(stats ? { stats } : {}),
      cpuMicros: c.user + c.system,
    };
  };
  const progress = setInterval(() => send({ type: 'progress', bytes: check.bytes, at: now() }), 1000);
  process.on('message', (msg) => {
    if (msg === 'report') send({ type: 'report', ...report(now()) });
  });
  const port = await stack.listen((p) => {
    connections++;
    if (pipe) {
      errors.push('a second connection arrived');
      return;
    }
    pipe = p;
    p.on('error', (err) => {
      errors.push(`receiver: ${errorText(err)}`);
      send({ type: 'error', message: `receiver: ${errorText(err)}` });
    });
    p.on('end', () => void (ended = true));
    p.on('close', () => void (closed = true));
    p.on('data', (data) => {
      const t = now();
      if (firstByteAt === undefined) firstByteAt = t;
      else if (t - (lastByteAt ?? t) > maxGapMs) [maxGapMs, maxGapAtBytes] = [t - (lastByteAt ?? t), check.bytes];
      lastByteAt = t;
      check.update(data);
      if (check.bytes >= total && !doneSent) {
        clearInterval(progress);
        send({ type: 'done', ...report(t) });
        doneSent = true;
      }
    });
  });
  send({ type: 'ready', port });
}

export interface StatsSample extends Partial<ConnectionStats> {
  t: number; // ms since startAt
  written: number;
}

export interface SenderReport {
  startAt: number;
  connectedAt?: number;
  allWrittenAt?: number;
  written: number;
  /** SHA-256 of everything written (the whole transfer once allWrittenAt is set). */
  sha256: string;
  stats?: ConnectionStats;
  samples: StatsSample[];
  errors: string[];
  cpuMicros: number;
}

async function sender(stack: Stack, total: number, seed: number, port: number): Promise<void> {
  const hash = createHash('sha256');
  const samples: StatsSample[] = [];
  const errors: string[] = [];
  let written = 0;
  let connectedAt: number | undefined;
  let allWrittenAt: number | undefined;
  let pipe: Pipe | undefined;
  const startAt = now();
  const cpu = process.cpuUsage();
  const sample = (): void => {
    const s = pipe ? stack.stats(pipe) : undefined;
    samples.push({ t: Math.round(now() - startAt), written, ...(s ?? {}) });
  };
  const sampler = setInterval(sample, 500);
  process.on('message', (msg) => {
    if (msg !== 'stats') return;
    clearInterval(sampler);
    sample();
    const c = process.cpuUsage(cpu);
    const stats = pipe ? stack.stats(pipe) : undefined;
    const r: SenderReport = {
      startAt,
      ...(connectedAt !== undefined ? { connectedAt } : {}),
      ...(allWrittenAt !== undefined ? { allWrittenAt } : {}),
      written,
      sha256: hash.copy().digest('hex'),
      ...(stats ? { stats } : {}),
      samples,
      errors,
      cpuMicros: c.user + c.system,
    };
    send({ type: 'stats', ...r });
  });
  send({ type: 'started', startAt });
  const p = await stack.connect(port);
  pipe = p;
  connectedAt = now();
  send({ type: 'connected', at: connectedAt });
  p.on('error', (err) => {
    errors.push(`sender: ${errorText(err)}`);
    send({ type: 'error', message: `sender: ${errorText(err)}` });
  });
  for (let k = 0; written < total; k++) {
    const c = chunk(seed, k);
    const piece = total - written < CHUNK ? c.subarray(0, total - written) : c;
    hash.update(piece);
    written += piece.length;
    if (!p.write(piece)) await new Promise<void>((resolve) => p.once('drain', resolve));
  }
  allWrittenAt = now();
  // Keep the connection open (no end()): run.ts stops us once the receiver
  // has everything or the time is up, so closing never affects the numbers.
}

async function main(): Promise<void> {
  const [role, name, bytesArg, seedArg, portArg] = process.argv.slice(2);
  if (!STACKS.includes(name as StackName) || !bytesArg || !seedArg) {
    throw new Error(`usage: peer.js receiver|sender <${STACKS.join('|')}> <bytes> <dataSeed> [relayPort]`);
  }
  process.on('message', (msg) => {
    if (msg === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger
  const stack = name === 'microtp' ? await microtp() : await utpNative();
  const total = Number(bytesArg);
  const seed = Number(seedArg) >>> 0;
  if (role === 'receiver') await receiver(stack, total, seed);
  else if (role === 'sender') await sender(stack, total, seed, Number(portArg));
  else throw new Error(`unknown role ${role}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    send({ type: 'error', message: `${process.argv[2] ?? 'peer'}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100); // let the IPC message out
  });
}
