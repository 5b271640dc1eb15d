/**
 * Outgoing handshakes per remote are limited (src/protocol/handshake-limit.ts, issue 9): 10,000
 * connects from one process to one server sent 10,000 SYNs in one burst, lost ~60,000 datagrams to
 * full socket buffers and had ~9,700 half-open connections evicted at the server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/protocol/connection.js';
import { MAX_HANDSHAKES_PER_REMOTE } from '../../src/protocol/handshake-limit.js';
import { PacketType } from '../../src/protocol/packet.js';
import { sentBy, SimNetwork, type TraceRecord } from '../helpers/sim-network.js';

const N = 3 * MAX_HANDSHAKES_PER_REMOTE + 10;

function syns(records: readonly TraceRecord[]): TraceRecord[] {
  return records.filter((r) => r.packet?.type === PacketType.Syn);
}

test('connects beyond the limit to one server wait for a slot; all connect, the server evicts nothing', () => {
  const net = new SimNetwork({ seed: 21, link: { latency: 10 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const wire = net.capture();
  const connections: Connection[] = [];
  for (let i = 0; i < N; i++) connections.push(net.connect(a, b));
  net.drive(5); // less than one trip: nothing came back yet
  assert.equal(syns(sentBy(wire, a)).length, MAX_HANDSHAKES_PER_REMOTE, 'SYNs in the first burst');
  assert.ok(net.runUntil(() => connections.every((c) => c.state === 'connected'), 10_000), 'all connected');
  assert.equal(syns(sentBy(wire, a)).length, N, 'one SYN each: none lost, none resent');
  assert.equal(b.endpoint.counters.unconfirmedEvicted, 0);
  // The waiting ones went in order, a slot at a time: the last connected a few trips later, not a timeout later.
  assert.ok(net.now < 200, `all connected by ${net.now} ms`);
});

test('a remote that does not answer holds up connects to itself only, and frees its slots when its handshakes time out', () => {
  const net = new SimNetwork({ seed: 22, link: { latency: 10 } });
  const a = net.addHost('a');
  const dead = net.addHost('dead', { listening: true });
  const live = net.addHost('live', { listening: true });
  net.path(a, dead, { loss: 1 });
  const wire = net.capture();
  const toDead: Connection[] = [];
  for (let i = 0; i < MAX_HANDSHAKES_PER_REMOTE + 1; i++) toDead.push(net.connect(a, dead));
  const toLive = net.connect(a, live);
  assert.ok(net.runUntil(() => toLive.state === 'connected', 1_000), 'a connect to another remote is not held up');
  const last = toDead[MAX_HANDSHAKES_PER_REMOTE]!;
  const lastSyns = () => syns(sentBy(wire, a)).filter((r) => r.packet!.connectionId === last.recvId);
  assert.equal(lastSyns().length, 0, 'the connect over the limit waits');
  // The first ones give up after their SYN retries (1 + 2 + 4 s); then the waiting one tries.
  assert.ok(net.runUntil(() => lastSyns().length > 0, 20_000), 'the waiting connect sends its SYN once a slot is free');
  assert.ok(toDead.slice(0, MAX_HANDSHAKES_PER_REMOTE).every((c) => c.state === 'closed'));
});

test('a connect aborted while it waits for a slot sends nothing (no SYN, no RESET) and takes no slot', () => {
  const net = new SimNetwork({ seed: 23, link: { latency: 10 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const wire = net.capture();
  const connections: Connection[] = [];
  for (let i = 0; i < MAX_HANDSHAKES_PER_REMOTE + 2; i++) connections.push(net.connect(a, b));
  const aborted = connections[MAX_HANDSHAKES_PER_REMOTE]!;
  aborted.abort(net.now);
  net.kick(a);
  assert.ok(net.runUntil(() => connections.every((c) => c === aborted || c.state === 'connected'), 5_000));
  assert.equal(aborted.state, 'closed');
  assert.equal(sentBy(wire, a).filter((r) => r.packet?.connectionId === aborted.recvId || r.packet?.connectionId === aborted.sendId).length, 0);
  assert.equal(syns(sentBy(wire, a)).length, MAX_HANDSHAKES_PER_REMOTE + 1);
});
