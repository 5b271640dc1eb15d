/**
 * What an idle connection keeps allocated (issue 9: at most 3 KiB per idle connection end, with
 * 50,000 of them on one endpoint). The structures that only traffic needs are created by the
 * traffic and, for the reorder buffer, let go once drained: no send ring before the first DATA,
 * no reorder map without reordering, no send-failure record without a send error. Read by field
 * name, as test/helpers/introspect.ts does: a renamed field fails the test with its name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/protocol/connection.js';
import { seededBytes, SimNetwork } from '../helpers/sim-network.js';

type Bag = Record<string, unknown>;

function field(object: unknown, name: string): unknown {
  const bag = object as Bag;
  assert.ok(name in bag, `no field '${name}' any more: update this test`);
  return bag[name];
}

/** The three lazily created parts of a connection, as allocated (true) or not. */
function allocated(connection: Connection): { sendRing: boolean; reorderMap: boolean; sendFailure: boolean; ackPolicy: boolean } {
  const slots = field(field(connection, 'sendBuffer'), 'slots') as unknown[];
  return {
    sendRing: slots.length > 0,
    reorderMap: field(field(connection, 'recvBuffer'), 'held') !== undefined,
    sendFailure: field(connection, 'sendFailure') !== undefined,
    ackPolicy: field(connection, 'ackPolicy') !== undefined,
  };
}

const NOTHING = { sendRing: false, reorderMap: false, sendFailure: false, ackPolicy: false };

test('an idle connection (handshake and keepalives only) holds no send ring, reorder map or send-failure record', () => {
  const net = new SimNetwork({ seed: 9 });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const conn = net.connect(a, b);
  // Past two keepalive intervals (29 s each): keepalives are STATE packets, not DATA.
  net.drive(70_000);
  const acc = b.accepted[0];
  assert.ok(acc, 'accepted');
  assert.equal(conn.state, 'connected');
  assert.equal(acc.state, 'connected');
  assert.ok(conn.stats().packetsSent >= 3, 'keepalives went out');
  assert.deepEqual(allocated(conn), NOTHING, 'initiator');
  assert.deepEqual(allocated(acc), NOTHING, 'acceptor');
});

test('the reorder map exists while data is held out of order and is let go once drained', () => {
  // Jitter well above the packet spacing reorders most of a window.
  const net = new SimNetwork({ seed: 3, link: { latency: 20, jitter: 15, rate: 5e6 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const data = seededBytes(7, 400_000);
  const conn = net.connect(a, b, { send: data });
  let sawMap = false;
  net.taps.push(() => {
    const acc = b.accepted[0];
    if (acc && allocated(acc).reorderMap) sawMap = true;
  });
  const done = () => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes === data.length;
  assert.ok(net.runUntil(done, 120_000), 'transfer completed');
  net.drive(net.now + 5_000);
  assert.ok(sawMap, 'the path reordered enough to hold data out of order (else this test checks nothing)');
  assert.equal(allocated(b.accepted[0]!).reorderMap, false, 'drained: map released');
  assert.equal(allocated(conn).sendRing, true, 'the sender allocated its ring for the transfer');
});
