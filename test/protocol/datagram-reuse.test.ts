/**
 * Datagram buffers are reused (src/protocol/datagram-pool.ts): a freed buffer still holds an
 * earlier datagram's bytes, possibly another connection's, so every datagram must be written
 * whole, and no buffer may be freed while a packet or the OS still needs it. Freed buffers are
 * poisoned here: a byte left unwritten shows on the wire, and a buffer freed early corrupts the
 * stream or a resend.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { poisonFreedDatagrams, poolStats } from '../../src/protocol/datagram-pool.js';
import { decodePacket, encodePacket, type Packet } from '../../src/protocol/packet.js';
import { firstDifference, seededBytes, SimNetwork, type TraceRecord } from '../helpers/sim-network.js';

const POISON = 0xa5;

/** The datagram as its own decoding encodes it again: any byte not written shows as a difference. */
function reencoded(packet: Packet): Uint8Array {
  return encodePacket(packet, packet.payload.length > 0 ? packet.payload : undefined);
}

describe('datagram buffer reuse', () => {
  before(() => poisonFreedDatagrams(POISON));
  after(() => poisonFreedDatagrams(undefined));

  test('both directions over a lossy, reordering, duplicating path: streams intact, every datagram written whole', () => {
    for (const seed of [1, 2, 3]) {
      const net = new SimNetwork({ seed, link: { rate: 2e6, latency: 15, jitter: 8, loss: 0.03, duplicate: 0.02, queueBytes: 60_000 } });
      const up = seededBytes(10 + seed, 400_000);
      const down = seededBytes(20 + seed, 300_000);
      const a = net.addHost('a');
      const b = net.addHost('b', { listening: true, accept: { send: down, endWhenWritten: true } });
      const wire: TraceRecord[] = [];
      net.taps.push((record) => wire.push(record));
      const conn = net.connect(a, b, { send: up, endWhenWritten: true });
      const finished = net.runUntil(() => b.accepted[0] !== undefined && a.app(conn).closed && b.app(b.accepted[0]).closed);
      assert.ok(finished, `seed ${seed}: both sides closed`);
      const acc = b.accepted[0]!;
      assert.equal(firstDifference(b.app(acc).data(), up), -1, `seed ${seed}: a -> b intact`);
      assert.equal(firstDifference(a.app(conn).data(), down), -1, `seed ${seed}: b -> a intact`);
      let selectiveAcks = 0;
      for (const record of wire) {
        const packet = decodePacket(record.data);
        assert.ok(packet, `seed ${seed}: every datagram decodes`);
        if (packet.selectiveAck) selectiveAcks++;
        assert.equal(firstDifference(record.data, reencoded(packet)), -1, `seed ${seed}: a datagram with bytes its encoding did not write`);
      }
      assert.ok(selectiveAcks > 0, `seed ${seed}: the case covers selective ACK extensions`);
    }
  });

  test('a bulk transfer reuses buffers instead of making one per datagram', () => {
    const before = poolStats();
    const net = new SimNetwork({ seed: 4, link: { rate: 10e6, latency: 10, queueBytes: 100_000 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const data = seededBytes(5, 2_000_000);
    net.connect(a, b, { send: data });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes === data.length));
    const after = poolStats();
    const handedOut = after.reused - before.reused + (after.made - before.made);
    assert.ok(handedOut > 1400, `${handedOut} datagrams`);
    // Made anew: about a window's worth (the packets in flight before the first ACKs freed any).
    assert.ok(after.made - before.made < handedOut / 2, `${after.made - before.made} of ${handedOut} made anew`);
  });
});
