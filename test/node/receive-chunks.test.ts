import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect, createServer } from '../../src/index.js';

/**
 * Real sockets on loopback: what one read burst brings is one 'data' chunk (a Buffer), not one
 * per packet. Timing is never asserted; waits are bounded by the test timeout.
 */

test("a bulk transfer arrives in fewer 'data' chunks than packets, every byte intact", { timeout: 20_000 }, async (t) => {
  const chunks: Buffer[] = [];
  let ended!: () => void;
  const received = new Promise<void>((resolve) => (ended = resolve));
  // No linger after the close (re-acking a lost last ACK cannot matter here): server.close() is quick.
  const server = createServer({ lingerTime: 1 }, (socket) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', ended);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const payload = randomBytes(4 * 1024 * 1024);
  const client = connect(server.address()!.port, '127.0.0.1');
  // Whatever fails, nothing stays open to hold the test process.
  t.after(() => {
    client.destroy();
    server.close();
  });
  client.end(payload);
  await received;
  assert.ok(chunks.every((chunk) => Buffer.isBuffer(chunk)));
  assert.ok(Buffer.concat(chunks).equals(payload), 'every byte, in order');
  // Each DATA packet carries at most packetSize (1400) bytes, so the transfer took at least this
  // many; one chunk per packet would be as many chunks or more.
  const packets = Math.ceil(payload.length / 1400);
  assert.ok(chunks.length < packets, `${chunks.length} chunks for at least ${packets} packets`);
  if (!client.closed) await once(client, 'close');
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
