import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import utp, { type CompatConnection, UtpNativeSocket } from '../../src/compat/utp-native.js';

/**
 * The utp-native API on microtp (src/compat), on real loopback sockets: the pitfalls a compat
 * layer could add (each test fails without its handling), and utp-native's defaults. Timing is
 * never asserted; waits are bounded by the test timeout.
 */

const MiB = 1024 * 1024;
const sockets = new Set<UtpNativeSocket>();

function socket(options?: { allowHalfOpen?: boolean }): UtpNativeSocket {
  const s = utp(options);
  sockets.add(s);
  return s;
}

const clients = new Set<CompatConnection>();

/** utp.connect, remembered for the cleanup (the pooled socket outlives the test otherwise). */
function connect(port: number, host?: string): CompatConnection {
  const connection = utp.connect(port, host);
  clients.add(connection);
  return connection;
}

afterEach(() => {
  // Resets, not the graceful destroy(): the peers are going away too, and a FIN nobody
  // acknowledges would hold the pooled socket, and so this process, for seconds.
  const cleanup = new Error('test over');
  const reset = (c: CompatConnection): void => {
    c.on('error', () => {});
    c.destroy(cleanup);
  };
  for (const c of clients) reset(c);
  clients.clear();
  // Not awaited: a socket whose connections closed gracefully waits out their linger (3 s) to
  // re-ack a retransmitted FIN. Unreferenced, it does not hold the process meanwhile.
  for (const s of sockets) {
    for (const c of [...s.connections]) reset(c);
    s.close();
    s.unref();
  }
  sockets.clear();
});

function listening(s: UtpNativeSocket, port = 0, host?: string): Promise<number> {
  return new Promise((resolve) => s.listen(port, host ?? null, () => resolve(s.address().port)));
}

function errorOf(emitter: NodeJS.EventEmitter): Promise<Error & { code?: string }> {
  return once(emitter, 'error').then(([error]) => error as Error & { code?: string });
}

/** Records what is asked of every dgram socket's `method` while `body` runs. */
async function spyOnDgram<T>(method: 'setRecvBufferSize' | 'setSendBufferSize' | 'setTTL', body: (calls: number[]) => Promise<T>): Promise<T> {
  const proto = dgram.Socket.prototype as unknown as Record<string, (n: number) => unknown>;
  const original = proto[method]!;
  const calls: number[] = [];
  proto[method] = function (this: dgram.Socket, n: number) {
    calls.push(n);
    return original.call(this, n);
  };
  try {
    return await body(calls);
  } finally {
    proto[method] = original;
  }
}

describe('buffer sizes (webtorrent sets them right after listen())', { timeout: 20_000 }, () => {
  test('set before the bind completed: no throw, applied once bound', async () => {
    await spyOnDgram('setRecvBufferSize', async (calls) => {
      const s = socket();
      s.listen(0);
      // utp-native binds synchronously; here the bind is still under way.
      assert.doesNotThrow(() => s.setRecvBufferSize(3 * MiB));
      assert.equal(s.getRecvBufferSize(), 3 * MiB, 'before bind: what will be asked for');
      await once(s, 'listening');
      assert.ok(calls.includes(3 * MiB), `asked the kernel for 3 MiB (calls: ${calls.join(', ')})`);
      assert.ok(s.getRecvBufferSize() >= 3 * MiB);
    });
  });

  test('set before bind() was even called: applied at the bind', async () => {
    await spyOnDgram('setSendBufferSize', async (calls) => {
      const s = socket();
      s.setSendBufferSize(3 * MiB);
      await listening(s);
      assert.ok(calls.includes(3 * MiB), `asked the kernel for 3 MiB (calls: ${calls.join(', ')})`);
    });
  });

  test("a smaller size never shrinks microtp's own sizing, before or after bind", async () => {
    const plain = socket();
    await listening(plain);
    const own = plain.getRecvBufferSize();
    await spyOnDgram('setRecvBufferSize', async (calls) => {
      const s = socket();
      s.setRecvBufferSize(4096);
      await listening(s);
      s.setRecvBufferSize(8192);
      assert.ok(!calls.includes(4096) && !calls.includes(8192), `never asked for less (calls: ${calls.join(', ')})`);
      assert.equal(s.getRecvBufferSize(), own);
    });
  });

  test('a bad size is an error with a code', () => {
    const s = socket();
    assert.throws(() => s.setSendBufferSize(-1), { code: 'ERR_SOCKET_BAD_BUFFER_SIZE' });
  });

  test('setTTL before bind is applied once bound', async () => {
    await spyOnDgram('setTTL', async (calls) => {
      const s = socket();
      assert.doesNotThrow(() => s.setTTL(7));
      await listening(s);
      assert.deepEqual(calls, [7]);
    });
  });
});

describe('send() never throws (it runs inside DHT message handlers)', { timeout: 20_000 }, () => {
  const bad: [string, number, unknown, string][] = [
    ['port 0', 0, '127.0.0.1', 'ERR_SOCKET_BAD_PORT'],
    ['port 70000', 70000, '127.0.0.1', 'ERR_SOCKET_BAD_PORT'],
    ['port NaN', Number.NaN, '127.0.0.1', 'ERR_SOCKET_BAD_PORT'],
    ['an empty host', 6881, '', 'ERR_INVALID_ARG_TYPE'],
    ['a host that is not a string', 6881, 42, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [what, port, host, code] of bad) {
    test(`${what}: the callback gets an error with code ${code}`, async () => {
      const s = socket();
      await listening(s);
      const error = await new Promise<Error & { code?: string }>((resolve, reject) => {
        try {
          s.send(Buffer.from('x'), 0, 1, port, host as string, (e) => (e ? resolve(e) : reject(new Error('sent'))));
        } catch (thrown) {
          reject(thrown as Error);
        }
      });
      assert.equal(error.code, code);
    });
  }

  test("without a callback: an 'error' event with a code", async () => {
    const s = socket();
    await listening(s);
    const error = errorOf(s);
    assert.doesNotThrow(() => s.send(Buffer.from('x'), 0, 1, 0, '127.0.0.1'));
    assert.equal((await error).code, 'ERR_SOCKET_BAD_PORT');
  });

  test('an offset and length outside the buffer: the callback gets ERR_OUT_OF_RANGE', async () => {
    const s = socket();
    await listening(s);
    const error = await new Promise<Error & { code?: string }>((resolve) => s.send(Buffer.from('x'), 0, 5, 6881, '127.0.0.1', (e) => resolve(e!)));
    assert.equal(error.code, 'ERR_OUT_OF_RANGE');
  });
});

describe('bind errors and calls after close', { timeout: 20_000 }, () => {
  test("a port in use is an 'error' with code EADDRINUSE, and the socket can bind again", async () => {
    const a = socket();
    const port = await listening(a);
    const b = socket();
    const error = errorOf(b);
    let listened = false;
    b.listen(port, null, () => (listened = true));
    assert.equal((await error).code, 'EADDRINUSE');
    assert.equal(listened, false);
    const again = await listening(b);
    assert.notEqual(again, port);
  });

  test('send after close: the callback gets ERR_SOCKET_CLOSED', async () => {
    const s = socket();
    const port = await listening(s);
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const error = await new Promise<Error & { code?: string }>((resolve) => s.send(Buffer.from('x'), 0, 1, port, '127.0.0.1', (e) => resolve(e!)));
    assert.equal(error.code, 'ERR_SOCKET_CLOSED');
  });

  test("connect after close: the connection's 'error' has ERR_SOCKET_CLOSED; bind throws it", async () => {
    const s = socket();
    await listening(s);
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const connection = s.connect(6881, '127.0.0.1');
    assert.equal((await errorOf(connection)).code, 'ERR_SOCKET_CLOSED');
    assert.throws(() => s.bind(0), { code: 'ERR_SOCKET_CLOSED' });
    assert.throws(() => s.address(), { code: 'ERR_SOCKET_NOT_BOUND' });
  });

  test('close twice, and close of a socket never bound, call back', async () => {
    const s = socket();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  test('a bad port from the network fails that connection, not the caller', async () => {
    const s = socket();
    await listening(s);
    const connection = s.connect(0, '127.0.0.1');
    assert.equal((await errorOf(connection)).code, 'ERR_SOCKET_BAD_PORT');
    const pooled = connect(70000);
    assert.equal((await errorOf(pooled)).code, 'ERR_SOCKET_BAD_PORT');
  });
});

describe("utp-native's behaviour", { timeout: 20_000 }, () => {
  test('a bound socket refuses connections until listen(); firewall(true) refuses again', async () => {
    const server = socket();
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', () => resolve()));
    const port = server.address().port;
    assert.equal((await errorOf(connect(port))).code, 'ECONNREFUSED');
    server.listen();
    const accepted = once(server, 'connection');
    const client = connect(port);
    await once(client, 'connect');
    client.write('x');
    await accepted;
    server.firewall(true);
    assert.equal((await errorOf(connect(port))).code, 'ECONNREFUSED');
    client.destroy();
  });

  test('maxConnections counts open connections (0: no limit); connections is kept current', async () => {
    const server = socket();
    const port = await listening(server);
    server.maxConnections = 1;
    server.on('connection', (connection: CompatConnection) => connection.resume());
    const first = connect(port);
    first.resume();
    first.write('x');
    await once(server, 'connection');
    assert.equal(server.connections.length, 1);
    assert.equal((await errorOf(connect(port))).code, 'ECONNREFUSED');
    const closed = once(server.connections[0]!, 'close');
    first.end();
    server.connections[0]!.end();
    await closed;
    assert.equal(server.connections.length, 0);
    const second = connect(port);
    second.write('y');
    await once(server, 'connection');
    second.destroy();
  });

  test('allowHalfOpen is true by default: after the peer ends, we still write', async () => {
    const server = socket();
    const port = await listening(server);
    server.on('connection', (connection: CompatConnection) => {
      connection.resume();
      connection.on('end', () => connection.end('after your end'));
    });
    const client = connect(port);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.end('bye');
    await once(client, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'after your end');
  });

  test('allowHalfOpen: false ends our side when the peer ends', async () => {
    const server = socket({ allowHalfOpen: false });
    const port = await listening(server);
    const accepted = once(server, 'connection');
    const client = connect(port);
    client.write('x');
    const [connection] = (await accepted) as [CompatConnection];
    connection.resume();
    client.resume();
    client.end();
    await once(client, 'end');
  });

  test("an outgoing connection has remoteAddress and remotePort at once (webtorrent drops it otherwise)", async () => {
    const server = socket();
    const port = await listening(server);
    const fresh = socket();
    const connection = fresh.connect(port, '127.0.0.1');
    assert.equal(connection.remoteAddress, '127.0.0.1');
    assert.equal(connection.remotePort, port);
    const pooled = connect(port, 'localhost');
    assert.equal(pooled.remoteAddress, 'localhost');
    await once(pooled, 'connect');
    assert.equal(pooled.remoteAddress, '127.0.0.1', 'the resolved address once known');
    connection.destroy();
    pooled.destroy();
  });

  test('one socket listens, connects out (webtorrent: server.connect) and carries datagrams', async () => {
    const a = socket();
    const b = socket();
    const portA = await listening(a, 0, '127.0.0.1');
    const portB = await listening(b, 0, '127.0.0.1');
    const message = once(b, 'message');
    a.send(Buffer.from('ping'), 0, 4, portB, '127.0.0.1');
    const [data, rinfo] = await message;
    assert.equal(String(data), 'ping');
    assert.deepEqual(rinfo, { address: '127.0.0.1', family: 'IPv4', port: portA }, "utp-native's rinfo fields, no more");
    const accepted = once(b, 'connection');
    const out = a.connect(portB, '127.0.0.1');
    out.write('hi');
    const [incoming] = (await accepted) as [CompatConnection];
    assert.equal(incoming.remotePort, portA, 'outgoing connections leave from the listening port');
    assert.equal(a.connections.length, 1);
    out.destroy();
  });

  test("send() and connect() bind an unbound socket first, with 'listening', as utp-native", async () => {
    const a = socket();
    const listened = once(a, 'listening');
    a.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1');
    await listened;
    assert.equal(a.address().address, '0.0.0.0');
    const b = socket();
    const bound = once(b, 'listening');
    b.connect(9, '127.0.0.1').on('error', () => {});
    await bound;
    assert.equal(typeof b.address().port, 'number');
  });

  test('IPv6 works (utp-native had IPv4 only)', async () => {
    const server = socket();
    const port = await listening(server, 0, '::1');
    server.on('connection', (connection: CompatConnection) => connection.pipe(connection));
    const client = connect(port, '::1');
    client.write('six');
    const [data] = await once(client, 'data');
    assert.equal(String(data), 'six');
    assert.equal(client.remoteFamily, 'IPv6');
    client.destroy();
  });

  test("destroy() closes with a FIN as utp-native's: the peer gets what was written and 'end', not ECONNRESET", async () => {
    const server = socket();
    const port = await listening(server);
    const accepted = once(server, 'connection');
    const client = connect(port);
    client.write('first');
    const [peer] = (await accepted) as [CompatConnection];
    const peerErrors: Error[] = [];
    peer.on('error', (error: Error) => peerErrors.push(error));
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => {
      received.push(chunk);
      peer.write('late'); // arrives after the client's destroy(): not delivered to it
    });
    const ended = once(peer, 'end');
    const closed = once(client, 'close');
    client.on('data', () => assert.fail('data after destroy()'));
    client.write('last');
    client.destroy();
    client.destroy(); // a second destroy() does not turn the close into a reset
    await ended;
    assert.equal(Buffer.concat(received).toString(), 'firstlast');
    peer.end();
    await closed;
    assert.deepEqual(peerErrors, []);
  });

  test('destroy(error) resets at once: the peer gets ECONNRESET', async () => {
    const server = socket();
    const port = await listening(server);
    const accepted = once(server, 'connection');
    const client = connect(port);
    client.write('x');
    const [peer] = (await accepted) as [CompatConnection];
    const reset = errorOf(peer);
    client.on('error', () => {});
    client.destroy(new Error('application gave up'));
    assert.equal((await reset).code, 'ECONNRESET');
  });

  test('utp.connect shares one pooled UDP socket', async () => {
    const server = socket();
    const port = await listening(server);
    server.on('connection', (connection: CompatConnection) => connection.pipe(connection));
    const a = connect(port);
    const b = connect(port);
    a.write('a');
    b.write('b');
    await Promise.all([once(a, 'data'), once(b, 'data')]);
    assert.equal(a.address().port, b.address().port);
    a.destroy();
    b.destroy();
  });

  test('connection extras: setInteractive maps to setNoDelay; setContentSize and setPacketSize are hints', async () => {
    const server = socket();
    const port = await listening(server);
    const client = connect(port);
    const calls: boolean[] = [];
    const setNoDelay = client.setNoDelay.bind(client);
    client.setNoDelay = (noDelay?: boolean) => {
      calls.push(noDelay ?? true);
      return setNoDelay(noDelay);
    };
    assert.equal(client.setInteractive(true), client);
    client.setInteractive(false);
    assert.deepEqual(calls, [true, false]);
    assert.equal(client.setContentSize(8 * MiB), client);
    assert.equal(client.setPacketSize(65536), client);
    client.destroy();
  });

  test('utp() and new utp() make sockets; instanceof holds; createServer takes a listener', () => {
    const Utp = utp;
    const made = new Utp();
    sockets.add(made);
    assert.ok(made instanceof utp);
    assert.ok(socket() instanceof UtpNativeSocket);
    const listener = (): void => {};
    const server = utp.createServer(listener);
    sockets.add(server);
    assert.deepEqual(server.listeners('connection'), [listener]);
    assert.equal(server.maxConnections, 0);
    assert.deepEqual(server.connections, []);
  });
});
