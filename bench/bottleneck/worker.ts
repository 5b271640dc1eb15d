// One process of the bottleneck bench (bench/bottleneck/run.ts), started inside a network
// namespace with `ip netns exec <ns> node build/bench/bottleneck/worker.js <role> ...`:
//
//   echo <host> <port> <maxSeconds>                 UDP echo (receiver namespace)
//   ping <host> <port> <hz> <maxSeconds>            UDP pinger (sender namespace)
//   recv <stack> <host> <port> <cc> <maxSeconds>            accepts uTP connections, counts bytes
//   send <stack> <host> <port> <startsMs> <cc> <maxSeconds> one flow per entry of startsMs (comma
//        list: ms after the first flow connected, e.g. 0 or 0,20000), each writing as fast as allowed
//
// <stack> is microtp or utp-native (libutp, 1 MiB kernel UDP buffers as in bench/throughput.ts).
// <cc> is microtp's congestionControl option ('ledbat', 'ledbat++'), or '-' for its default;
// ignored for utp-native. Each microtp flow has a UDP socket of its own, as each libutp one does.
// All flows of a scenario run in one sender and one receiver process on purpose: their µTP
// timestamps (this process's performance.now()) then carry the same clock offset, so their base
// delays compare directly (multi-flow.ts, the drift check).
// Every role exits by itself after <maxSeconds>, so nothing outlives a parent that died hard;
// the parent normally ends it earlier with SIGTERM (by PID).
//
// Output: one record per line on stdout, times in epoch ms (one clock for all namespaces):
//   ORIGIN <timeOrigin>                recv/send: this process's performance.timeOrigin (epoch ms)
//   READY <port>                       echo/recv listening
//   CONNECTED <t> <flow>               send: connect() of flow <flow> (0, 1, ...) completed
//   S <seq> <t>                        ping sent
//   R <seq> <rttMs>                    ping answered
//   B <t> <bytes> [<bytes> ...]        recv: cumulative bytes per connection (accept order) every 100 ms
//   T <t> <flow> <json>                send (microtp): socket.stats() of each flow every 100 ms
//   W <t> <bytes> [<bytes> ...]        send: cumulative bytes accepted by write() per flow every 100 ms
//   ERROR <message>                    anything fatal (the process then exits 1)
import dgram from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type utpModule from 'utp-native';

type StackName = 'microtp' | 'utp-native';
type CcName = 'ledbat' | 'ledbat++' | undefined;
const SOCKBUF = 1 << 20;
const CHUNK = 64 * 1024;
const SAMPLE_MS = 100;

/** The stream operations used here, common to both stacks. */
interface Pipe {
  write(chunk: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

const now = (): number => performance.timeOrigin + performance.now();
const out = (line: string): void => void process.stdout.write(`${line}\n`);

function fatal(err: unknown): never {
  out(`ERROR ${(err instanceof Error ? (err.stack ?? err.message) : String(err)).replace(/\n/g, ' | ')}`);
  process.exit(1);
}

async function echo(host: string, port: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  sock.on('error', fatal);
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(port, host);
  await once(sock, 'listening');
  out(`READY ${sock.address().port}`);
}

/** 16-byte pings: seq (u32), pad, send time (f64, this process's performance.now()). */
async function ping(host: string, port: number, hz: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  sock.on('error', fatal);
  sock.on('message', (msg) => {
    if (msg.length < 16) return;
    const rtt = performance.now() - msg.readDoubleLE(8);
    out(`R ${msg.readUInt32LE(0)} ${rtt.toFixed(3)}`);
  });
  sock.bind(0);
  await once(sock, 'listening');
  let seq = 0;
  const start = performance.now();
  const tick = (): void => {
    const buf = Buffer.alloc(16);
    buf.writeUInt32LE(seq, 0);
    const t = performance.now();
    buf.writeDoubleLE(t, 8);
    out(`S ${seq} ${(performance.timeOrigin + t).toFixed(3)}`);
    sock.send(buf, port, host);
    seq++;
    // Schedule against the start time so the rate does not drift with timer lateness.
    setTimeout(tick, Math.max(0, start + (seq * 1000) / hz - performance.now()));
  };
  tick();
}

async function loadStack(name: StackName, cc: CcName): Promise<{
  listen(host: string, port: number, onPipe: (p: Pipe) => void): Promise<number>;
  connect(host: string, port: number): Promise<{ pipe: Pipe; stats?: () => Record<string, unknown> | undefined }>;
}> {
  if (name === 'utp-native') {
    const { default: utp } = await import('utp-native');
    const tune = (s: utpModule.UTP): void => {
      s.setRecvBufferSize(SOCKBUF);
      s.setSendBufferSize(SOCKBUF);
    };
    return {
      async listen(host, port, onPipe) {
        const server = utp.createServer(onPipe);
        server.on('error', fatal);
        server.listen(port, host);
        tune(server);
        await once(server, 'listening');
        return server.address().port;
      },
      async connect(host, port) {
        const conn = utp.connect(port, host);
        tune(conn._utp);
        await once(conn, 'connect');
        return { pipe: conn };
      },
    };
  }
  const { createServer, createSocket } = await import('../../src/index.js');
  const options = cc === undefined ? {} : { congestionControl: cc };
  return {
    async listen(host, port, onPipe) {
      const server = createServer(options, onPipe);
      server.on('error', fatal);
      await new Promise<void>((resolve) => server.listen(port, host, () => resolve()));
      const address = server.address();
      return address && typeof address === 'object' ? address.port : port;
    },
    async connect(host, port) {
      const sock = createSocket({ type: 'udp4', ...options }).connect(port, host);
      await once(sock, 'connect');
      // Typed loosely on purpose: congestion control is being rewritten and will add fields;
      // every numeric or boolean field is recorded.
      return { pipe: sock, stats: () => sock.stats() as unknown as Record<string, unknown> | undefined };
    },
  };
}

async function recv(stackName: StackName, host: string, port: number, cc: CcName): Promise<void> {
  const stack = await loadStack(stackName, cc);
  const bytes: number[] = []; // per connection, in accept order
  const bound = await stack.listen(host, port, (pipe) => {
    const i = bytes.push(0) - 1;
    pipe.on('error', fatal);
    pipe.on('data', (chunk) => {
      bytes[i]! += chunk.length;
    });
  });
  setInterval(() => out(`B ${now().toFixed(1)} ${bytes.length ? bytes.join(' ') : 0}`), SAMPLE_MS);
  out(`READY ${bound}`);
}

async function send(stackName: StackName, host: string, port: number, startsMs: number[], cc: CcName): Promise<void> {
  const stack = await loadStack(stackName, cc);
  const written = startsMs.map(() => 0);
  const statsOf: Array<(() => Record<string, unknown> | undefined) | undefined> = [];
  setInterval(() => {
    const t = now().toFixed(1);
    out(`W ${t} ${written.join(' ')}`);
    statsOf.forEach((stats, i) => {
      const s = stats?.();
      if (!s) return;
      const rec: Record<string, number | boolean> = {};
      for (const [k, v] of Object.entries(s)) if (typeof v === 'number' || typeof v === 'boolean') rec[k] = v;
      out(`T ${t} ${i} ${JSON.stringify(rec)}`);
    });
  }, SAMPLE_MS);
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const pump = async (pipe: Pipe, i: number): Promise<void> => {
    for (;;) {
      written[i]! += CHUNK;
      if (!pipe.write(chunk)) await new Promise<void>((resolve) => pipe.once('drain', resolve));
    }
  };
  /** Connects flow i and starts its writes; resolves with the connect time. */
  const flow = async (i: number): Promise<number> => {
    const { pipe, stats } = await stack.connect(host, port);
    const t = now();
    out(`CONNECTED ${t.toFixed(1)} ${i}`);
    statsOf[i] = stats;
    pipe.on('error', fatal);
    pump(pipe, i).catch(fatal);
    return t;
  };
  // The first flow connects now; the others at their offsets from its connect.
  const t0 = await flow(0);
  startsMs.forEach((ms, i) => {
    if (i > 0) setTimeout(() => flow(i).catch(fatal), Math.max(0, t0 + ms - now()));
  });
}

async function main(): Promise<void> {
  const [role, ...args] = process.argv.slice(2);
  const maxSeconds = Number(args[args.length - 1]);
  if (!(maxSeconds > 0)) throw new Error(`usage: worker.js echo|ping|recv|send ... <maxSeconds> (got ${process.argv.slice(2).join(' ')})`);
  setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
  // Stay alive until the deadline even when the role itself is idle.
  const keepAlive = setInterval(() => {}, 1 << 30);
  process.on('SIGTERM', () => {
    clearInterval(keepAlive);
    process.exit(0);
  });
  process.stdout.on('error', () => process.exit(0)); // parent gone
  switch (role) {
    case 'echo':
      return echo(args[0] ?? '', Number(args[1]));
    case 'ping':
      return ping(args[0] ?? '', Number(args[1]), Number(args[2]));
    case 'recv':
    case 'send': {
      const stack = args[0];
      if (stack !== 'microtp' && stack !== 'utp-native') throw new Error(`unknown stack ${stack}`);
      const ccArg = args[role === 'recv' ? 3 : 4];
      if (ccArg !== '-' && ccArg !== 'ledbat' && ccArg !== 'ledbat++') throw new Error(`unknown congestion control ${ccArg}`);
      const cc = ccArg === '-' ? undefined : ccArg;
      out(`ORIGIN ${performance.timeOrigin.toFixed(3)}`);
      if (role === 'recv') return recv(stack, args[1] ?? '', Number(args[2]), cc);
      const startsMs = (args[3] ?? '').split(',').map(Number);
      if (startsMs[0] !== 0 || startsMs.some((x) => !(x >= 0))) throw new Error(`startsMs must begin with 0, got ${args[3]}`);
      return send(stack, args[1] ?? '', Number(args[2]), startsMs, cc);
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

main().catch(fatal);
