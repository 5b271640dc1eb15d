import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { connect, createServer, createSocket, type Server, type Socket } from '../../src/index.js';
import { addressFor, canonicalAddress } from '../../src/node/args.js';

/** Addresses the application spells differently from rinfo still reach their peer (loopback). */

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve(server.address()!.port)));
}

/** Echoes; the client destroying its end (ECONNRESET here) is expected. */
function echoServer(): Server {
  return createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function roundTrip(socket: Socket): Promise<void> {
  await once(socket, 'connect');
  socket.write('ping');
  const [data] = (await once(socket, 'data')) as [Buffer];
  assert.equal(data.toString(), 'ping');
  socket.destroy();
}

describe('canonical addresses', () => {
  test('canonicalAddress prints as rinfo does', () => {
    assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalAddress('0000::1'), '::1');
    assert.equal(canonicalAddress('FE80::ABCD'), 'fe80::abcd');
    assert.equal(canonicalAddress('fe80::ABCD%lo'), 'fe80::abcd%lo');
    assert.equal(canonicalAddress('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonicalAddress('::FFFF:7F00:1'), '::ffff:127.0.0.1');
    assert.equal(canonicalAddress('127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalAddress('localhost'), 'localhost');
    assert.equal(addressFor('udp6', '127.0.0.1'), '::ffff:127.0.0.1');
    assert.equal(addressFor('udp4', '::ffff:127.0.0.1'), '127.0.0.1');
  });
});

describe('connect with non-canonical literals', { timeout: 20_000 }, () => {
  for (const host of ['0:0:0:0:0:0:0:1', '0000::1', '0:0:0:0:0:0:0:0001']) {
    test(`connect(port, '${host}') reaches a server on ::1`, async () => {
      const server = echoServer();
      const port = await listen(server, '::1');
      const client = connect(port, host);
      await roundTrip(client);
      assert.equal(client.remoteAddress, '::1');
      await closeServer(server);
    });
  }

  for (const host of ['127.1', '0x7f.0.0.1', '0177.0.0.1']) {
    // Not IP literals to isIP: resolved (inet_aton) to the dotted quad rinfo reports.
    test(`connect(port, '${host}') reaches a server on 127.0.0.1`, async () => {
      const server = echoServer();
      const port = await listen(server, '127.0.0.1');
      const client = connect(port, host);
      await roundTrip(client);
      assert.equal(client.remoteAddress, '127.0.0.1');
      await closeServer(server);
    });
  }

  for (const host of ['::ffff:127.0.0.1', '::FFFF:7F00:0001', '127.0.0.1']) {
    test(`a udp6 shared socket reaches an IPv4 server through '${host}'`, async () => {
      const server = echoServer();
      const port = await listen(server, '127.0.0.1');
      const shared = createSocket({ type: 'udp6' });
      const client = shared.connect(port, host);
      await roundTrip(client);
      assert.equal(client.remoteAddress, '::ffff:127.0.0.1');
      shared.close();
      await closeServer(server);
    });
  }
});

describe('send() reaches IP literals in any spelling', { timeout: 20_000 }, () => {
  for (const [type, host] of [['udp4', '::ffff:127.0.0.1'], ['udp6', '127.0.0.1'], ['udp6', '::FFFF:7F00:1']] as const) {
    test(`a ${type} shared socket sends to '${host}' (as connect() does)`, async () => {
      const sink = dgram.createSocket('udp4');
      sink.bind(0, '127.0.0.1');
      await once(sink, 'listening');
      const shared = createSocket({ type });
      const sent = new Promise<Error | null>((resolve) => shared.send(Buffer.from('d1:q4:pinge'), sink.address().port, host, resolve));
      const received = once(sink, 'message');
      assert.equal(await sent, null); // (before the fix: EINVAL from dgram)
      const [message] = await received;
      assert.equal(message.toString(), 'd1:q4:pinge');
      sink.close();
      shared.close();
    });
  }
});

describe('connects made while the socket binds', { timeout: 20_000 }, () => {
  test('20 connects before bind completes: no MaxListenersExceededWarning, all connect', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const server = echoServer();
      const port = await listen(server, '127.0.0.1');
      const shared = createSocket({ type: 'udp4' });
      const clients = Array.from({ length: 20 }, () => shared.connect(port, '127.0.0.1'));
      await Promise.all(clients.map((client) => once(client, 'connect')));
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.map((w) => w.name), []);
      for (const client of clients) client.destroy();
      shared.close();
      await closeServer(server);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('send() before bind: the socket binds through its own bind(), and connect() and listen() still work', async () => {
    const server = echoServer();
    const port = await listen(server, '127.0.0.1');
    const shared = createSocket({ type: 'udp4' });
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', () => resolve()));
    const got = once(sink, 'message');
    // Before the fix dgram bound implicitly here, and connect() then threw ERR_SOCKET_ALREADY_BOUND.
    shared.send(Buffer.from('d1:ad2:id20:xxxxxxxxxxxxxxxxxxxxe1:q4:pinge'), sink.address().port, '127.0.0.1');
    const client = shared.connect(port, '127.0.0.1');
    await once(client, 'connect');
    await got;
    await new Promise<void>((resolve) => shared.listen(() => resolve()));
    client.destroy();
    sink.close();
    await new Promise<void>((resolve) => shared.close(() => resolve()));
    await closeServer(server);
  });
});
