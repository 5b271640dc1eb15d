import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { createSocket, type SharedSocket, type Socket } from '../../src/index.js';
import { poisonFreedDatagrams, poolStats } from '../../src/protocol/datagram-pool.js';
import type { SendFunction } from '../../src/node/udp-driver.js';

/**
 * The driver hands a datagram's buffer back for reuse at its send callback, not before: until
 * then libuv may still hold it in its send queue (uv_udp_send copies nothing; only a send that
 * completes at once has been copied by the kernel). Freed buffers are poisoned; the send seam
 * here queues every datagram as libuv does when the socket is busy and checks, when it really
 * sends it, that its bytes are those it was given.
 */

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function bind(shared: SharedSocket): Promise<number> {
  return new Promise((resolve) => shared.bind(0, '127.0.0.1', () => resolve(shared.address().port)));
}

/**
 * Sends each datagram a few ticks late (a batch per setImmediate), calling back after the real send.
 * `refuseEvery`: every so many datagrams one is refused at once instead (ENOBUFS on the next
 * tick, as libuv reports an error it finds before queueing), so its callback overtakes queued ones.
 */
function queueingSend(onChanged: () => void, refuseEvery = 0): SendFunction & { changed: number; sent: number } {
  let count = 0;
  type Queued = { socket: Parameters<SendFunction>[0]; data: Uint8Array; copy: Buffer; port: number; address: string; callback: (error: Error | null) => void };
  let queue: Queued[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    for (const item of batch) {
      if (!Buffer.from(item.data.buffer, item.data.byteOffset, item.data.length).equals(item.copy)) {
        send.changed++;
        onChanged();
      }
      send.sent++;
      item.socket.send(item.data, item.port, item.address, item.callback);
    }
  };
  const send = ((socket, data, port, address, callback) => {
    if (refuseEvery > 0 && ++count % refuseEvery === 0) {
      process.nextTick(callback, Object.assign(new Error('send ENOBUFS'), { code: 'ENOBUFS', syscall: 'send' }));
      return;
    }
    queue.push({ socket, data, copy: Buffer.from(data), port, address, callback });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }) as SendFunction & { changed: number; sent: number };
  send.changed = 0;
  send.sent = 0;
  return send;
}

describe('datagram buffers are reused only after their send callback', () => {
  before(() => poisonFreedDatagrams(0xa5));
  after(() => poisonFreedDatagrams(undefined));

  for (const refuseEvery of [0, 50]) {
    const name = refuseEvery === 0 ? 'sends that wait in a queue' : 'sends that wait in a queue, every 50th refused at once (its callback overtakes the queued ones)';
    test(`an echo of 2 MB through ${name}: intact, no queued datagram changed, buffers reused`, { timeout: 30_000 }, async (t) => {
      const server = createSocket({ type: 'udp4' });
      server.on('connection', (socket: Socket) => socket.pipe(socket));
      const port = await bind(server);
      server.listen();
      // A changed datagram fails the test at once (corrupt headers could stall the echo for good).
      let changed!: () => void;
      const corrupted = new Promise<'changed'>((resolve) => (changed = () => resolve('changed')));
      const send = queueingSend(changed, refuseEvery);
      const client = createSocket({ type: 'udp4', udpSend: send });
      t.after(() => {
        client.close();
        server.close();
      });
      await bind(client);
      const before = poolStats();
      const socket = client.connect(port, '127.0.0.1');
      const payload = randomBytes(2_000_000);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.end(payload);
      const outcome = await Promise.race([once(socket, 'end').then(() => 'ended' as const), corrupted]);
      assert.equal(outcome, 'ended', 'a queued datagram changed before its send');
      assert.equal(sha(Buffer.concat(chunks)), sha(payload));
      assert.equal(send.changed, 0, `${send.changed} of ${send.sent} datagrams changed while queued`);
      assert.ok(poolStats().reused - before.reused > 1000, 'buffers were reused');
    });
  }
});
