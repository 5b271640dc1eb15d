/**
 * While the socket's input is backlogged (Endpoint.inputBacklogUntil, set by the driver), the
 * connections receiving on it advertise at most their share of its kernel buffer
 * (src/protocol/receive-share.ts, issue 9); otherwise their whole free window.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePacket, encodePacket, PacketType, type Packet } from '../../src/protocol/packet.js';
import { timestampMicros } from '../../src/protocol/time.js';
import { EPOCH_MS, FULL_RECEIVER_MIN_BYTES, ReceiveShare } from '../../src/protocol/receive-share.js';
import { ScriptedPeer } from '../helpers/scripted-peer.js';

describe('ReceiveShare: the connections receiving now', () => {
  test('counts distinct connections per epoch, remembers the last epoch, forgets after two', () => {
    const share = new ReceiveShare();
    share.capacity = 1200;
    const [a, b, c] = [{}, {}, {}];
    const full = FULL_RECEIVER_MIN_BYTES;
    share.noteData(a, full, 0);
    share.noteData(a, full, 1);
    share.noteData(b, full, 2);
    share.noteData(c, full, 3);
    assert.equal(share.share(4), 400, 'three connections, one of them twice');
    share.noteData(a, full, EPOCH_MS + 10); // the next epoch: one so far, three in the one before
    assert.equal(share.share(EPOCH_MS + 11), 400);
    assert.equal(share.share(4 * EPOCH_MS), 1200, 'nothing received for two epochs: the whole buffer to whoever comes');
  });

  test('a connection counts for what it got: a fraction of a receiver below a whole one', () => {
    const share = new ReceiveShare();
    share.capacity = 4 * 1024 * 1024;
    share.noteData({}, FULL_RECEIVER_MIN_BYTES, 0);
    for (let i = 0; i < 600; i++) share.noteData({}, 10, 1); // 600 connections, 6,000 bytes in all: one receiver's worth
    assert.ok(Math.abs(share.share(2) - share.capacity / 2) < 1, 'two receivers: one whole, and 600 of a hundredth each');
    // The epoch after one whose mean was 600 kB, a whole receiver is one that got 300 kB: 150 kB
    // is half a receiver, and 100 connections that got 6,000 bytes each are two.
    const share2 = new ReceiveShare();
    share2.capacity = 4 * 1024 * 1024;
    share2.noteData({}, 600_000, 0);
    share2.noteData({}, 600_000, 1);
    const big = {};
    share2.noteData(big, 300_000, EPOCH_MS);
    share2.noteData(big, 1, EPOCH_MS + 1); // counted once, however many packets
    for (let i = 0; i < 2; i++) share2.noteData({}, 300_000, EPOCH_MS + 2);
    share2.noteData({}, 150_000, EPOCH_MS + 2);
    for (let i = 0; i < 100; i++) share2.noteData({}, FULL_RECEIVER_MIN_BYTES, EPOCH_MS + 3);
    assert.ok(Math.abs(share2.share(EPOCH_MS + 4) - share2.capacity / 5.5) < 1, `${share2.capacity / share2.share(EPOCH_MS + 4)} receivers`);
  });

  test('connections sending empty DATA do not drag the mean down to the 6,000-byte floor', () => {
    // The epoch before: one download of 600 kB and 1,000 connections sending empty DATA. A whole
    // receiver is still one that got 300 kB: 76 connections at 6,000 bytes each are 1.52.
    const share = new ReceiveShare();
    share.capacity = 4 * 1024 * 1024;
    const download = {};
    share.noteData(download, 600_000, 0);
    for (let i = 0; i < 1000; i++) share.noteData({}, 0, 1);
    share.noteData(download, 300_000, EPOCH_MS);
    for (let i = 0; i < 76; i++) share.noteData({}, FULL_RECEIVER_MIN_BYTES, EPOCH_MS + 1);
    assert.ok(Math.abs(share.share(EPOCH_MS + 2) - share.capacity / 2.52) < 1, `${share.capacity / share.share(EPOCH_MS + 2)} receivers`);
  });

  test('64 equal receivers count as 64 epoch after epoch, however little of the buffer an epoch brings', () => {
    // 64 connections getting 10 kB each per epoch (6.4 MB/s) into a 4 MiB buffer: weighted against
    // the buffer (its share of the last count) instead, each counted for a sixth, and the count
    // fell epoch after epoch to one.
    const share = new ReceiveShare();
    share.capacity = 4 * 1024 * 1024;
    const receivers = Array.from({ length: 64 }, () => ({}));
    for (let epoch = 0; epoch < 10; epoch++) for (const r of receivers) share.noteData(r, 10_000, epoch * EPOCH_MS);
    assert.equal(share.share(10 * EPOCH_MS - 1), share.capacity / 64);
  });

  test('unknown capacity (the simulator, an unbound socket): no limit', () => {
    const share = new ReceiveShare();
    share.noteData({}, FULL_RECEIVER_MIN_BYTES, 0);
    assert.equal(share.share(1), Infinity);
  });
});

/** A connection receiving DATA from the scripted peer: the window its ACK advertises. */
function scripted(backlogged: boolean, capacity: number): { p: ScriptedPeer; send: (distance: number) => Packet[]; synSeq: number } {
  const p = new ScriptedPeer();
  p.handshake(3);
  const synSeq = p.sent[0]!.packet.seq;
  p.endpoint.receiveShare.capacity = capacity;
  if (backlogged) p.endpoint.inputBacklogUntil = Infinity;
  // The peer's first DATA carries the seq_nr its SYN-ACK announced (ack_nr + 1 = peerSeq).
  const send = (distance: number) =>
    p.receive({ type: PacketType.Data, seq: (p.peerSeq + distance - 1) & 0xffff, ack: synSeq }, new Uint8Array(1374));
  return { p, send, synSeq };
}

describe('the window a receiving connection advertises', () => {
  test('backlogged: its share of the socket buffer (three whole receivers and itself); not backlogged: all its free room', () => {
    const capped = scripted(true, 4 * 65_536);
    for (const other of [{}, {}, {}]) capped.p.endpoint.receiveShare.noteData(other, FULL_RECEIVER_MIN_BYTES, capped.p.now);
    const cappedAck = capped.send(1).find((x) => x.type === PacketType.State)!;
    const free = scripted(false, 4 * 65_536);
    const freeAck = free.send(1).find((x) => x.type === PacketType.State)!;
    // Itself: its one packet of a whole receiver's FULL_RECEIVER_MIN_BYTES.
    assert.equal(cappedAck.windowSize, Math.floor((4 * 65_536) / (3 + 1374 / FULL_RECEIVER_MIN_BYTES)));
    assert.equal(freeAck.windowSize, 1024 * 1024 - 1374, 'the default 1 MiB less the packet the application holds');
  });

  test('never below two packets, however many receivers share a small buffer', () => {
    const { p, send } = scripted(true, 1000);
    const ack = send(1).find((x) => x.type === PacketType.State)!;
    assert.equal(ack.windowSize, 2 * p.conn.stats().packetSize);
  });

  test('the two packets at least are the peer\'s when its packets are larger than ours', () => {
    // A peer configured for larger packets (a LAN with jumbo frames, loopback; or we are a udp6
    // socket at 1232 bytes): two of our packets are less than one of its, and a sender that may
    // not exceed the window holds even one packet back until its zero-window probe (an RTO).
    const { p } = scripted(true, 1000);
    const synSeq = p.sent[0]!.packet.seq;
    const ack = p.receive({ type: PacketType.Data, seq: p.peerSeq, ack: synSeq }, new Uint8Array(4000)).find((x) => x.type === PacketType.State)!;
    assert.ok(ack.windowSize >= 2 * 4000, `advertised ${ack.windowSize} bytes`);
  });

  test('DATA the peer sent under the earlier, larger window is still accepted (reach follows the free room)', () => {
    // The window we advertise falls to two packets; what the peer has in flight does not. A hole at
    // distance 1, then 60 packets beyond it: all buffered, none refused.
    const { p, send } = scripted(true, 1000);
    for (let d = 2; d <= 61; d++) send(d);
    assert.equal(p.conn.stats().invalidPackets, 0);
    send(1);
    assert.equal(p.conn.stats().bytesReceived, 61 * 1374, 'the hole filled: all 61 delivered');
  });
});

describe('the share against receivers that cost nothing', () => {
  test('many connections trickling one-byte DATA do not cut a downloading connection to two packets', () => {
    // An attacker opens 2,000 connections to us and sends one byte of DATA on each (2 KB in all):
    // while anything (its own junk, or the download itself) keeps the socket backlogged, each
    // counted as a full receiver and the download's window fell to two packets
    // (4 MiB / 2,001 < 2 packets), a collapse that costs the attacker next to nothing.
    const { p, send } = scripted(true, 4 * 1024 * 1024);
    for (let i = 0; i < 2000; i++) {
      const remote = { address: '10.8.0.1', port: 20_000 + i, family: 'IPv4' as const };
      const conn = p.endpoint.connect(remote, p.now);
      conn.context = { onCoreEvent() {} };
      p.endpoint.flush(p.now);
      const syn = decodePacket(p.endpoint.transmits.at(-1)!.data)!;
      p.endpoint.transmits.length = 0;
      const reply = (f: Partial<Packet>, payload?: Uint8Array) =>
        p.endpoint.handleDatagram(
          encodePacket({ type: PacketType.State, connectionId: syn.connectionId, timestamp: timestampMicros(p.now), timestampDifference: 1000, windowSize: 1 << 20, seq: 500, ack: syn.seq, ...f }, payload),
          remote,
          p.now,
        );
      reply({});
      reply({ type: PacketType.Data, seq: 500 }, new Uint8Array(1));
      p.service();
    }
    const ack = send(1).find((x) => x.type === PacketType.State)!;
    assert.ok(ack.windowSize > 512 * 1024, `the download advertises ${ack.windowSize} bytes`);
  });
});

describe('the share holds no closed connection', () => {
  test('a connection removed from the endpoint is forgotten at once, not at the next DATA on the socket', () => {
    // The epoch's map is cleared only when DATA or a backlogged ACK rolls it: a socket that went
    // quiet kept the last epoch's closed connections (their reorder and send buffers, their
    // application sockets) for good.
    const { p, send } = scripted(true, 4 * 1024 * 1024);
    send(3); // out of order: kept in the reorder buffer
    const held = () => (p.endpoint.receiveShare as unknown as { received: Map<object, number> }).received;
    assert.ok(held().has(p.conn));
    p.conn.abort(p.now);
    p.service();
    assert.equal(held().has(p.conn), false);
  });
});
