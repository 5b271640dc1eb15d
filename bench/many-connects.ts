/**
 * Run by suite `connects` of `npm run bench` (bench/connects.ts), or alone: N simultaneous connects to one server on
 * loopback, each writing 4 KiB and checking the echo byte for byte (issue 9). Prints how many
 * clients failed, with which code, and whether the failure came after 'connect'; the handshake
 * rate (connects per second until the last 'connect'); the kernel's UDP receive-buffer drops in
 * the run (/proc/net/snmp, Linux); plus the server's endpoint counters.
 *
 *   npm run build:all && node build/bench/many-connects.js [N=10000]
 *   (MC_SOCKETS=1: each client on its own UDP socket, a crowd of distinct peers)
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, createSocket, type SharedSocket, type Socket } from '../src/index.js';

const ECHO_BYTES = 4096;

/** Datagrams the kernel dropped for a full UDP receive buffer, all sockets (Linux; 0 elsewhere). */
function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return 0;
  }
}

const n = Number(process.argv[2] ?? 10_000);
/** Gives up and prints what it has after this long (ms). */
const LIMIT_MS = Number(process.env.MC_LIMIT_MS ?? 60_000);
/** MC_PHASED=1: every client writes only once all have connected (the handshakes alone, then the echoes). */
const PHASED = process.env.MC_PHASED === '1';
/**
 * MC_SOCKETS=1: each client on a UDP socket of its own (a crowd of distinct peers: no per-remote
 * handshake limit applies, so the server evicts and confirms by SYN cookie). Needs a file
 * descriptor per client.
 */
const OWN_SOCKETS = process.env.MC_SOCKETS === '1';
/** MC_CONFIG: the server's endpoint config as JSON (e.g. '{"maxUnconfirmed":20000}'), to try a change. */
const server = createServer(JSON.parse(process.env.MC_CONFIG ?? '{}') as Record<string, number>, (socket: Socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.name));

if (process.env.MC_RCVBUF) server.setRecvBufferSize(Number(process.env.MC_RCVBUF));
server.listen(0, '127.0.0.1', async () => {
  const port = server.address()!.port;
  const own: SharedSocket[] = [];
  for (let i = 0; OWN_SOCKETS && i < n; i++) {
    const socket = createSocket();
    const error = await new Promise<Error | undefined>((resolve) => {
      socket.once('error', resolve);
      socket.bind(0, '127.0.0.1', () => resolve(undefined));
    });
    if (error) {
      // Typically EMFILE: a file descriptor per client is more than `ulimit -n` allows.
      const code = (error as NodeJS.ErrnoException).code ?? error.message;
      console.log(JSON.stringify({ n, skipped: `a socket per client: ${code} after ${i} sockets (ulimit -n)` }));
      process.exit(0);
    }
    own.push(socket);
  }
  const failures = new Map<string, number>();
  let ok = 0;
  let done = 0;
  let connects = 0;
  let lastConnect = 0;
  const dropsBefore = udpRcvbufErrors();
  const started = performance.now();
  const report = (): void => {
    const shared = (server as unknown as { shared?: { endpoint: { counters: unknown; size: number } } }).shared;
    console.log(
      JSON.stringify(
        {
          n,
          ok,
          failures: Object.fromEntries(failures),
          ms: Math.round(performance.now() - started),
          handshakesPerSecond: Math.round(connects / (lastConnect / 1000)),
          lastConnectMs: Math.round(lastConnect),
          rcvbufDrops: udpRcvbufErrors() - dropsBefore,
          warnings,
          server: shared?.endpoint.counters,
        },
        null,
        1,
      ),
    );
  };
  const finish = (): void => {
    if (++done < n) return;
    report();
    server.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  setTimeout(() => {
    failures.set('unsettled at the limit', n - done);
    report();
    process.exit(1);
  }, LIMIT_MS).unref();
  // MC_PHASED: the writes wait until every handshake is over, connected or failed.
  const pendingWrites: (() => void)[] = [];
  let handshakesOver = 0;
  const handshakeOver = (): void => {
    if (PHASED && ++handshakesOver === n) for (const write of pendingWrites) write();
  };
  for (let i = 0; i < n; i++) {
    const client = OWN_SOCKETS ? own[i]!.connect(port, '127.0.0.1') : connect(port, '127.0.0.1');
    let connected = false;
    let settled = false;
    const sent = Buffer.alloc(ECHO_BYTES);
    for (let k = 0; k < ECHO_BYTES; k++) sent[k] = (i * 7 + k) & 0xff;
    client.on('connect', () => {
      connected = true;
      connects++;
      lastConnect = performance.now() - started;
      if (!PHASED) client.write(sent);
      handshakeOver();
    });
    if (PHASED) pendingWrites.push(() => connected && !settled && client.write(sent));
    const chunks: Buffer[] = [];
    let got = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= ECHO_BYTES && !settled) {
        settled = true;
        if (Buffer.concat(chunks).equals(sent)) ok++;
        else failures.set('echo differs', (failures.get('echo differs') ?? 0) + 1);
        client.end();
        finish();
      }
    });
    client.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      const key = `${error.code}${connected ? ' after connect' : ' before connect'}`;
      failures.set(key, (failures.get(key) ?? 0) + 1);
      if (!connected) handshakeOver();
      finish();
    });
  }
});
