/**
 * The driver tells the core when its socket's input is probably backlogged (issue 9): libuv
 * reads at most 32 datagrams per socket per event-loop iteration, so a burst that reached that
 * many left more unread, and a tail-loss probe's ACK may be among them (LossDetector).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { createSocket } from '../../src/index.js';

/** A 20-byte µTP STATE for a connection nobody has: the driver reads it and answers a RESET. */
function strayState(connectionId: number): Buffer {
  const b = Buffer.alloc(20);
  b[0] = (2 << 4) | 1;
  b.writeUInt16BE(connectionId, 2);
  b.writeUInt32BE(1 << 20, 12);
  return b;
}

async function burstInto(count: number): Promise<number> {
  const shared = createSocket();
  await new Promise<void>((resolve) => shared.bind(0, '127.0.0.1', () => resolve()));
  const port = shared.address().port;
  const sender = dgram.createSocket('udp4');
  sender.bind(0, '127.0.0.1');
  await once(sender, 'listening');
  sender.connect(port, '127.0.0.1');
  await once(sender, 'connect');
  // Every send of a connected socket is one synchronous sendmsg: all of them are queued in the
  // receiving socket before its event loop polls again.
  for (let i = 0; i < count; i++) sender.send(strayState(1000 + i));
  await sleep(20);
  const until = shared.udpDriver.endpoint.inputBacklogUntil;
  const sinceSet = performance.now();
  sender.close();
  shared.close();
  return until - sinceSet;
}

/** Small bursts of non-µTP datagrams, each read in its own event-loop iteration, then one stray µTP STATE. */
async function junkBurstsThenOne(bursts: number, perBurst: number): Promise<number> {
  const shared = createSocket();
  shared.on('message', () => {}); // the application's non-µTP traffic
  await new Promise<void>((resolve) => shared.bind(0, '127.0.0.1', () => resolve()));
  const port = shared.address().port;
  const sender = dgram.createSocket('udp4');
  sender.bind(0, '127.0.0.1');
  await once(sender, 'listening');
  sender.connect(port, '127.0.0.1');
  await once(sender, 'connect');
  for (let b = 0; b < bursts; b++) {
    for (let i = 0; i < perBurst; i++) sender.send(Buffer.from('not utp'));
    await sleep(5);
  }
  sender.send(strayState(2000));
  await sleep(5);
  const until = shared.udpDriver.endpoint.inputBacklogUntil;
  sender.close();
  shared.close();
  return until;
}

describe('driver: input backlog', () => {
  test('many small bursts of non-µTP datagrams, then one µTP datagram: no backlog (no read reached the limit)', async () => {
    // Non-µTP datagrams schedule no flush, so a count kept until the next flush summed them over
    // many iterations and the one µTP datagram's flush saw 40 "reads in one burst".
    assert.equal(await junkBurstsThenOne(8, 5), -Infinity);
  });


  test('a burst of 40 datagrams read at once marks the input backlogged; a burst of 5 does not', async () => {
    const after40 = await burstInto(40);
    const after5 = await burstInto(5);
    // Marked for 10 ms from the flush that saw the burst, which ran within the 20 ms waited.
    assert.ok(after40 > -20 && after40 <= 10, `40 datagrams: backlog mark ${after40} ms from now`);
    assert.equal(after5, -Infinity, '5 datagrams leave it unset');
  });
});
