// The transports the throughput benches compare, behind one small interface: a receiver that
// accepts connections and a sender that opens them. Used by the worker (bench/throughput.ts) for
// both the loopback bench (bench/run.ts) and the veth gauge (bench/gauge/run.ts).
//
// Two anchors are not uTP: 'dgram-blast' is Node's dgram at full speed with no acknowledgements
// and no flow control (a connected socket, datagrams of microtp's size): the ceiling for any
// transport built on dgram; datagrams the receiver's socket drops are simply not counted.
// 'tcp' is the kernel's TCP through node:net.
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { baselineEntry } from './baseline.js';
import { utpNativeStack } from './utp-native-stack.js';

export const STACKS = ['microtp', 'microtp-baseline', 'utp-native', 'udx-native', 'utp-native-defaults', 'dgram-blast', 'tcp'] as const;
export type StackName = (typeof STACKS)[number];

/** Stacks that lose data by design: the receiver ends the transfer when bytes stop arriving. */
export const LOSSY_STACKS: readonly StackName[] = ['dgram-blast'];

/** The few stream operations the bench needs, common to all stacks. */
export interface Pipe {
  write(chunk: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface Stack {
  /** Starts accepting `conns` connections on one socket; resolves with its port. */
  listen(conns: number, onPipe: (pipe: Pipe) => void): Promise<number>;
  /** Opens connection number `index` (0-based; all on one local socket); resolves once writes may start. */
  connect(port: number, index: number): Promise<Pipe>;
}

// utp-native tuned with 1 MiB kernel UDP buffers (Linux reports double). (webtorrent's
// conn-pool itself calls utp.createServer().listen(port) and connect() with no tuning: that is
// 'utp-native-defaults'.)
const UTP_SOCKBUF = Number(process.env.BENCH_UTP_SOCKBUF ?? 1024 * 1024);

/** The blast's datagram: microtp's default packetSize (µTP header included). */
const BLAST_DATAGRAM = Number(process.env.BENCH_BLAST_DATAGRAM ?? 1400);
/** The blast's kernel buffers: what microtp asks for (twice its 1 MiB receive window). */
const BLAST_SOCKBUF = 2 * 1024 * 1024;

// udx-native has no handshake: the receiver's stream (id 2k+2) connects back to whoever first
// sends to it (the firewall hook), the sender's (id 2k+1) connects directly. Default socket
// buffers, as Holepunch ships it.
async function udxNative(host: string): Promise<Stack> {
  const { default: UDX } = await import('udx-native');
  const udx = new UDX();
  const socket = udx.createSocket();
  return {
    async listen(conns, onPipe) {
      socket.bind(0, host);
      for (let k = 0; k < conns; k++) {
        const stream = udx.createStream(2 * k + 2, {
          firewall(sock, port, peerHost) {
            stream.connect(sock, 2 * k + 1, port, peerHost);
            onPipe(stream);
            return false; // accept
          },
        });
      }
      return socket.address().port;
    },
    async connect(port, index) {
      if (index === 0) socket.bind(0); // any local address; `host` is the receiver's
      const stream = udx.createStream(2 * index + 1);
      stream.connect(socket, 2 * index + 2, port, host);
      return stream;
    },
  };
}

/** One UTP socket per side: the server's, and one shared by every outgoing connection. */
async function utpNative(host: string, sockbuf: number): Promise<Stack> {
  const stack = await utpNativeStack(host, sockbuf);
  return {
    listen: (_conns, onPipe) => stack.listen(onPipe),
    connect: (port) => stack.connectShared(port),
  };
}

/** microtp from this checkout, or (baseline) as built by bench/baseline.ts from an earlier commit. */
async function microtp(host: string, entry?: string): Promise<Stack> {
  const { createServer, connect } = (
    entry === undefined ? await import('../src/index.js') : await import(pathToFileURL(entry).href)
  ) as typeof import('../src/index.js');
  return {
    async listen(_conns, onPipe) {
      const server = createServer({}, onPipe);
      await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
      const address = server.address();
      if (!address || typeof address !== 'object') throw new Error('microtp: server.address() is empty after listen');
      return address.port;
    },
    async connect(port) {
      const sock = connect(port, host); // every connect() shares one pooled UDP socket
      await once(sock, 'connect');
      return sock;
    },
  };
}

function tcp(host: string): Stack {
  return {
    async listen(_conns, onPipe) {
      const server = net.createServer(onPipe);
      server.listen(0, host);
      await once(server, 'listening');
      return (server.address() as net.AddressInfo).port;
    },
    async connect(port) {
      const sock = net.connect(port, host);
      await once(sock, 'connect');
      return sock;
    },
  };
}

/**
 * Each write() goes out as datagrams of BLAST_DATAGRAM bytes on a connected socket (the
 * cheapest send dgram has), with a callback on the last one only; write() reports backpressure
 * every time and 'drain' follows that callback, so the sender yields once per chunk and libuv's
 * send queue stays short. The receiver sees one pipe that emits every datagram that arrives.
 */
function dgramBlast(host: string): Stack {
  return {
    async listen(_conns, onPipe) {
      const sock = dgram.createSocket('udp4');
      const pipe = new EventEmitter();
      sock.on('message', (msg) => pipe.emit('data', msg));
      sock.bind(0, host);
      await once(sock, 'listening');
      sock.setRecvBufferSize(BLAST_SOCKBUF);
      onPipe(pipe as unknown as Pipe);
      return sock.address().port;
    },
    async connect(port) {
      const sock = dgram.createSocket('udp4');
      sock.connect(port, host);
      await once(sock, 'connect');
      sock.setSendBufferSize(BLAST_SOCKBUF);
      const pipe = new EventEmitter() as EventEmitter & Pipe;
      const drained = (): void => void pipe.emit('drain');
      pipe.write = (chunk) => {
        for (let off = 0; off < chunk.length; off += BLAST_DATAGRAM) {
          const end = Math.min(off + BLAST_DATAGRAM, chunk.length);
          sock.send(chunk.subarray(off, end), end === chunk.length ? drained : undefined);
        }
        return false;
      };
      return pipe;
    },
  };
}

export async function loadStack(name: StackName, host: string): Promise<Stack> {
  switch (name) {
    case 'microtp':
      return microtp(host);
    case 'microtp-baseline':
      return microtp(host, baselineEntry());
    case 'utp-native':
      return utpNative(host, UTP_SOCKBUF);
    case 'utp-native-defaults':
      return utpNative(host, 0);
    case 'udx-native':
      return udxNative(host);
    case 'dgram-blast':
      return dgramBlast(host);
    case 'tcp':
      return tcp(host);
  }
}
