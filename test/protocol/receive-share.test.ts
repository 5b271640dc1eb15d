/**
 * While the socket's input is backlogged (Endpoint.inputBacklogUntil, set by the driver), the
 * connections receiving on it advertise at most their share of its kernel buffer
 * (src/protocol/receive-share.ts, issue 9); otherwise their whole free window.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType, type Packet } from '../../src/protocol/packet.js';
import { EPOCH_MS, ReceiveShare } from '../../src/protocol/receive-share.js';
import { ScriptedPeer } from '../helpers/scripted-peer.js';

describe('ReceiveShare: the connections receiving now', () => {
  test('counts distinct connections per epoch, remembers the last epoch, forgets after two', () => {
    const share = new ReceiveShare();
    share.capacity = 1200;
    const [a, b, c] = [{}, {}, {}];
    share.noteData(a, 0);
    share.noteData(a, 1);
    share.noteData(b, 2);
    share.noteData(c, 3);
    assert.equal(share.share(4), 400, 'three connections, one of them twice');
    share.noteData(a, EPOCH_MS + 10); // the next epoch: one so far, three in the one before
    assert.equal(share.share(EPOCH_MS + 11), 400);
    assert.equal(share.share(4 * EPOCH_MS), 1200, 'nothing received for two epochs: the whole buffer to whoever comes');
  });

  test('unknown capacity (the simulator, an unbound socket): no limit', () => {
    const share = new ReceiveShare();
    share.noteData({}, 0);
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
  test('backlogged: its share of the socket buffer (four receivers: a quarter); not backlogged: all its free room', () => {
    const capped = scripted(true, 4 * 65_536);
    for (const other of [{}, {}, {}]) capped.p.endpoint.receiveShare.noteData(other, capped.p.now);
    const cappedAck = capped.send(1).find((x) => x.type === PacketType.State)!;
    const free = scripted(false, 4 * 65_536);
    const freeAck = free.send(1).find((x) => x.type === PacketType.State)!;
    assert.equal(cappedAck.windowSize, 65_536);
    assert.equal(freeAck.windowSize, 1024 * 1024 - 1374, 'the default 1 MiB less the packet the application holds');
  });

  test('never below two packets, however many receivers share a small buffer', () => {
    const { p, send } = scripted(true, 1000);
    const ack = send(1).find((x) => x.type === PacketType.State)!;
    assert.equal(ack.windowSize, 2 * p.conn.stats().packetSize);
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
