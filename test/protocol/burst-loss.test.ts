/**
 * A burst of losses longer than the DATA reach (32 packets past the furthest seen) at a large
 * window: the packets after the burst are real and must be kept (SACKed), not dropped as
 * out-of-window and resent with the rest of the window. What lets them through beyond the
 * reordering seen so far (a timestamp the peer's clock can carry now) still stops a blind forger.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { timestampMicros } from '../../src/protocol/time.js';
import { forge } from '../helpers/forge.js';
import { ackNr } from '../helpers/introspect.js';
import { seededBytes, SimNetwork } from '../helpers/sim-network.js';

function transferWithBurst(burst: number): { invalidAtReceiver: number; retransmits: number; intact: boolean } {
  const net = new SimNetwork({ seed: 7, link: { latency: 20, rate: 12.5e6, queueBytes: 2_000_000 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
  let dataSeen = 0;
  net.link(a, b).set({ filter: (d) => d.packet?.type === PacketType.Data && ++dataSeen > 1500 && dataSeen <= 1500 + burst });
  const data = seededBytes(1, 4_000_000);
  const conn = net.connect(a, b, { send: data });
  assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 60_000));
  const received = b.app(b.accepted[0]!).data();
  return {
    invalidAtReceiver: b.accepted[0]!.stats().invalidPackets,
    retransmits: conn.stats().retransmits,
    intact: received.length === data.length && Buffer.compare(received, data) === 0,
  };
}

describe('burst loss beyond the DATA reach', () => {
  test('the packets after a 100-packet burst are kept, not dropped and resent with the window', () => {
    const burst = transferWithBurst(100);
    const small = transferWithBurst(20);
    assert.ok(burst.intact && small.intact);
    assert.equal(burst.invalidAtReceiver, 0, 'no real packet after the burst is refused');
    // A longer burst costs its own packets again, not the whole window (measured: 381 each way).
    assert.ok(burst.retransmits < small.retransmits * 1.5, `${burst.retransmits} retransmits vs ${small.retransmits}`);
  });

  test('beyond the reordering seen, forged DATA needs the peer clock: a wrong timestamp is refused', () => {
    const net = new SimNetwork({ seed: 8 });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const conn = net.connect(a, b, { send: seededBytes(2, 20_000), endWhenWritten: false });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes === 20_000, 10_000));
    const victim = b.accepted[0]!;
    const fields = (timestamp: number, ahead: number) => ({
      type: PacketType.Data,
      connectionId: victim.recvId,
      timestamp,
      timestampDifference: 0,
      windowSize: 1 << 20,
      seq: (ackNr(victim) + ahead) & 0xffff,
      ack: ackNr(conn), // the sender's ack_nr: in the victim's window
      payload: new Uint8Array(100),
    });
    const invalid = () => victim.stats().invalidPackets;
    // Far ahead, clock 10 s off (either way): refused.
    for (const offset of [10_000, -10_000]) {
      const before = invalid();
      net.inject(b, forge(fields(timestampMicros(net.now + offset), 200)), a.remote);
      net.advance(1);
      assert.equal(invalid(), before + 1, `timestamp ${offset} ms off`);
    }
    // The same packet with the peer's current clock passes (what lets a real one through).
    const before = invalid();
    net.inject(b, forge(fields(timestampMicros(net.now), 200)), a.remote);
    net.advance(1);
    assert.equal(invalid(), before);
  });
});
