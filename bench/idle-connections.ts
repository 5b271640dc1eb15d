/**
 * Issue 9's idle scale figure: N idle connections (keepalives running) between one server and a
 * few client ports in one process, measured two ways (`npm run bench` suite `idle`, not in `npm test`):
 *
 * - core: the protocol endpoints driven directly on a virtual clock, woken as the driver would
 *   (at `nextWake`, rounded up to the next ms as setTimeout does). Reports CPU ms of this process
 *   per simulated second of idling, i.e. the share of a core the endpoints' timers cost.
 * - sockets: the same on real UDP sockets on loopback (server.connect from a few listening
 *   servers, one UDP socket each), then CPU share over a real idle window and heap + external
 *   bytes per connection end after a forced GC (needs --expose-gc; the suite passes it).
 *
 *   node --expose-gc build/bench/idle-connections.js [core|sockets|both=both] [N=50000] [idle seconds=30]
 *
 * Connections are opened spread over one keepalive interval, so their keepalives are spread too
 * (as they are for connections that came and went over time), not one burst every 29 s.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from '../src/index.js';
import { DEFAULT_CONFIG } from '../src/protocol/config.js';
import { Endpoint } from '../src/protocol/endpoint.js';
import type { Remote } from '../src/protocol/events.js';

const mode = process.argv[2] ?? 'both';
const n = Number(process.argv[3] ?? 50_000);
const idleSeconds = Number(process.argv[4] ?? 30);
/** Connections per client port: a connect needs a free pair of ids among 65,536 per remote. */
const PER_CLIENT_PORT = 25_000;
const KEEPALIVE = DEFAULT_CONFIG.keepaliveInterval;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Endpoints on a zero-delay virtual network; a datagram reaches its peer in the same instant. */
class CoreNet {
  now = 0;
  readonly byPort = new Map<number, { endpoint: Endpoint; remote: Remote }>();
  wakes = 0;

  add(port: number, listening: boolean): Endpoint {
    const endpoint = new Endpoint({ random: seededRandom(port) });
    endpoint.listening = listening;
    this.byPort.set(port, { endpoint, remote: { address: '127.0.0.1', port, family: 'IPv4' } });
    return endpoint;
  }

  /** What the driver does on each wake or burst, until no datagram is left in flight. */
  service(first: Iterable<Endpoint>): void {
    let touched = new Set(first);
    while (touched.size > 0) {
      const next = new Set<Endpoint>();
      for (const endpoint of touched) {
        endpoint.handleTimeout(this.now);
        endpoint.flush(this.now);
        endpoint.events.length = 0;
        const from = this.remoteOf(endpoint);
        for (const t of endpoint.transmits.splice(0)) {
          const to = this.byPort.get(t.remote.port)!.endpoint;
          to.handleDatagram(t.data, from, this.now);
          next.add(to);
        }
      }
      touched = next;
    }
  }

  /** Advances to `until`, waking each endpoint at its `nextWake` rounded up to a whole ms. */
  runUntil(until: number): void {
    for (;;) {
      let wake = Infinity;
      for (const { endpoint } of this.byPort.values()) wake = Math.min(wake, endpoint.nextWake);
      wake = Math.max(this.now, Math.ceil(wake));
      if (wake > until) break;
      this.now = wake;
      this.wakes++;
      this.service([...this.byPort.values()].filter((e) => e.endpoint.nextWake <= wake).map((e) => e.endpoint));
    }
    this.now = until;
  }

  private remoteOf(endpoint: Endpoint): Remote {
    for (const e of this.byPort.values()) if (e.endpoint === endpoint) return e.remote;
    throw new Error('unknown endpoint');
  }
}

/** Heap + external bytes after a forced GC (needs --expose-gc; NaN without). */
function liveBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function core(): Record<string, number> {
  const baseline = liveBytes();
  const net = new CoreNet();
  const server = net.add(5000, true);
  const clients = Array.from({ length: Math.ceil(n / PER_CLIENT_PORT) }, (_, k) => net.add(6000 + k, false));
  const serverRemote: Remote = { address: '127.0.0.1', port: 5000, family: 'IPv4' };
  // Opened evenly over one keepalive interval.
  for (let i = 0; i < n; i++) {
    net.runUntil((i / n) * KEEPALIVE);
    const client = clients[i % clients.length]!;
    client.connect(serverRemote, net.now);
    net.service([client]);
  }
  net.runUntil(KEEPALIVE + 1000);
  const connected = server.announced;
  // The protocol core's share of a connection end's memory (the sockets view adds the Node layer).
  const coreBytesPerEnd = (liveBytes() - baseline) / (2 * connected);
  const wakesBefore = net.wakes;
  const start = cpuMs();
  net.runUntil(net.now + idleSeconds * 1000);
  const used = cpuMs() - start;
  return {
    connections: connected,
    simulatedSeconds: idleSeconds,
    cpuMsPerSimulatedSecond: round(used / idleSeconds),
    corePercent: round(used / idleSeconds / 10),
    wakesPerSecond: round((net.wakes - wakesBefore) / idleSeconds),
    coreBytesPerConnectionEnd: Math.round(coreBytesPerEnd),
  };
}

async function sockets(): Promise<Record<string, number>> {
  const heap = liveBytes;
  const baseline = heap();
  const accepted: Socket[] = [];
  const server = createServer((s: Socket) => {
    s.on('error', () => {});
    accepted.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address()!.port;
  const clientServers: Server[] = [];
  for (let k = 0; k < Math.ceil(n / PER_CLIENT_PORT); k++) {
    const c = createServer();
    c.listen(0, '127.0.0.1');
    await once(c, 'listening');
    clientServers.push(c);
  }
  const clients: Socket[] = [];
  let connected = 0;
  let failed = 0;
  const started = performance.now();
  // In waves, so the handshakes do not all race the SYN retransmission timer.
  const wave = 2000;
  for (let i = 0; i < n; i += wave) {
    const target = Math.min(n, i + wave);
    for (let j = i; j < target; j++) {
      const s = clientServers[j % clientServers.length]!.connect(port, '127.0.0.1');
      s.on('connect', () => connected++);
      s.on('error', () => failed++);
      clients.push(s);
    }
    while (connected + failed < target) await new Promise((r) => setTimeout(r, 20));
  }
  const setupMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 1000));
  const bytesPerEnd = (heap() - baseline) / (2 * connected);
  const profile = process.env.IDLE_PROFILE ? await startProfile() : undefined;
  const start = cpuMs();
  const wallStart = performance.now();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const used = cpuMs() - start;
  const wall = performance.now() - wallStart;
  await profile?.();
  const result = {
    connections: connected,
    failed,
    accepted: accepted.length,
    setupSeconds: round(setupMs / 1000),
    idleSeconds: round(wall / 1000),
    corePercent: round((used / wall) * 100),
    bytesPerConnectionEnd: Math.round(bytesPerEnd),
  };
  for (const s of clients) s.destroy();
  for (const s of accepted) s.destroy();
  for (const c of clientServers) c.close();
  server.close();
  return result;
}

/** IDLE_PROFILE=file.cpuprofile: a CPU profile of the idle window only (not the connects). */
async function startProfile(): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(process.env.IDLE_PROFILE!, JSON.stringify(profile));
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const out: Record<string, unknown> = { n };
if (mode === 'core' || mode === 'both') out.core = core();
if (mode === 'sockets' || mode === 'both') out.sockets = await sockets();
console.log(JSON.stringify(out));
process.exit(0);
