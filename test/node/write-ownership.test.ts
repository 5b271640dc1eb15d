import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { connect, createServer, type Server, type Socket } from '../../src/index.js';

/**
 * net's promise: once write()'s callback ran, the buffer is the application's again. Real
 * sockets on loopback; the receiving side checks the stream byte for byte. Timing is never
 * asserted; waits are bounded by the test timeout.
 */

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address()!.port)));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Sockets to destroy when a test ends, so that a failing test does not keep the process alive. */
const open = new Set<Socket>();

const servers = new Set<Server>();

/** After each test, passed or failed: destroy what is left, close the server. */
async function cleanUp(): Promise<void> {
  for (const socket of open) socket.destroy();
  open.clear();
  for (const server of servers) await closeServer(server);
  servers.clear();
}

function track(socket: Socket): Socket {
  open.add(socket);
  return socket;
}

/** A server whose every connection's bytes (until its end) resolve `received`. */
async function sink(): Promise<{ server: Server; port: number; received: Promise<Buffer> }> {
  let resolve!: (data: Buffer) => void;
  const received = new Promise<Buffer>((r) => (resolve = r));
  const server = createServer((socket: Socket) => {
    track(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
  });
  servers.add(server);
  return { server, port: await listen(server), received };
}

/** Where two buffers first differ, for a readable failure. */
function describeDifference(actual: Buffer, expected: Buffer): string {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  return `length ${actual.length} vs ${expected.length}, first difference at byte ${i}`;
}

describe('write buffers belong to the application after the callback', { timeout: 30_000 }, () => {
  afterEach(cleanUp);
  test("three 100 kB writes of one buffer refilled in each callback ('A', 'C', 'D') arrive byte-exact", async () => {
    const { port, received } = await sink();
    const client = track(connect(port, '127.0.0.1'));
    const buffer = Buffer.alloc(100_000, 'A');
    client.write(buffer, () => {
      buffer.fill('C');
      client.write(buffer, () => {
        buffer.fill('D');
        client.write(buffer, () => {
          buffer.fill('E');
          client.end();
        });
      });
    });
    const expected = Buffer.concat([Buffer.alloc(100_000, 'A'), Buffer.alloc(100_000, 'C'), Buffer.alloc(100_000, 'D')]);
    const data = await received;
    assert.ok(data.equals(expected), describeDifference(data, expected));
  });

  test('corked writes (_writev) of two buffers refilled in the callbacks arrive byte-exact', async () => {
    const { port, received } = await sink();
    const client = track(connect(port, '127.0.0.1'));
    const a = Buffer.alloc(60_000);
    const b = Buffer.alloc(45_000);
    const letters = 'FGHIJ';
    const expected: Buffer[] = [];
    let writevCalls = 0;
    const writev = client._writev.bind(client);
    client._writev = (chunks, callback) => {
      writevCalls++;
      writev(chunks, callback);
    };
    const round = (i: number): void => {
      if (i === letters.length) {
        client.end();
        return;
      }
      a.fill(letters[i]!);
      b.fill(letters[i]!.toLowerCase());
      expected.push(Buffer.from(a), Buffer.from(b));
      client.cork();
      client.write(a);
      client.write(b, () => round(i + 1)); // both callbacks run together, after _writev's
      client.uncork();
    };
    round(0);
    const data = await received;
    const want = Buffer.concat(expected);
    assert.ok(data.equals(want), describeDifference(data, want));
    assert.ok(writevCalls >= letters.length, `_writev was used (${writevCalls} calls)`);
  });

  test('a 3 MiB write zeroed in its callback arrives intact', async () => {
    const { port, received } = await sink();
    const client = track(connect(port, '127.0.0.1'));
    const big = randomBytes(3 * 1024 * 1024);
    const digest = createHash('sha256').update(big).digest('hex');
    client.write(big, () => {
      big.fill(0);
      client.end();
    });
    const data = await received;
    assert.equal(data.length, 3 * 1024 * 1024);
    assert.equal(createHash('sha256').update(data).digest('hex'), digest);
  });

  test('50 small writes of one reused buffer (Nagle holds partial packets: the tail is copied) arrive byte-exact', async () => {
    const { port, received } = await sink();
    const client = track(connect(port, '127.0.0.1'));
    await once(client, 'connect');
    // Small writes back to back: Nagle holds a partial packet while another is unacked, so the
    // queued tail is copied before the callback lets the application refill the buffer.
    const buffer = Buffer.alloc(100);
    const expected: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      buffer.fill(i);
      expected.push(Buffer.from(buffer));
      await new Promise<void>((resolve, reject) => client.write(buffer, (error) => (error ? reject(error) : resolve())));
    }
    client.end();
    const data = await received;
    assert.ok(data.equals(Buffer.concat(expected)));
  });
});
