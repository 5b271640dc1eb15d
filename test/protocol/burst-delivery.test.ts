/**
 * What one burst of input delivers in order to a connection is one 'data' event (a list of
 * packet payloads), so that a stream pushes one chunk per burst rather than one per packet; it
 * never overtakes another event (the end of stream) nor mixes connections.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import { PacketType } from '../../src/protocol/packet.js';
import { seededBytes, SimNetwork, type SimHost } from '../helpers/sim-network.js';

/** The events `host` dispatched for `connection`, with when. */
function eventsOf(host: SimHost, connection: Connection): { time: number; type: string; pieces: number }[] {
  return host.log.filter(({ event }) => event.connection === connection).map(({ time, event }) => ({ time, type: event.type, pieces: event.type === 'data' ? event.pieces.length : 0 }));
}

describe('a burst of in-order packets reaches the application as one data event', () => {
  test('one event per burst, with as many pieces as DATA arrived in it', () => {
    // No jitter, no rate limit, no loss: the DATA of one instant is one burst, all in order.
    const net = new SimNetwork({ seed: 3 });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const records = net.capture();
    const sent = seededBytes(5, 300_000);
    net.connect(a, b, { send: sent });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 60_000));
    const conn = b.accepted[0]!;
    assert.deepEqual(b.app(conn).data(), sent);
    const dataArrivals = new Map<number, number>();
    for (const r of records) {
      if (r.to.address !== b.remote.address || r.fate !== 'delivered' || r.packet?.type !== PacketType.Data) continue;
      assert.equal(r.arrivals.length, 1, 'no duplicates on this path');
      dataArrivals.set(r.arrivals[0]!, (dataArrivals.get(r.arrivals[0]!) ?? 0) + 1);
    }
    const data = eventsOf(b, conn).filter((e) => e.type === 'data');
    assert.deepEqual(
      data.map((e) => [e.time, e.pieces]),
      [...dataArrivals],
    );
    assert.ok(Math.max(...data.map((e) => e.pieces)) >= 8, 'the test saw bursts of several packets');
  });

  test("the end of stream in a burst of DATA: one data event, then 'end', then nothing", () => {
    const net = new SimNetwork({ seed: 3 });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const sent = seededBytes(6, 100_000);
    net.connect(a, b, { send: sent });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes >= 90_000, 60_000));
    const conn = b.accepted[0]!;
    // b stops (a GC pause) while the rest and the FIN arrive: it reads them in one burst.
    net.pause(b, 100);
    assert.ok(net.runUntil(() => b.app(conn).ended, 60_000));
    assert.deepEqual(b.app(conn).data(), sent);
    const events = eventsOf(b, conn);
    const end = events.findIndex((e) => e.type === 'end');
    const [last, eof] = events.slice(end - 1);
    assert.equal(last?.type, 'data');
    assert.ok(last.pieces >= 2, `the last burst delivered ${last.pieces} pieces`);
    assert.equal(eof?.time, last.time, 'in the same burst');
    assert.equal(events.slice(end + 1).filter((e) => e.type === 'data').length, 0);
  });

  test("out of order, interleaved with another connection's packets: never merged across another event", () => {
    const net = new SimNetwork({ seed: 4 });
    const a1 = net.addHost('a1');
    const a2 = net.addHost('a2');
    const b = net.addHost('b', { listening: true });
    // Each sender's first DATA go through (the connections are announced, the windows grow);
    // the next four are held, then injected into b in one instant, in the order chosen below.
    // The DATA sent meanwhile are dropped (the senders resend them later).
    const held = new Map<SimHost, Uint8Array[]>([
      [a1, []],
      [a2, []],
    ]);
    let holding = true;
    for (const [host, list] of held) {
      let seen = 0;
      net.link(host, b).set({ filter: (d) => holding && d.packet?.type === PacketType.Data && ++seen > 6 && (list.length < 4 ? list.push(d.data) > 0 : true) });
    }
    const sent1 = seededBytes(11, 20 * 1374);
    const sent2 = seededBytes(12, 20 * 1374);
    net.connect(a1, b, { send: sent1 });
    net.connect(a2, b, { send: sent2 });
    net.advance(80);
    const [h1, h2] = [held.get(a1)!, held.get(a2)!];
    assert.ok(h1.length === 4 && h2.length === 4, `held ${h1.length} and ${h2.length} DATA`);
    assert.equal(b.accepted.length, 2);
    const c1 = b.accepted.find((c) => c.remote.address === a1.remote.address)!;
    const c2 = b.accepted.find((c) => c.remote.address === a2.remote.address)!;
    holding = false;
    const at = net.now;
    for (const [packets, i] of [[h1, 1], [h2, 0], [h1, 2], [h1, 0], [h2, 1], [h1, 3]] as const) {
      net.inject(b, packets[i]!, packets === h1 ? a1.remote : a2.remote);
    }
    net.advance(1);
    const burst = b.log.filter((e) => e.time === at && e.event.type === 'data');
    assert.deepEqual(
      burst.map(({ event }) => [event.connection === c1 ? 'c1' : event.connection === c2 ? 'c2' : '?', event.type === 'data' ? event.pieces.length : 0]),
      [
        ['c2', 1], // c1's second packet waits for its first
        ['c1', 3], // c1's first releases the two held behind it: one event
        ['c2', 1], // not appended to c2's first: c1's event came between
        ['c1', 1],
      ],
    );
    assert.ok(net.runUntil(() => b.app(c1).ended && b.app(c2).ended, 60_000));
    assert.deepEqual(b.app(c1).data(), sent1);
    assert.deepEqual(b.app(c2).data(), sent2);
  });
});
