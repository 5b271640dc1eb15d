import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import type { EndpointEvent } from '../../src/protocol/events.js';
import { Socket } from '../../src/node/socket.js';
import type { UdpDriver } from '../../src/node/udp-driver.js';

/**
 * What the Socket tells its connection it holds unread (setApplicationBuffered, which sizes the
 * advertised window) once the application has read. Readable calls _read before it takes the
 * chunk it returns, and not again until the next push: a report from _read alone counted that
 * chunk as still held. With a burst (or a drained reorder buffer) as one chunk, that chunk can be
 * the whole window, which then stayed closed after everything was read, until the peer's
 * zero-window probe an RTO later (a polling reader on loopback: 512 KiB in ~3 s instead of
 * ~50 ms). A stub connection records the reports; no network, no timing.
 */
function attached(): { socket: Socket; reports: number[]; deliver: (...pieces: Buffer[]) => void } {
  const reports: number[] = [];
  const connection = {
    state: 'connected',
    context: undefined as unknown,
    setNoDelay() {},
    setApplicationBuffered(bytes: number) {
      reports.push(bytes);
      return false;
    },
    abort() {},
  } as unknown as Connection;
  const driver = { scheduleFlush() {}, now: () => 0 } as unknown as UdpDriver;
  const socket = new Socket();
  socket.attach(driver, connection);
  const deliver = (...pieces: Buffer[]): void => socket.onCoreEvent({ type: 'data', connection, pieces } as EndpointEvent);
  return { socket, reports, deliver };
}

test('a read that takes everything buffered reports nothing unread', () => {
  const { socket, reports, deliver } = attached();
  deliver(Buffer.alloc(32 * 1024, 1), Buffer.alloc(32 * 1024, 2));
  assert.equal(reports.at(-1), 64 * 1024, 'held until read');
  const chunk = socket.read() as Buffer;
  assert.equal(chunk.length, 64 * 1024);
  assert.equal(reports.at(-1), 0);
  socket.destroy();
});

test('a paused socket that starts flowing reports nothing unread once its one large chunk went out', async () => {
  const { socket, reports, deliver } = attached();
  deliver(Buffer.alloc(32 * 1024, 1), Buffer.alloc(32 * 1024, 2));
  let got = 0;
  socket.on('data', (chunk: Buffer) => (got += chunk.length));
  await new Promise((resolve) => setImmediate(resolve)); // the stream starts flowing on a tick
  assert.equal(got, 64 * 1024);
  assert.equal(reports.at(-1), 0);
  socket.destroy();
});

test('a partial read reports what is left', () => {
  const { socket, reports, deliver } = attached();
  deliver(Buffer.alloc(40 * 1024));
  socket.read(30 * 1024);
  assert.equal(reports.at(-1), 10 * 1024);
  socket.destroy();
});
