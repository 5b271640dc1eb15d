/**
 * What off-path and spoofing peers can do: SYN floods from forged sources, RESET policy for
 * unknown connections, forged RESETs and packets with impossible ack_nr values.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/protocol/connection.js';
import type { Remote } from '../../src/protocol/events.js';
import { encodePacket, PacketType, type HeaderFields } from '../../src/protocol/packet.js';
import { seqAdd } from '../../src/protocol/seq.js';
import {
  firstDifference,
  mulberry32,
  seededBytes,
  sentBy,
  SimNetwork,
  typeName,
  type SimHost,
} from '../helpers/sim-network.js';
import { liveTransfer, PATH } from '../helpers/live-transfer.js';


function forged(i: number): Remote {
  return { address: `172.16.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1024 + (i % 50_000), family: 'IPv4' };
}

function packet(fields: Partial<HeaderFields> & { type: PacketType }, payload?: Uint8Array): Uint8Array {
  return encodePacket(
    { connectionId: 0, timestamp: 0, timestampDifference: 0, windowSize: 65536, seq: 0, ack: 0, ...fields },
    payload,
  );
}

describe('SYN flood from forged sources', () => {
  /**
   * Floods `server` with `count` SYNs from distinct forged sources at `perSecond` while a real
   * client connects at t = 1000 and sends 200 kB; checks the table bound at every 5 ms.
   */
  function flood(maxUnconfirmed: number, count: number, perSecond: number) {
    const net = new SimNetwork({ seed: 1, link: PATH });
    const server = net.addHost('server', { listening: true, config: { maxUnconfirmed } });
    const client = net.addHost('client');
    const wire = net.capture();
    const random = mulberry32(99);
    for (let i = 0; i < count; i++) {
      const syn = packet({ type: PacketType.Syn, connectionId: random() & 0xffff, seq: random() & 0xffff });
      net.inject(server, syn, forged(i), (i * 1000) / perSecond);
    }
    const payload = seededBytes(1, 200_000);
    let conn: Connection | undefined;
    let maxSize = 0;
    const floodEnds = (count * 1000) / perSecond;
    for (let t = 0; t <= floodEnds + 100; t += 5) {
      net.drive(t);
      if (t === 1000) conn = net.connect(client, server, { send: payload });
      maxSize = Math.max(maxSize, server.endpoint.size);
      assert.ok(server.endpoint.size <= maxUnconfirmed + 1, `t=${t}: ${server.endpoint.size} connections`);
    }
    assert.ok(conn);
    return { net, server, client, wire, conn, payload, maxSize };
  }

  test('5000 forged SYNs at 2000/s: memory bounded by maxUnconfirmed, each gets one 20-byte STATE, a real client still connects and transfers', () => {
    const maxUnconfirmed = 256; // the default: at 2000 SYN/s a half-open entry survives 128 ms, over 3 RTTs
    const { net, server, client, wire, conn, payload, maxSize } = flood(maxUnconfirmed, 5000, 2000);
    assert.equal(maxSize, maxUnconfirmed + 1, 'the flood filled the unconfirmed table');
    assert.ok(server.endpoint.counters.unconfirmedEvicted > 0);
    assert.ok(client.app(conn).connected, 'real client connected');
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.app(server.accepted[0]!).ended, 30_000),
      'real client transfer finished',
    );
    assert.equal(client.app(conn).error, undefined);
    assert.equal(firstDifference(server.app(server.accepted[0]!).data(), payload), -1);
    assert.equal(server.accepted.length, 1, 'no forged connection reached the application');
    // One reply per forged SYN, 20 bytes, never more (no amplification, no retransmission).
    const toForged = sentBy(wire, server).filter((r) => r.to.address.startsWith('172.16.'));
    assert.equal(toForged.length, 5000);
    assert.ok(toForged.every((r) => typeName(r) === 'STATE' && r.data.length === 20));
    // Once the flood is over, the unconfirmed die at their first timeout: only the real one is left.
    net.drive(net.now + 3100);
    assert.equal(server.endpoint.size, 1);
  });

  test(
    'a flood faster than maxUnconfirmed per RTT evicts a real client\'s half-open entry, and its SYN cookie still confirms it',
    () => {
      // 64 entries at 2000 SYN/s live 32 ms, less than the 40 ms RTT: the real client's half-open
      // entry is evicted before its confirming packet arrives; the cookie in its ack_nr recreates it.
      const { net, server, client, conn } = flood(64, 5000, 2000);
      net.runUntil(() => client.app(conn).closed || server.accepted.length === 1, 30_000);
      assert.equal(client.app(conn).error, undefined);
      assert.equal(server.accepted.length, 1);
      assert.ok(server.endpoint.counters.cookieConfirmed >= 1);
    },
  );

  test('unconfirmed connections expire at their first timeout (unconfirmedTimeout, 3 s, after their SYN)', () => {
    const net = new SimNetwork({ seed: 2 });
    const server = net.addHost('server', { listening: true });
    for (let i = 0; i < 100; i++) {
      net.inject(server, packet({ type: PacketType.Syn, connectionId: i, seq: 1000 + i }), forged(i), i);
    }
    net.drive(2999);
    assert.equal(server.endpoint.size, 100);
    net.drive(3049.5); // SYNs that arrived at 0..49 ms are 3000 ms old
    assert.equal(server.endpoint.size, 50);
    net.drive(3100);
    assert.equal(server.endpoint.size, 0);
    assert.equal(server.endpoint.nextWake, Infinity);
    assert.equal(server.log.length, 0, 'the application never heard of them');
  });

  test('SYNs to a non-listening endpoint create no state; their RESETs are rate-limited', () => {
    const net = new SimNetwork({ seed: 3 });
    const server = net.addHost('server', { listening: false, config: { resetRateLimit: 50 } });
    for (let i = 0; i < 500; i++) net.inject(server, packet({ type: PacketType.Syn, connectionId: i, seq: i }), forged(i), i);
    net.drive(600);
    assert.equal(server.endpoint.size, 0);
    assert.equal(server.endpoint.counters.synRefused, 500);
    assert.equal(server.endpoint.counters.resetsSent, 50);
    assert.equal(server.endpoint.counters.resetsRateLimited, 450);
  });

  test('maxConnections: once reached, further SYNs are refused with a RESET', () => {
    const net = new SimNetwork({ seed: 4, link: PATH });
    const server = net.addHost('server', { listening: true, config: { maxConnections: 2 } });
    const client = net.addHost('client');
    const first = [net.connect(client, server), net.connect(client, server)];
    net.drive(1000);
    assert.equal(server.accepted.length, 2);
    assert.ok(first.every((c) => client.app(c).connected));
    const late = net.connect(client, server);
    net.drive(2000);
    assert.equal(client.app(late).error?.code, 'ECONNREFUSED');
    assert.equal(server.endpoint.counters.synRefused, 1);
    assert.equal(server.accepted.length, 2);
  });
});

describe('RESET for unknown connections', () => {
  function lone() {
    const net = new SimNetwork({ seed: 5 });
    const host = net.addHost('host', { listening: true });
    const wire = net.capture();
    return { net, host, wire };
  }

  // Before issue 6 the RESET echoed the trigger's id (the peer's send id) and seq_nr: libtorrent,
  // which matches RESETs on its recv id only, never honoured it. A listening host assumes the peer
  // initiated (recv id = send id - 1); ack_nr is the last seq_nr the peer sent (see sendReset).
  test('a DATA packet for an unknown connection gets a 20-byte RESET naming the peer\'s recv id, acking its seq_nr', () => {
    const { net, host, wire } = lone();
    const from = forged(1);
    net.inject(host, packet({ type: PacketType.Data, connectionId: 0x4242, seq: 0x1111, ack: 7 }, new Uint8Array(1000)), from);
    net.drive(10);
    const replies = sentBy(wire, host);
    assert.equal(replies.length, 1);
    const r = replies[0]!;
    assert.equal(typeName(r), 'RESET');
    assert.equal(r.data.length, 20);
    assert.equal(r.to.address, from.address);
    assert.equal(r.to.port, from.port);
    assert.equal(r.packet!.connectionId, 0x4241);
    assert.equal(r.packet!.ack, 0x1110);
    assert.equal(r.packet!.seq, 7, 'seq_nr = the trigger\'s ack_nr, inside libtorrent\'s reorder window');
    assert.equal(host.endpoint.counters.unknownConnection, 1);
  });

  test('a RESET is never larger than its trigger: the smallest trigger (a bare 20-byte STATE) gets 20 bytes', () => {
    const { net, host, wire } = lone();
    for (const type of [PacketType.Data, PacketType.State, PacketType.Fin]) {
      net.inject(host, packet({ type, connectionId: 1 + type, seq: 5 }), forged(type));
    }
    net.drive(10);
    const replies = sentBy(wire, host);
    assert.equal(replies.length, 3);
    for (const r of replies) {
      assert.equal(typeName(r), 'RESET');
      assert.ok(r.data.length <= 20);
    }
  });

  test('a RESET for an unknown connection is never answered', () => {
    const { net, host, wire } = lone();
    for (let i = 0; i < 20; i++) net.inject(host, packet({ type: PacketType.Reset, connectionId: i, seq: i, ack: i }), forged(i));
    net.drive(10);
    assert.equal(sentBy(wire, host).length, 0);
    assert.equal(host.endpoint.counters.unknownConnection, 20);
    assert.equal(host.endpoint.counters.resetsSent, 0);
  });

  test('RESETs are rate-limited (resetRateLimit per second), and the budget refills the next second', () => {
    const { net, host, wire } = lone();
    const limit = host.endpoint.config.resetRateLimit;
    for (let i = 0; i < 1000; i++) {
      net.inject(host, packet({ type: PacketType.Data, connectionId: i, seq: i }, new Uint8Array(100)), forged(i), i * 0.5);
    }
    net.drive(600);
    assert.equal(host.endpoint.counters.resetsSent, limit);
    assert.equal(host.endpoint.counters.resetsRateLimited, 1000 - limit);
    assert.equal(sentBy(wire, host).length, limit);
    net.inject(host, packet({ type: PacketType.Data, connectionId: 1, seq: 1 }), forged(1), 1200);
    net.drive(1300);
    assert.equal(host.endpoint.counters.resetsSent, limit + 1);
  });

  test('malformed µTP-looking datagrams are counted and dropped without a reply', () => {
    const { net, host, wire } = lone();
    const bad = packet({ type: PacketType.Data, connectionId: 1 });
    bad[1] = 1; // announces a SACK extension that is not there
    net.inject(host, bad, forged(1));
    net.drive(10);
    assert.equal(host.endpoint.counters.malformed, 1);
    assert.equal(sentBy(wire, host).length, 0);
  });
});

describe('forged packets on a live connection', () => {
  function finishes(net: SimNetwork, b: SimHost, acc: Connection, payload: Uint8Array): void {
    assert.ok(net.runUntil(() => b.app(acc).ended, 30_000), 'transfer finished');
    assert.equal(firstDifference(b.app(acc).data(), payload), -1);
  }

  test('a RESET with the right connection id but a wrong ack_nr is ignored (counted invalid)', () => {
    const { net, a, b, conn, acc, payload, wire } = liveTransfer(10);
    // What A last sent tells us its next seq: a RESET must ack something in [oldest - 1, next].
    const lastData = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Data).at(-1)!;
    const bogusAck = seqAdd(lastData.packet!.seq, 5000);
    const before = conn.stats().invalidPackets;
    for (const id of [conn.recvId, conn.sendId]) {
      net.inject(a, packet({ type: PacketType.Reset, connectionId: id, seq: 1, ack: bogusAck }), b.remote);
    }
    net.drive(net.now + 1);
    assert.equal(a.app(conn).closed, false);
    assert.equal(conn.stats().invalidPackets, before + 2);
    finishes(net, b, acc, payload);
    assert.equal(a.app(conn).error, undefined);
  });

  test('a RESET from the right address but another port does not reach the connection', () => {
    const { net, a, b, conn, acc, payload } = liveTransfer(11);
    net.inject(a, packet({ type: PacketType.Reset, connectionId: conn.recvId, ack: 0 }), { ...b.remote, port: b.remote.port + 1 });
    net.drive(net.now + 1);
    assert.equal(a.app(conn).closed, false);
    assert.equal(a.endpoint.counters.unknownConnection, 1);
    finishes(net, b, acc, payload);
  });

  // Before issue 6 a fitting RESET closed at once, so one lucky forged RESET (a few ack_nr values
  // in 65536) tore down a live transfer. Now the peer must also fall silent for an RTO.
  test('control: the peer really resets (aborts and forgets the connection): ECONNRESET within about an RTO', () => {
    const { net, a, b, conn, acc } = liveTransfer(12);
    acc.abort(net.now);
    net.kick(b);
    const from = net.now;
    assert.ok(net.runUntil(() => a.app(conn).closed, 3_000), 'closed');
    assert.equal(a.app(conn).error?.code, 'ECONNRESET');
    assert.ok(net.now - from < 2 * conn.stats().rto + 100, `after ${net.now - from} ms`);
  });

  test('a RESET with a fitting ack_nr while the peer keeps talking is ignored: the transfer completes', () => {
    const { net, a, b, conn, acc, payload, wire } = liveTransfer(12);
    const lastData = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Data).at(-1)!;
    net.inject(a, packet({ type: PacketType.Reset, connectionId: conn.recvId, seq: 1, ack: lastData.packet!.seq }), b.remote);
    finishes(net, b, acc, payload);
    assert.equal(a.app(conn).error, undefined);
  });

  test('DATA whose ack_nr is outside what we sent is dropped and counted in stats().invalidPackets', () => {
    const { net, a, b, conn, acc, payload, wire } = liveTransfer(13);
    const lastData = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Data).at(-1)!;
    const ackFromB = sentBy(wire, b).at(-1)!.packet!;
    const before = conn.stats();
    // Right id, plausible seq from B, but acking data A never sent (far ahead) and far behind.
    for (const ack of [seqAdd(lastData.packet!.seq, 1000), seqAdd(lastData.packet!.seq, -20_000)]) {
      net.inject(
        a,
        packet({ type: PacketType.Data, connectionId: conn.recvId, seq: seqAdd(ackFromB.seq, 0), ack }, new Uint8Array(500).fill(0xee)),
        b.remote,
      );
    }
    net.drive(net.now + 1);
    const after = conn.stats();
    assert.equal(after.invalidPackets, before.invalidPackets + 2);
    assert.equal(after.bytesReceived, 0, 'the forged payload was not delivered');
    finishes(net, b, acc, payload);
  });

  test('a forged STATE acking everything (ack_nr ahead of what was sent) is ignored: no data is lost', () => {
    const { net, a, b, conn, acc, payload, wire } = liveTransfer(14);
    const lastData = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Data).at(-1)!;
    const before = conn.stats().invalidPackets;
    net.inject(a, packet({ type: PacketType.State, connectionId: conn.recvId, ack: seqAdd(lastData.packet!.seq, 50) }), b.remote);
    net.drive(net.now + 1);
    assert.equal(conn.stats().invalidPackets, before + 1);
    finishes(net, b, acc, payload);
  });

  test('random garbage aimed at a live connection (right ids, random fields) never throws and the connection ends cleanly or with an error', () => {
    const { net, a, b, conn, acc } = liveTransfer(15);
    const random = mulberry32(15);
    for (let i = 0; i < 2000; i++) {
      const type = [PacketType.Data, PacketType.State, PacketType.Fin][random() % 3]!;
      const target = random() % 2 === 0 ? a : b;
      const id = target === a ? conn.recvId : acc.recvId;
      const from = target === a ? b.remote : a.remote;
      const payload = new Uint8Array(random() % 64);
      net.inject(
        target,
        packet(
          {
            type,
            connectionId: id,
            seq: random() & 0xffff,
            ack: random() & 0xffff,
            timestamp: random(),
            timestampDifference: [0, 0x7fffffff, 0xffffffff, random()][random() % 4]!,
            windowSize: [0, 1, 0xffffffff, random()][random() % 4]!,
          },
          payload,
        ),
        from,
        net.now + i * 0.25,
      );
    }
    assert.doesNotThrow(() => net.runUntil(() => b.app(acc).closed && a.app(conn).closed, 300_000));
    assert.ok(a.app(conn).closed && b.app(acc).closed, 'both ended one way or another');
    net.advance(10_000);
    assert.equal(a.endpoint.size, 0);
    assert.equal(b.endpoint.size, 0);
  });
});
