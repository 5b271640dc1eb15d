// The impaired UDP relay, run as its own process (forked by run.ts):
//   node build/bench/impaired/relay.js '<scenario JSON>' <seed> <targetPort>
// It binds a "client side" port on 127.0.0.1 and reports it ({ready, port}).
// Datagrams from a client there are forwarded to 127.0.0.1:<targetPort> from
// an upstream socket of the client's own (one per client address), and what
// the target sends back to that upstream socket goes to the client from the
// client side port. Direction 0 is client -> target, 1 is target -> client;
// each has its own LinkDirection (bench/impaired/link.ts) with the same seed.
//
// All scheduled deliveries sit in one min-heap; one setTimeout is armed for
// the earliest due time. Loopback only: it never sends anywhere else.
//
// IPC, parent -> child: 'counters' (answered with {counters, ...}), 'exit'.
import dgram from 'node:dgram';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DueHeap, LinkDirection, parseScenario, type Delivery, type DirCounters } from './link.js';

const HOST = '127.0.0.1';
const SOCKBUF = 4 * 1024 * 1024; // the relay itself must not be where datagrams get lost

export interface RelayCounters {
  type: 'counters';
  /** [client -> target, target -> client] */
  dirs: [DirCounters, DirCounters];
  clients: number;
  /** Datagrams ignored: on an upstream socket from someone other than the target. */
  strays: number;
  /** Timer firings, and the latest any delivery left compared with its due time (ms). */
  timerFires: number;
  maxLateMs: number;
  /** Deliveries that left more than 2 ms / 10 ms after their due time (a busy event loop). */
  late2ms: number;
  late10ms: number;
  /** Deliveries still scheduled when asked. */
  pending: number;
  /** Local UDP ports: the client side, the upstream sockets, and the clients' own (their senders). */
  ports: { front: number; upstreams: number[]; clients: number[] };
  /** Kernel UDP buffer sizes the relay got (Linux reports double the request). */
  sockbuf: { recv: number; send: number };
}

interface Scheduled extends Delivery {
  dir: 0 | 1;
  buf: Buffer;
  socket: dgram.Socket;
  port: number;
}

function bindSocket(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, HOST, () => {
      s.off('error', reject);
      try {
        s.setRecvBufferSize(SOCKBUF);
        s.setSendBufferSize(SOCKBUF);
      } catch {
        // keep the defaults; the kernel's RcvbufErrors counter (run.ts) would show the cost
      }
      resolve(s);
    });
  });
}

async function main(): Promise<void> {
  const [scenarioArg, seedArg, targetArg] = process.argv.slice(2);
  if (!scenarioArg || !seedArg || !targetArg) throw new Error("usage: relay.js '<scenario JSON>' <seed> <targetPort>");
  const scenario = parseScenario(JSON.parse(scenarioArg), 0);
  try {
    // The link's timing should not suffer from the endpoints' (or anyone's) CPU use; needs privileges.
    os.setPriority(-10);
  } catch {
    // unprivileged: keep the default; late deliveries are counted either way
  }
  const seed = Number(seedArg) >>> 0;
  const targetPort = Number(targetArg);
  const link: [LinkDirection, LinkDirection] = [new LinkDirection(scenario, seed, 0), new LinkDirection(scenario, seed, 1)];
  const heap = new DueHeap<Scheduled>();
  let timer: NodeJS.Timeout | undefined;
  let timerDue = Infinity;
  let timerFires = 0;
  let maxLateMs = 0;
  let late2ms = 0;
  let late10ms = 0;
  let strays = 0;

  const flush = (): void => {
    timer = undefined;
    timerDue = Infinity;
    timerFires++;
    const now = performance.now();
    // setTimeout has 1 ms granularity: deliver what is due within the next half millisecond.
    for (let next = heap.peek(); next !== undefined && next.due <= now + 0.5; next = heap.peek()) {
      heap.pop();
      const late = now - next.due;
      if (late > maxLateMs) maxLateMs = late;
      if (late > 2) late2ms++;
      if (late > 10) late10ms++;
      next.socket.send(next.buf, next.port, HOST);
      link[next.dir].delivered(next, next.buf.length);
    }
    arm();
  };
  const arm = (): void => {
    const next = heap.peek();
    if (next === undefined || next.due >= timerDue) return;
    if (timer) clearTimeout(timer);
    timerDue = next.due;
    timer = setTimeout(flush, Math.max(0, next.due - performance.now()));
  };
  const schedule = (dir: 0 | 1, buf: Buffer, socket: dgram.Socket, port: number): void => {
    for (const d of link[dir].arrive(buf.length, performance.now())) heap.push({ ...d, dir, buf, socket, port });
    arm();
  };

  const front = await bindSocket();
  const upstreams = new Map<string, dgram.Socket>();
  const pendingUpstreams = new Map<string, Buffer[]>();
  front.on('message', (buf, rinfo) => {
    if (rinfo.address !== HOST) return; // loopback only
    const key = `${rinfo.address}:${rinfo.port}`;
    const up = upstreams.get(key);
    if (up) return schedule(0, buf, up, targetPort);
    // First datagram from this client: its upstream socket binds asynchronously; hold what comes meanwhile.
    const held = pendingUpstreams.get(key);
    if (held) return void held.push(buf);
    pendingUpstreams.set(key, [buf]);
    void bindSocket().then((sock) => {
      upstreams.set(key, sock);
      sock.on('message', (reply, from) => {
        if (from.address !== HOST || from.port !== targetPort) return void strays++;
        schedule(1, reply, front, rinfo.port);
      });
      for (const b of pendingUpstreams.get(key) ?? []) schedule(0, b, sock, targetPort);
      pendingUpstreams.delete(key);
    });
  });

  const counters = (): RelayCounters => ({
    type: 'counters',
    dirs: [link[0].counters, link[1].counters],
    clients: upstreams.size,
    strays,
    timerFires,
    maxLateMs,
    late2ms,
    late10ms,
    pending: heap.size,
    ports: {
      front: front.address().port,
      upstreams: [...upstreams.values()].map((u) => u.address().port),
      clients: [...upstreams.keys()].map((k) => Number(k.split(':')[1])),
    },
    sockbuf: { recv: front.getRecvBufferSize(), send: front.getSendBufferSize() },
  });
  process.on('message', (msg) => {
    if (msg === 'counters') process.send?.(counters());
    else if (msg === 'exit') process.exit(0);
  });
  process.send?.({ type: 'ready', port: front.address().port });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('disconnect', () => process.exit(0)); // parent gone: never linger
  main().catch((err: unknown) => {
    process.send?.({ type: 'error', message: `relay: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    process.exit(1);
  });
}
