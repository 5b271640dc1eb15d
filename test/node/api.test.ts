import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { connect, createServer, createSocket, type Server, type Socket } from '../../src/index.js';

/** Real sockets on loopback. Timing is never asserted; waits are bounded by the test timeout. */

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve(server.address()!.port)));
}

function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

for (const host of ['127.0.0.1', '::1']) {
  describe(`echo over ${host}`, { timeout: 20_000 }, () => {
    test('connect, transfer both ways, end, close; addresses are set', async () => {
      let accepted: Socket | undefined;
      const server = createServer((socket) => {
        accepted = socket;
        assert.equal(typeof socket.remoteAddress, 'string');
        assert.equal(typeof socket.remotePort, 'number');
        socket.pipe(socket);
      });
      const port = await listen(server, host);
      const payload = randomBytes(2 * 1024 * 1024);
      const client = connect(port, host);
      await once(client, 'connect');
      assert.equal(client.remoteAddress, host);
      assert.equal(client.remotePort, port);
      assert.equal(client.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
      assert.equal(typeof client.localPort, 'number');
      const received = collect(client);
      const closed = once(client, 'close');
      client.end(payload);
      assert.equal(sha(await received), sha(payload));
      assert.equal(accepted?.remotePort, client.localPort);
      await closed;
      await closeServer(server);
    });
  });
}

describe('errors carry codes', { timeout: 20_000 }, () => {
  test('listening on a port in use emits EADDRINUSE', async () => {
    const first = createServer();
    const port = await listen(first, '127.0.0.1');
    const second = createServer();
    second.listen(port, '127.0.0.1');
    const [error] = (await once(second, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'EADDRINUSE');
    assert.equal(second.listening, false);
    await closeServer(first);
  });

  test('a bound socket that does not listen refuses: ECONNREFUSED', async () => {
    const shared = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve) => shared.bind(0, '127.0.0.1', resolve));
    const client = connect(shared.address().port, '127.0.0.1');
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    shared.close();
  });

  test('the peer destroying the connection gives ECONNRESET', async () => {
    const server = createServer((socket) => {
      socket.once('data', () => socket.destroy());
    });
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    client.write('hello');
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNRESET');
    await closeServer(server);
  });

  test('SYNs into a black hole give ETIMEDOUT', async () => {
    const hole = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => hole.bind(0, '127.0.0.1', resolve));
    const client = connect({ port: hole.address().port, host: '127.0.0.1', initialRto: 50, maxSynTransmits: 2 });
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ETIMEDOUT');
    hole.close();
  });

  test('bad arguments throw with a code', () => {
    assert.throws(() => connect(70000, '127.0.0.1'), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => connect(-1), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => connect({ port: 1000, host: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => createSocket({ type: 'udp5' as 'udp4' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => createServer().listen(1e6), { code: 'ERR_SOCKET_BAD_PORT' });
  });

  test('closing a server that is not running reports ERR_SERVER_NOT_RUNNING', async () => {
    const error = await new Promise<Error | undefined>((resolve) => createServer().close(resolve));
    assert.equal((error as NodeJS.ErrnoException).code, 'ERR_SERVER_NOT_RUNNING');
  });
});

describe('server', { timeout: 20_000 }, () => {
  test('close() is prompt with no connections', async () => {
    const server = createServer();
    await listen(server, '127.0.0.1');
    const started = Date.now();
    await closeServer(server);
    assert.ok(Date.now() - started < 1000, 'close took over a second');
  });

  test('close() stops accepting and emits close when the last connection is gone', async () => {
    let accepted: Socket | undefined;
    const server = createServer((socket) => {
      accepted = socket;
      socket.resume();
    });
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    client.write('x');
    await once(server, 'connection');
    let closed = false;
    server.close(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closed, false, 'closed while a connection was open');
    const late = connect(port, '127.0.0.1');
    const [error] = (await once(late, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    client.end();
    accepted!.end();
    await once(server, 'close');
    assert.equal(closed, true);
  });

  test('maxConnections refuses connections beyond the limit', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {}); // the client below is destroyed: ECONNRESET here is expected
      socket.resume();
    });
    server.maxConnections = 1;
    const port = await listen(server, '127.0.0.1');
    const first = connect(port, '127.0.0.1');
    first.write('a');
    await once(server, 'connection');
    const second = connect(port, '127.0.0.1');
    second.write('b');
    const [error] = (await once(second, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    first.destroy();
    await closeServer(server);
  });

  test('unref() lets the process exit; ref() restores', async () => {
    const server = createServer();
    await listen(server, '127.0.0.1');
    assert.equal(server.unref(), server);
    assert.equal(server.ref(), server);
    await closeServer(server);
  });
});

describe('streams', { timeout: 30_000 }, () => {
  test('write() reports backpressure and drain follows', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {}); // the client is destroyed mid-transfer
      socket.resume();
    });
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(256 * 1024);
    let writes = 0;
    while (client.write(chunk)) writes++;
    assert.ok(writes < 1000, 'write() never returned false');
    await once(client, 'drain');
    client.destroy();
    await closeServer(server);
  });

  test('allowHalfOpen keeps the writable side open after the peer ends', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.resume();
      socket.on('end', () => socket.end('after-your-end'));
    });
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    const received = collect(client);
    const closed = once(client, 'close');
    client.end('bye');
    assert.equal((await received).toString(), 'after-your-end');
    await closed;
    await closeServer(server);
  });

  test('setTimeout emits timeout after inactivity and does not close', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {}); // the client is destroyed at the end
      socket.resume();
    });
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    client.write('x');
    await once(client, 'connect');
    client.setTimeout(100);
    await once(client, 'timeout');
    assert.equal(client.destroyed, false);
    client.setTimeout(0);
    client.destroy();
    await closeServer(server);
  });

  test('stats() reports counters', async () => {
    const server = createServer((socket) => socket.pipe(socket));
    const port = await listen(server, '127.0.0.1');
    const client = connect(port, '127.0.0.1');
    const received = collect(client);
    client.end(Buffer.alloc(100_000, 7));
    assert.equal((await received).length, 100_000);
    const stats = client.stats()!;
    assert.equal(stats.bytesSent, 100_000);
    assert.equal(stats.bytesReceived, 100_000);
    assert.ok(stats.packetsSent > 0 && stats.rtt > 0);
    await closeServer(server);
  });
});

describe('many connections and the shared socket', { timeout: 30_000 }, () => {
  test('20 connections both ways on one shared socket each side', async () => {
    const a = createSocket({ type: 'udp4' });
    const b = createSocket({ type: 'udp4' });
    const echo = (socket: Socket): void => {
      socket.pipe(socket);
    };
    a.on('connection', echo);
    b.on('connection', echo);
    await new Promise<void>((resolve) => a.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => b.listen(0, '127.0.0.1', resolve));
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const socket = from.connect(to.address().port, '127.0.0.1');
      const payload = randomBytes(64 * 1024 + i);
      runs.push(
        collect(socket).then((got) => {
          assert.equal(sha(got), sha(payload));
          assert.equal(socket.localPort, from.address().port);
        }),
      );
      socket.end(payload);
    }
    await Promise.all(runs);
    a.close();
    b.close();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  });

  test('a udp6 shared socket accepts and opens connections over ::1', async () => {
    const a = createSocket({ type: 'udp6' });
    const b = createSocket({ type: 'udp6' });
    b.on('connection', (socket: Socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => a.bind(0, '::1', resolve));
    await new Promise<void>((resolve) => b.listen(0, '::1', resolve));
    const socket = a.connect(b.address().port, '::1');
    const received = collect(socket);
    socket.setNoDelay(true);
    socket.end('over ipv6');
    assert.equal((await received).toString(), 'over ipv6');
    assert.equal(socket.remoteFamily, 'IPv6');
    a.close();
    b.close();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  });

  test('datagrams that are not uTP arrive as message events; send() shares the port', async () => {
    const shared = createSocket({ type: 'udp4' });
    shared.on('connection', (socket: Socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => shared.listen(0, '127.0.0.1', resolve));
    const other = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));
    const dht = Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
    other.send(dht, shared.address().port, '127.0.0.1');
    const [message, rinfo] = (await once(shared, 'message')) as [Buffer, dgram.RemoteInfo];
    assert.deepEqual(message, dht);
    assert.equal(rinfo.port, other.address().port);
    shared.send(Buffer.from('pong'), other.address().port, '127.0.0.1');
    const [reply] = (await once(other, 'message')) as [Buffer];
    assert.equal(reply.toString(), 'pong');
    // uTP keeps working on the same port.
    const client = connect(shared.address().port, '127.0.0.1');
    const received = collect(client);
    client.end('still utp');
    assert.equal((await received).toString(), 'still utp');
    other.close();
    shared.close();
    await once(shared, 'close');
  });

  test('garbage and hostile datagrams never throw out of the socket', async () => {
    const server = createServer((socket) => socket.pipe(socket));
    const port = await listen(server, '127.0.0.1');
    const attacker = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => attacker.bind(0, '127.0.0.1', resolve));
    const send = (data: Buffer): void => attacker.send(data, port, '127.0.0.1');
    for (let i = 0; i < 500; i++) send(randomBytes(1 + (i % 100)));
    for (let type = 0; type < 5; type++) {
      const header = randomBytes(20);
      header[0] = (type << 4) | 1;
      header[1] = 1; // a SACK extension whose length runs past the end
      send(Buffer.concat([header, Buffer.from([0, 200, 1])]));
      header[1] = 0;
      send(header);
    }
    const client = connect(port, '127.0.0.1');
    const received = collect(client);
    client.end('alive');
    assert.equal((await received).toString(), 'alive');
    attacker.close();
    await closeServer(server);
  });
});
