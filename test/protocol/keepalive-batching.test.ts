/**
 * Keepalives of idle connections fall due together (issue 9: 50,000 idle connections on one
 * endpoint). Each used to come due at its own instant, so the driver woke, flushed and sent one
 * keepalive at a time, and the peer read and flushed for each alone. Deadlines now sit on a
 * shared grid, never later than the keepalive interval after the last send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from '../../src/protocol/config.js';
import type { Connection } from '../../src/protocol/connection.js';
import { PacketType } from '../../src/protocol/packet.js';
import { sentBy, SimNetwork } from '../helpers/sim-network.js';

const INTERVAL = DEFAULT_CONFIG.keepaliveInterval;

test('keepalives of connections opened at 100 different instants go out at a handful of instants, none late', () => {
  const net = new SimNetwork({ seed: 11, link: { latency: 5 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const wire = net.capture();
  const connections: Connection[] = [];
  // One connection every 3 ms: their handshakes end at 100 distinct instants over 300 ms.
  for (let i = 0; i < 100; i++) {
    net.drive(i * 3);
    connections.push(net.connect(a, b));
  }
  net.drive(1_000);
  assert.ok(connections.every((c) => c.state === 'connected'));
  // The initiator repeats its confirming STATE a few times while the acceptor stays silent (up
  // to ~7 s): keepalives are what it sends after that.
  const quiet = 10_000;
  net.drive(quiet);
  net.drive(quiet + INTERVAL);
  const keepalives = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.State && r.sentAt > quiet);
  assert.equal(keepalives.length, 100, 'one keepalive per connection in the first interval');
  const instants = new Set(keepalives.map((r) => r.sentAt));
  assert.ok(instants.size <= 8, `${instants.size} distinct send instants (one per connection without batching)`);
  // None later than the interval after the connection's previous send.
  for (const k of keepalives) {
    const previous = sentBy(wire, a).filter((r) => r.packet?.connectionId === k.packet!.connectionId && r.sentAt < k.sentAt);
    const last = Math.max(...previous.map((r) => r.sentAt));
    assert.ok(k.sentAt - last <= INTERVAL, `keepalive ${k.sentAt - last} ms after the previous send`);
    assert.ok(k.sentAt - last > INTERVAL - 100, `keepalive only ${k.sentAt - last} ms after the previous send`);
  }
});
