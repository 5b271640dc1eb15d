/**
 * Demultiplexing on a shared port (issue 6, items 5 and 10): STUN and anything else that is not
 * µTP for this endpoint is handed on unanswered (RFC 7983, as libtorrent does); stray µTP gets a
 * RESET that libutp and libtorrent both honour, rate-limited per source under the global cap.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Remote } from '../../src/protocol/events.js';
import { encodePacket, looksLikeStun, looksLikeUtp, PacketType, type HeaderFields } from '../../src/protocol/packet.js';
import { seqDiff } from '../../src/protocol/seq.js';
import { seededBytes, sentBy, SimNetwork } from '../helpers/sim-network.js';

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// RFC 5769 test vectors (section 2.1 request, 2.2 IPv4 response, 2.3 IPv6 response).
const STUN_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const STUN_RESPONSE_V4 = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const STUN_RESPONSE_V6 = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);
// A Binding error response (0x0111) with an ERROR-CODE attribute (RFC 5389 section 15.6): 420.
const STUN_ERROR = hex(`
  01 11 00 10 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  00 09 00 0c 00 00 04 14 55 6e 6b 6e 6f 77 6e 20`);

const PEER: Remote = { address: '192.0.2.7', port: 3478, family: 'IPv4' };

function packet(fields: Partial<HeaderFields> & { type: PacketType }, payload?: Uint8Array): Uint8Array {
  return encodePacket({ connectionId: 0, timestamp: 0, timestampDifference: 0, windowSize: 65536, seq: 0, ack: 0, ...fields }, payload);
}

describe('STUN on the µTP port (RFC 7983)', () => {
  test('the RFC 5769 vectors have the shape the check looks for', () => {
    for (const [name, v, length] of [
      ['request', STUN_REQUEST, 108],
      ['IPv4 response', STUN_RESPONSE_V4, 80],
      ['IPv6 response', STUN_RESPONSE_V6, 92],
      ['error response', STUN_ERROR, 36],
    ] as const) {
      assert.equal(v.length, length, name);
      assert.ok(looksLikeStun(v), name);
      assert.equal(looksLikeUtp(v), false, name);
    }
    // Without the STUN check a Binding response reads as µTP DATA, version 1, first extension SACK.
    assert.equal(STUN_RESPONSE_V4[0]! & 0x0f, 1);
  });

  test('STUN Binding requests and responses reach the application unanswered, on a listening and a live endpoint', () => {
    const net = new SimNetwork({ seed: 1 });
    const host = net.addHost('host', { listening: true });
    const client = net.addHost('client');
    const wire = net.capture();
    const conn = net.connect(client, host, { send: seededBytes(1, 50_000) });
    net.drive(100);
    assert.ok(client.app(conn).connected);
    const vectors = [STUN_REQUEST, STUN_RESPONSE_V4, STUN_RESPONSE_V6, STUN_ERROR];
    for (const v of vectors) {
      net.inject(host, v, PEER);
      net.inject(host, v, client.remote); // from the µTP peer's own address and port too
      net.inject(client, v, host.remote);
    }
    net.drive(net.now + 10);
    assert.equal(host.notUtp.length, 8);
    assert.equal(client.notUtp.length, 4);
    assert.ok(host.notUtp.every((d, i) => d.data === vectors[i >> 1]));
    const answers = wire.filter((r) => r.to.address === PEER.address || r.packet?.type === PacketType.Reset);
    assert.equal(answers.length, 0, 'never answered');
    for (const h of [host, client]) {
      assert.equal(h.endpoint.counters.malformed, 0);
      assert.equal(h.endpoint.counters.unknownConnection, 0);
    }
    assert.ok(net.runUntil(() => host.accepted[0] !== undefined && host.app(host.accepted[0]).ended, 10_000));
  });

  test('a µTP packet whose timestamp happens to equal the magic cookie but whose id is not its length - 20 is still µTP', () => {
    const p = packet({ type: PacketType.Data, connectionId: 77, timestamp: 0x2112a442 }, new Uint8Array(100));
    assert.equal(looksLikeStun(p), false);
    assert.ok(looksLikeUtp(p));
  });
});

describe('packets for no connection', () => {
  test('a stray µTP DATA is handed on (false) and still answered with a RESET; a stray RESET and a malformed packet are handed on unanswered', () => {
    const net = new SimNetwork({ seed: 2 });
    const host = net.addHost('host', { listening: true });
    const wire = net.capture();
    net.inject(host, packet({ type: PacketType.Data, connectionId: 500, seq: 9, ack: 4 }, new Uint8Array(200)), PEER);
    net.inject(host, packet({ type: PacketType.Reset, connectionId: 501, seq: 9, ack: 4 }), PEER);
    const bad = packet({ type: PacketType.State, connectionId: 502 });
    bad[1] = 1; // a SACK extension that is not there
    net.inject(host, bad, PEER);
    net.drive(10);
    assert.equal(host.notUtp.length, 3);
    const replies = sentBy(wire, host);
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.packet?.type, PacketType.Reset);
    assert.equal(host.endpoint.counters.malformed, 1);
    assert.equal(host.endpoint.counters.unknownConnection, 2);
  });

  test('RESETs are limited per source under the global cap: a flood from one source leaves the budget to others', () => {
    const net = new SimNetwork({ seed: 3 });
    const host = net.addHost('host', { listening: true, config: { resetRateLimit: 100, resetRateLimitPerSource: 5 } });
    const wire = net.capture();
    for (let i = 0; i < 1000; i++) net.inject(host, packet({ type: PacketType.State, connectionId: i, seq: i }), PEER, i * 0.5);
    const real: Remote = { address: '198.51.100.9', port: 6881, family: 'IPv4' };
    net.inject(host, packet({ type: PacketType.State, connectionId: 7, seq: 7 }), real, 400);
    net.drive(600);
    assert.equal(sentBy(wire, host).filter((r) => r.to.address === PEER.address).length, 5);
    assert.equal(sentBy(wire, host).filter((r) => r.to.address === real.address).length, 1, 'the real peer got its RESET');
  });
});

describe('RESET ids', () => {
  /**
   * What libtorrent honours (utp_socket_manager::incoming_packet, utp_socket_impl::incoming_packet):
   * id == its recv id; ack_nr within [acked - 3, seq_nr - 1]; seq_nr not past its ack_nr + 16.
   */
  function libtorrentWouldHonour(reset: HeaderFields, peerRecvId: number, peerNext: number, peerAckNr: number): boolean {
    return reset.connectionId === peerRecvId && seqDiff(reset.ack, peerNext - 1) >= 0 && seqDiff(reset.seq, peerAckNr + 16) >= 0;
  }

  test('the server forgot a connection: its RESET names the client\'s recv id, fits libtorrent\'s windows, and resets the client', () => {
    const net = new SimNetwork({ seed: 4, link: { rate: 5e6, latency: 20 } });
    const server = net.addHost('server', { listening: true });
    const client = net.addHost('client');
    const conn = net.connect(client, server, { send: seededBytes(4, 2_000_000) });
    // From the start: the packet that draws the first RESET may have left before the removal.
    const wire = net.capture();
    net.drive(200);
    const acc = server.accepted[0]!;
    // The server lost the connection (no RESET of its own, no memory of it: as after a restart).
    server.endpoint.remove(acc);
    (server.endpoint as unknown as { recentlyClosed: Map<string, number> }).recentlyClosed.clear();
    assert.ok(net.runUntil(() => client.app(conn).closed, 5_000));
    assert.equal(client.app(conn).error?.code, 'ECONNRESET');
    const resets = sentBy(wire, server).filter((r) => r.packet?.type === PacketType.Reset);
    assert.ok(resets.length > 0);
    const first = resets[0]!;
    const trigger = sentBy(wire, client).filter((r) => r.arrivals.length > 0 && r.arrivals[0]! <= first.sentAt).at(-1)!.packet!;
    assert.equal(first.packet!.connectionId, conn.recvId, 'the initiator\'s recv id, not its send id');
    assert.notEqual(first.packet!.connectionId, acc.recvId);
    const next = trigger.type === PacketType.State ? trigger.seq : (trigger.seq + 1) & 0xffff;
    assert.ok(libtorrentWouldHonour(first.packet!, conn.recvId, next, trigger.ack));
  });

  test('a non-listening endpoint names the acceptor\'s recv id (send id + 1); a remembered connection its exact id', () => {
    const net = new SimNetwork({ seed: 5 });
    const client = net.addHost('client');
    const wire = net.capture();
    net.inject(client, packet({ type: PacketType.State, connectionId: 0x1000, seq: 50, ack: 60 }), PEER);
    net.drive(10);
    const r = sentBy(wire, client).find((x) => x.packet?.type === PacketType.Reset)!;
    assert.equal(r.packet!.connectionId, 0x1001);
    assert.equal(r.packet!.ack, 49, 'a STATE carries the next seq_nr: the last sent is one less');
    assert.equal(r.packet!.seq, 60);

    // A connection the (listening) server closed and forgot: the client's late FIN gets a RESET with its exact recv id.
    const net2 = new SimNetwork({ seed: 6, link: { latency: 10 } });
    const a = net2.addHost('a', { listening: true, config: { lingerTime: 10 } });
    const b = net2.addHost('b', { listening: true, accept: { endOnEof: true } });
    const wire2 = net2.capture();
    const c = net2.connect(a, b, { send: seededBytes(6, 10_000) });
    net2.link(a, b).set({ filter: (d) => c.state === 'closed' && d.packet?.type === PacketType.State });
    assert.ok(net2.runUntil(() => a.app(c).closed && b.app(b.accepted[0]!).closed, 30_000));
    const reset = sentBy(wire2, a).find((x) => x.packet?.type === PacketType.Reset)!;
    assert.ok(reset, 'a RESET for the late FIN');
    assert.equal(reset.packet!.connectionId, b.accepted[0]!.recvId, 'listening, yet it names the acceptor\'s recv id: remembered');
  });
});
