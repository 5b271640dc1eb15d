import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import utp, { type CompatConnection, UtpNativeSocket } from '../../src/compat/utp-native.js';

/**
 * Edges of the utp-native API found in review: each test failed before its fix. Real loopback
 * sockets; no timing asserted.
 */

const sockets = new Set<UtpNativeSocket>();

function socket(): UtpNativeSocket {
  const s = utp();
  sockets.add(s);
  return s;
}

afterEach(() => {
  for (const s of sockets) {
    for (const c of [...s.connections]) c.destroy(new Error('test over'));
    s.close();
    s.unref();
  }
  sockets.clear();
});

function listening(s: UtpNativeSocket): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s.address().port)));
}

function closeOf(connection: CompatConnection): Promise<void> {
  return new Promise((resolve) => connection.on('close', () => resolve()));
}

describe('utp-native compat edges', { timeout: 20_000 }, () => {
  test('maxConnections holds when many connections arrive at once (they are confirmed in one batch)', async () => {
    const server = socket();
    const port = await listening(server);
    server.maxConnections = 3;
    let accepted = 0;
    server.on('connection', (connection: CompatConnection) => {
      accepted++;
      connection.resume();
    });
    const client = socket();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => {
        const connection = client.connect(port, '127.0.0.1');
        connection.resume();
        connection.write('x');
        return new Promise<string>((resolve) => {
          connection.on('error', (error: Error & { code?: string }) => resolve(error.code ?? 'error'));
          // Refused ones are reset once their data reached the server (within an RTO).
          connection.on('connect', () => setTimeout(() => resolve('open'), 3000));
        });
      }),
    );
    assert.ok(accepted <= 3, `accepted ${accepted} connections with maxConnections = 3`);
    assert.ok(server.connections.length <= 3);
    assert.equal(outcomes.filter((o) => o === 'ECONNRESET' || o === 'ECONNREFUSED').length + accepted, 10);
  });

  test("a peer's RESET on a connection without an 'error' listener does not crash the process", async () => {
    const server = socket();
    const port = await listening(server);
    const serverSide = new Promise<CompatConnection>((resolve) => server.on('connection', resolve));
    const client = socket();
    const connection = client.connect(port, '127.0.0.1');
    connection.write('x');
    const accepted = await serverSide; // no 'error' listener, as many utp-native users
    accepted.resume();
    const closed = closeOf(accepted); // not events.once: it would listen for 'error'
    connection.on('error', () => {});
    connection.destroy(new Error('reset it')); // a RESET to the server side
    await closed;
    assert.equal(server.connections.length, 0);
  });

  test("a connect that fails (nobody answers, bad port) without an 'error' listener does not crash", async () => {
    const client = socket();
    const bad = client.connect(0, '127.0.0.1'); // a port 0 from a DHT or PEX message
    await closeOf(bad);
    const unpooled = utp.connect(70000, '127.0.0.1');
    await closeOf(unpooled);
    assert.equal(client.connections.length, 0);
  });

  test('listen() after close() throws ERR_SOCKET_CLOSED on a bound socket too (its callback never runs)', async () => {
    const server = socket();
    await listening(server);
    server.close();
    assert.throws(
      () => server.listen(0, () => assert.fail('listen callback after close()')),
      (error: Error & { code?: string }) => error.code === 'ERR_SOCKET_CLOSED',
    );
    await new Promise((resolve) => setImmediate(resolve));
  });
});
