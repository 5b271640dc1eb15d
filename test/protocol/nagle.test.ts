/** Nagle: small writes coalesce into full packets unless setNoDelay(true). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { SimNetwork, sentBy } from '../helpers/sim-network.js';

function smallWrites(noDelay: boolean): { dataPackets: number; received: number } {
  const net = new SimNetwork({ seed: 3, link: { latency: 30 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const wire = net.capture();
  const conn = net.connect(a, b);
  conn.setNoDelay(noDelay);
  net.drive(200);
  // 100 writes of 10 bytes, one per millisecond: far less than an RTT apart.
  for (let i = 0; i < 100; i++) {
    conn.write(new Uint8Array(10).fill(i));
    net.kick(a);
    net.drive(net.now + 1);
  }
  net.drive(net.now + 1000);
  const dataPackets = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Data).length;
  return { dataPackets, received: b.app(b.accepted[0]!).receivedBytes };
}

describe('Nagle', () => {
  test('small writes while a small packet is unacked coalesce', () => {
    const { dataPackets, received } = smallWrites(false);
    assert.equal(received, 1000);
    assert.ok(dataPackets <= 5, `${dataPackets} DATA packets for 100 small writes`);
  });

  test('setNoDelay(true) sends each write at once', () => {
    const { dataPackets, received } = smallWrites(true);
    assert.equal(received, 1000);
    assert.ok(dataPackets >= 90, `${dataPackets} DATA packets for 100 small writes`);
  });
});
