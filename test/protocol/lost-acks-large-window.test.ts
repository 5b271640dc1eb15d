/**
 * lost-acks.test.ts with a receive window larger than the reorder buffer's 1023 packets (an
 * application may set receiveBufferSize to 8 MiB, config.ts's own example): our sender may then
 * have up to 4095 packets in flight (SendBuffer's capacity), and when a whole window's ACKs are
 * lost its resent oldest packet is further behind the receiver's ack_nr than 1023. Before the
 * fix the receiver refused it unanswered (252 refused, 5 timeouts: 30.0 s); after, 1.4 s.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { seededBytes, SimNetwork } from '../helpers/sim-network.js';

describe('ACKs lost for a whole window larger than 1023 packets', () => {
  test('the resent oldest packet, over 1023 packets behind the receiver, is re-acknowledged', (t) => {
    const net = new SimNetwork({ seed: 11, link: { latency: 5, rate: 50e6, queueBytes: 8_000_000 } });
    const a = net.addHost('a', { config: { receiveBufferSize: 8 * 1024 * 1024 } });
    const b = net.addHost('b', { listening: true, config: { receiveBufferSize: 8 * 1024 * 1024 }, accept: { endOnEof: true } });
    const data = seededBytes(3, 40_000_000);
    let lostFrom = Infinity;
    net.link(b, a).set({ filter: (d) => d.packet?.type === PacketType.State && net.now >= lostFrom && net.now < lostFrom + 300 });
    const conn = net.connect(a, b, { send: data });
    // Wait until the sender has more than 1023 packets in flight.
    assert.ok(net.runUntil(() => conn.stats().bytesInFlight > 1100 * 1374, 20_000), 'the flight grows past 1023 packets');
    lostFrom = net.now;
    const started = net.now;
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 60_000));
    const receiver = b.accepted[0]!;
    assert.equal(Buffer.compare(b.app(receiver).data(), data), 0);
    t.diagnostic(`${Math.round(net.now - started)} ms after the ACKs were lost; ${receiver.stats().invalidPackets} refused, ${conn.stats().timeouts} timeouts`);
    assert.equal(receiver.stats().invalidPackets, 0, 'no resent packet refused');
    assert.ok(net.now - started < 5_000, `finished ${Math.round(net.now - started)} ms after the ACKs were lost`);
  });
});
