// One side of a bulk transfer, run as a child process by bench/run.ts (loopback, forked) and
// bench/gauge/run.ts (veth, through `ip netns exec`, the IPC channel inherited):
//   node build/bench/throughput.js receiver <stack> <bytes> [host] [conns]
//   node build/bench/throughput.js sender   <stack> <bytes> <port> [host] [conns]
// Sender and receiver live in separate processes so each one's CPU time
// (process.cpuUsage, user + system) is its own and the two can use both cores.
// Each process loads only its own stack (bench/stacks.ts), so no addon or GC state leaks across.
// With conns > 1 the sender opens that many connections from one socket and writes bytes/conns
// on each at once; the receiver counts the sum.
//
// BENCH_SINK=pipe: the receiver pipes each stream into a Writable that discards what it gets (the
// stream machinery an application that pipes pays per chunk) instead of counting in a 'data'
// listener (the cheapest consumer there is); BENCH_SINK=devnull: into fs.createWriteStream of
// /dev/null (a write(2) per chunk, as an application that stores or forwards what it gets).
// Stacks whose pipe is no stream ignore it.
//
// IPC, child -> parent: receiver {ready, port}, {progress, bytes} each second,
//   {done, ...} at the last byte; sender {stats, ...} when asked; either {error}.
// parent -> child: 'stop' (sender: report CPU, then idle) and 'exit'.
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { LOSSY_STACKS, STACKS, loadStack, type Pipe, type Stack, type StackName } from './stacks.js';
import { mainBetween, mainThreadMicros } from './main-thread-cpu.js';

export { STACKS, type StackName };

export interface ReceiverDone {
  type: 'done';
  bytes: number;
  firstByteAt: number; // epoch ms (comparable across processes on one host)
  lastByteAt: number;
  cpuMicros: number; // user + system, from listening to the last byte
  /** The main thread's share of cpuMicros (Linux only; see mainThreadMicros). */
  mainCpuMicros?: number | undefined;
  sleeps: number; // voluntary context switches over the same span (see sleeps())
  /** microtp only: packets the receiver sent (ACKs) per packet it received, from stats(). */
  acksPerPacket?: number;
}

export interface SenderStats {
  type: 'stats';
  startAt: number; // epoch ms right before connect()
  cpuMicros: number; // user + system, from connect() until told to stop
  /** The main thread's share of cpuMicros (Linux only; see mainThreadMicros). */
  mainCpuMicros?: number | undefined;
  sleeps: number; // voluntary context switches over the same span (see sleeps())
  /** microtp only: retransmissions per packet sent, from stats(). */
  resendsPerPacket?: number;
  /** microtp: what the resends were (retransmission timeouts, losses found from ACKs); the rest are tail-loss probes. */
  timeouts?: number;
  fastRetransmits?: number;
}

const CHUNK = 64 * 1024;
/** A lossy stack's transfer is over when nothing arrived for this long (not counted in its time). */
const QUIET_MS = 500;

const now = (): number => performance.timeOrigin + performance.now();
const cpuSince = (start: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(start);
  return d.user + d.system;
};
/**
 * Times the process has gone to sleep so far (voluntary context switches, all its threads):
 * mostly waits in epoll for the next datagram, each a wake-up that the peer's send pays for on a
 * veth. Read at the start and the end of a transfer (docs/performance-state.md, "The gauge prints sleeps").
 */
const sleeps = (): number => process.resourceUsage().voluntaryContextSwitches;
const send = (msg: object): void => void process.send?.(msg);

async function receiver(stack: Stack, total: number, conns: number, lossy: boolean): Promise<void> {
  let bytes = 0;
  let firstByteAt = 0;
  let lastByteAt = 0;
  let cpu: NodeJS.CpuUsage | undefined;
  let mainAtStart: number | undefined;
  let sleepsAtStart = 0;
  const finish = (): void => {
    if (cpu === undefined) return; // report once
    const done: ReceiverDone = { type: 'done', bytes, firstByteAt, lastByteAt, cpuMicros: cpuSince(cpu), mainCpuMicros: mainBetween(mainAtStart, mainThreadMicros()), sleeps: sleeps() - sleepsAtStart };
    cpu = undefined;
    const totals = sumStats(pipes);
    if (totals) done.acksPerPacket = totals.packetsSent / totals.packetsReceived;
    clearInterval(progress);
    clearInterval(quiet);
    send(done);
  };
  const progress = setInterval(() => send({ type: 'progress', bytes }), 1000);
  const quiet = lossy
    ? setInterval(() => {
        if (bytes > 0 && now() - lastByteAt > QUIET_MS) finish();
      }, 50)
    : undefined;
  const pipes: Pipe[] = [];
  const port = await stack.listen(conns, (pipe) => {
    pipes.push(pipe);
    pipe.on('error', (err) => fail(`receiver: ${String(err)}`));
    const arrived = (length: number): void => {
      lastByteAt = now();
      if (bytes === 0) firstByteAt = lastByteAt;
      bytes += length;
      if (bytes >= total) finish();
    };
    const stream = pipe as Partial<NodeJS.ReadableStream>;
    const sink = process.env.BENCH_SINK;
    if (sink === 'devnull' && typeof stream.pipe === 'function') {
      stream.pipe(createWriteStream('/dev/null'));
      pipe.on('data', (chunk) => arrived(chunk.length));
    } else if (sink === 'pipe' && typeof stream.pipe === 'function') {
      stream.pipe(
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            arrived(chunk.length);
            callback();
          },
        }),
      );
    } else pipe.on('data', (chunk) => arrived(chunk.length));
  });
  cpu = process.cpuUsage(); // idle time before the connection costs nothing
  mainAtStart = mainThreadMicros();
  sleepsAtStart = sleeps();
  send({ type: 'ready', port });
}

async function sender(stack: Stack, total: number, port: number, conns: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 0x5a); // content is irrelevant here; the tests verify data
  const startAt = now();
  const cpu = process.cpuUsage();
  const mainAtStart = mainThreadMicros();
  const sleepsAtStart = sleeps();
  process.on('message', (msg) => {
    if (msg !== 'stop') return;
    const stats: SenderStats = { type: 'stats', startAt, cpuMicros: cpuSince(cpu), mainCpuMicros: mainBetween(mainAtStart, mainThreadMicros()), sleeps: sleeps() - sleepsAtStart };
    const totals = sumStats(pipes);
    if (totals) Object.assign(stats, { resendsPerPacket: totals.retransmits / totals.packetsSent, timeouts: totals.timeouts, fastRetransmits: totals.fastRetransmits });
    send(stats);
  });
  const pipes: Pipe[] = [];
  for (let i = 0; i < conns; i++) {
    const pipe = await stack.connect(port, i);
    pipe.on('error', (err) => fail(`sender: ${String(err)}`));
    pipes.push(pipe);
  }
  const share = Math.floor(total / conns);
  await Promise.all(pipes.map((pipe, i) => writeAll(pipe, i === 0 ? total - share * (conns - 1) : share, chunk)));
  // Keep the connections open (no end()): the parent stops us after the
  // receiver has everything, so close behaviour never affects the numbers.
}

/** The fields of microtp's stats() the bench sums over its connections. */
const SUMMED = ['packetsSent', 'packetsReceived', 'retransmits', 'timeouts', 'fastRetransmits'] as const;
type Summed = Record<(typeof SUMMED)[number], number>;

/** The sum of the pipes' microtp counters (undefined for other stacks). */
function sumStats(pipes: Pipe[]): Summed | undefined {
  const sum: Summed = { packetsSent: 0, packetsReceived: 0, retransmits: 0, timeouts: 0, fastRetransmits: 0 };
  for (const pipe of pipes) {
    const stats = (pipe as { stats?: () => Summed | undefined }).stats?.();
    if (!stats) return undefined;
    for (const field of SUMMED) sum[field] += stats[field];
  }
  return pipes.length > 0 ? sum : undefined;
}

async function writeAll(pipe: Pipe, bytes: number, chunk: Buffer): Promise<void> {
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    const piece = bytes - sent < CHUNK ? chunk.subarray(0, bytes - sent) : chunk;
    if (!pipe.write(piece)) await new Promise<void>((resolve) => pipe.once('drain', resolve));
  }
}

function fail(message: string): void {
  send({ type: 'error', message });
  process.exitCode = 1;
}

async function main(): Promise<void> {
  const [role, name, bytesArg, ...rest] = process.argv.slice(2);
  if (!STACKS.includes(name as StackName) || !bytesArg) {
    throw new Error(`usage: throughput.js receiver <stack> <bytes> [host] [conns] | sender <stack> <bytes> <port> [host] [conns]; stacks: ${STACKS.join('|')}`);
  }
  process.on('message', (msg) => {
    if (msg === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger
  const [portArg, hostArg, connsArg] = role === 'sender' ? rest : [undefined, ...rest];
  const host = hostArg || '127.0.0.1';
  const conns = Number(connsArg || 1);
  const stack = await loadStack(name as StackName, host);
  if (role === 'receiver') await receiver(stack, Number(bytesArg), conns, LOSSY_STACKS.includes(name as StackName));
  else if (role === 'sender') await sender(stack, Number(bytesArg), Number(portArg), conns);
  else throw new Error(`unknown role ${role}`);
}

// Only act as a worker when run as a script (run.ts imports STACKS and the types).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
}
