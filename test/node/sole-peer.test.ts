import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { connect, createServer, type Server, type Socket } from '../../src/index.js';
import { pooledSocket } from '../../src/node/connect.js';

/**
 * connect()'s sockets: the first peer's (an IP literal and port) is connect()ed to it (cheaper
 * sends); every other peer's connections share a second, unconnected socket. Real loopback
 * sockets, the kernel's own filter.
 */

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** An echo server on 127.0.0.1; resolves with its port. */
async function echoServer(): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {}); // a client's destroy() resets it
    socket.pipe(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as { port: number }).port;
}

async function echoes(socket: Socket, text: string): Promise<void> {
  socket.write(text);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  assert.equal(chunk.toString(), text);
}

/** Where `socket`'s dgram socket is connected to, or undefined. */
function connectedPeer(shared: ReturnType<typeof pooledSocket>): { address: string; port: number } | undefined {
  try {
    const { address, port } = shared.udpSocket.remoteAddress();
    return { address, port };
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
    return undefined;
  }
}

test('connect(): the first peer gets a UDP socket connected to it, the others share an unconnected one', async () => {
  const portA = await echoServer();
  const portB = await echoServer();
  const a = connect(portA, '127.0.0.1');
  const a2 = connect(portA, '127.0.0.1');
  await Promise.all([once(a, 'connect'), once(a2, 'connect')]);
  const sole = pooledSocket('udp4', false, { host: '127.0.0.1', port: portA });
  assert.deepEqual(connectedPeer(sole), { address: '127.0.0.1', port: portA });
  assert.equal(sole.connections, 2, 'both connections to the first peer on its socket');
  await echoes(a, 'first peer');
  await echoes(a2, 'first peer, second connection');

  const b = connect(portB, '127.0.0.1');
  await once(b, 'connect');
  const shared = pooledSocket('udp4');
  assert.notEqual(shared, sole);
  assert.equal(shared.connections, 1);
  assert.equal(connectedPeer(shared), undefined, 'the socket for every other peer stays unconnected');
  assert.deepEqual(connectedPeer(sole), { address: '127.0.0.1', port: portA });
  await echoes(a, 'a beside b');
  await echoes(b, 'b beside a');
  for (const s of [a, a2, b]) s.destroy();
});

test('a connected socket hears ICMP port unreachable (ECONNREFUSED): ignored, as an unconnected socket never sees it', async () => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
  const closedPort = probe.address().port;
  probe.close();
  // Own options: a socket of its own (no error listener on it), as connect() makes one.
  const socket = connect({ port: closedPort, host: '127.0.0.1', initialRto: 50, maxSynTransmits: 3 });
  const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ETIMEDOUT');
});
