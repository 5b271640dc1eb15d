// One side of a bulk transfer, run as a child process forked by bench/run.ts:
//   node build/bench/throughput.js receiver <stack> <bytes>
//   node build/bench/throughput.js sender   <stack> <bytes> <port>
// Sender and receiver live in separate processes so each one's CPU time
// (process.cpuUsage, user + system) is its own and the two can use both cores.
// Each process loads only its own stack, so no addon or GC state leaks across.
//
// IPC, child -> parent: receiver {ready, port}, {progress, bytes} each second,
//   {done, ...} at the last byte; sender {stats, ...} when asked; either {error}.
// parent -> child: 'stop' (sender: report CPU, then idle) and 'exit'.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { baselineEntry } from './baseline.js';
import { utpNativeStack } from './utp-native-stack.js';

export const STACKS = ['microtp', 'microtp-baseline', 'utp-native', 'udx-native', 'utp-native-defaults'] as const;
export type StackName = (typeof STACKS)[number];

export interface ReceiverDone {
  type: 'done';
  bytes: number;
  firstByteAt: number; // epoch ms (comparable across processes on one host)
  lastByteAt: number;
  cpuMicros: number; // user + system, from listening to the last byte
}

export interface SenderStats {
  type: 'stats';
  startAt: number; // epoch ms right before connect()
  cpuMicros: number; // user + system, from connect() until told to stop
}

/** The few stream operations the bench needs, common to all three stacks. */
interface Pipe {
  write(chunk: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

interface Stack {
  /** Starts accepting one connection; resolves with the UDP port. */
  listen(onPipe: (pipe: Pipe) => void): Promise<number>;
  /** Connects to the receiver; resolves once writes may start. */
  connect(port: number): Promise<Pipe>;
}

const HOST = '127.0.0.1';
const CHUNK = 64 * 1024;

// utp-native tuned with 1 MiB kernel UDP buffers (Linux reports double). They
// can only be set once the socket is bound; listen() and connect() bind
// synchronously, so right after them is the earliest point. (webtorrent's
// conn-pool itself calls utp.createServer().listen(port) and connect() with
// no tuning: that is 'utp-native-defaults', opt-in via BENCH_STACKS.)
const UTP_SOCKBUF = Number(process.env.BENCH_UTP_SOCKBUF ?? 1024 * 1024);

async function utpNative(sockbuf: number): Promise<Stack> {
  return utpNativeStack(HOST, sockbuf);
}

// udx-native has no handshake: the receiver's stream (id 2) connects back to
// whoever first sends to it (the firewall hook), the sender's (id 1) connects
// directly. Default socket buffers, as Holepunch ships it.
async function udxNative(): Promise<Stack> {
  const { default: UDX } = await import('udx-native');
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(0, HOST);
  return {
    async listen(onPipe) {
      const stream = udx.createStream(2, {
        firewall(sock, port, host) {
          stream.connect(sock, 1, port, host);
          onPipe(stream);
          return false; // accept
        },
      });
      return socket.address().port;
    },
    async connect(port) {
      const stream = udx.createStream(1);
      stream.connect(socket, 2, port, HOST);
      return stream;
    },
  };
}

/** microtp from this checkout, or (baseline) as built by bench/baseline.ts from an earlier commit. */
async function microtp(entry?: string): Promise<Stack> {
  const { createServer, connect } = (
    entry === undefined ? await import('../src/index.js') : await import(pathToFileURL(entry).href)
  ) as typeof import('../src/index.js');
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
  };
}

async function loadStack(name: StackName): Promise<Stack> {
  switch (name) {
    case 'microtp':
      return microtp();
    case 'microtp-baseline':
      return microtp(baselineEntry());
    case 'utp-native':
      return utpNative(UTP_SOCKBUF);
    case 'utp-native-defaults':
      return utpNative(0);
    case 'udx-native':
      return udxNative();
  }
}

const now = (): number => performance.timeOrigin + performance.now();
const cpuSince = (start: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(start);
  return d.user + d.system;
};
const send = (msg: object): void => void process.send?.(msg);

async function receiver(stack: Stack, total: number): Promise<void> {
  let bytes = 0;
  let firstByteAt = 0;
  let cpu: NodeJS.CpuUsage | undefined;
  const progress = setInterval(() => send({ type: 'progress', bytes }), 1000);
  const port = await stack.listen((pipe) => {
    pipe.on('error', (err) => fail(`receiver: ${String(err)}`));
    pipe.on('data', (chunk) => {
      if (bytes === 0) firstByteAt = now();
      bytes += chunk.length;
      if (bytes < total || cpu === undefined) return;
      const done: ReceiverDone = { type: 'done', bytes, firstByteAt, lastByteAt: now(), cpuMicros: cpuSince(cpu) };
      cpu = undefined; // report once
      clearInterval(progress);
      send(done);
    });
  });
  cpu = process.cpuUsage(); // idle time before the connection costs nothing
  send({ type: 'ready', port });
}

async function sender(stack: Stack, total: number, port: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 0x5a); // content is irrelevant here; the tests verify data
  const startAt = now();
  const cpu = process.cpuUsage();
  process.on('message', (msg) => {
    if (msg === 'stop') send({ type: 'stats', startAt, cpuMicros: cpuSince(cpu) } satisfies SenderStats);
  });
  const pipe = await stack.connect(port);
  pipe.on('error', (err) => fail(`sender: ${String(err)}`));
  for (let sent = 0; sent < total; sent += CHUNK) {
    const piece = total - sent < CHUNK ? chunk.subarray(0, total - sent) : chunk;
    if (!pipe.write(piece)) await new Promise<void>((resolve) => pipe.once('drain', resolve));
  }
  // Keep the connection open (no end()): the parent stops us after the
  // receiver has everything, so close behaviour never affects the numbers.
}

function fail(message: string): void {
  send({ type: 'error', message });
  process.exitCode = 1;
}

async function main(): Promise<void> {
  const [role, name, bytesArg, portArg] = process.argv.slice(2);
  if (!STACKS.includes(name as StackName) || !bytesArg) throw new Error(`usage: throughput.js receiver|sender <${STACKS.join('|')}> <bytes> [port]`);
  process.on('message', (msg) => {
    if (msg === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger
  const stack = await loadStack(name as StackName);
  if (role === 'receiver') await receiver(stack, Number(bytesArg));
  else if (role === 'sender') await sender(stack, Number(bytesArg), Number(portArg));
  else throw new Error(`unknown role ${role}`);
}

// Only act as a worker when run as a script (run.ts imports STACKS and the types).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
}
