/**
 * The receiver's ACKs for a whole window are lost (at 64 connections on one socket the sender's
 * receive buffer overflowed; any lossy return path does it). The sender's timeout resends its
 * oldest unacknowledged packet, which is by then far behind what the receiver acknowledged: up to
 * a window behind. The receiver must re-acknowledge it (libutp re-acks DATA up to its reorder
 * buffer's 1024 packets behind). Before the fix, DATA more than 32 packets behind was refused
 * as invalid, unanswered: the sender backed off 1, 2, 4, 8, 16 s and only the receiver's
 * keepalive, 29 s later, carried the ACK (seen on the veth gauge: 128 MiB in 30 s).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { seededBytes, SimNetwork } from '../helpers/sim-network.js';

describe('ACKs lost for a whole window', () => {
  test('the resent oldest packet, far behind the receiver, is re-acknowledged at once', () => {
    const net = new SimNetwork({ seed: 11, link: { latency: 5, rate: 12.5e6, queueBytes: 2_000_000 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
    const data = seededBytes(3, 8_000_000);
    // Every STATE from b for 150 ms once the transfer runs at full speed: the sender's last
    // acknowledgement is then ~1,000 packets behind the receiver's.
    let lostFrom = Infinity;
    net.link(b, a).set({ filter: (d) => d.packet?.type === PacketType.State && net.now >= lostFrom && net.now < lostFrom + 150 });
    const conn = net.connect(a, b, { send: data });
    assert.ok(net.runUntil(() => conn.stats().bytesSent > 2_000_000, 20_000));
    lostFrom = net.now;
    const started = net.now;
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 60_000));
    const receiver = b.accepted[0]!;
    const received = b.app(receiver).data();
    assert.equal(Buffer.compare(received, data), 0);
    assert.equal(receiver.stats().invalidPackets, 0, 'no resent packet refused');
    // At 12.5 MB/s the rest takes well under a second; a stall waits for the keepalive (29 s).
    assert.ok(net.now - started < 5_000, `finished ${Math.round(net.now - started)} ms after the ACKs were lost`);
  });
});
