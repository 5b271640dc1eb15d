/**
 * No datagram is larger than packetSize, selective ACK included (issue 6, item 6): with loss and
 * reordering both ways, DATA carries SACKs; the payload leaves room for a small one and a larger
 * mask is cut to fit (the whole mask follows on a STATE), on resends too.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PacketType } from '../../src/protocol/packet.js';
import { firstDifference, seededBytes, SimNetwork } from '../helpers/sim-network.js';

describe('datagram size', () => {
  for (const packetSize of [1400, 1232, 576]) {
    test(`two-way transfer with loss and reordering over a link whose MTU is packetSize (${packetSize}): nothing larger is sent, data intact`, () => {
      // The link drops anything over its MTU: an oversize DATA would be lost every time it is sent.
      const net = new SimNetwork({ seed: packetSize, link: { rate: 4e6, latency: 20, jitter: 15, loss: 0.03, queueBytes: 60_000, mtu: packetSize } });
      const config = { packetSize };
      const up = seededBytes(1, 512 * 1024);
      const down = seededBytes(2, 512 * 1024);
      const a = net.addHost('a', { config });
      const b = net.addHost('b', { listening: true, config, accept: { send: down } });
      let largest = 0;
      let dataWithSack = 0;
      net.taps.push((r) => {
        largest = Math.max(largest, r.data.length);
        if (r.packet?.type === PacketType.Data && r.packet.selectiveAck) dataWithSack++;
      });
      const conn = net.connect(a, b, { send: up });
      assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended && a.app(conn).ended, 120_000));
      assert.equal(firstDifference(b.app(b.accepted[0]!).data(), up), -1);
      assert.equal(firstDifference(a.app(conn).data(), down), -1);
      assert.ok(largest <= packetSize, `a ${largest}-byte datagram with packetSize ${packetSize}`);
      assert.equal(net.link(a, b).counters.mtu + net.link(b, a).counters.mtu, 0, 'the link dropped nothing for size');
      assert.ok(dataWithSack > 0, 'DATA carried selective ACKs');
      assert.ok(conn.stats().retransmits > 0, 'there were resends');
    });
  }
});
