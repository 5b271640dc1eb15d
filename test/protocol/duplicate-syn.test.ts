/**
 * A SYN that repeats one we accepted (same source, connection id and seq_nr), arriving after that
 * connection was destroyed and removed: a network duplicate or a replay, never a new connect (a
 * new one picks a fresh random id and ISN). It must not bring the connection back as a second
 * 'connection': its SYN cookie ISN is the old one, so the initiator's packets, still in flight or
 * sent while it waits out the RESET, would confirm it. Found by the property tests
 * (PROPERTY_SEED=31337, 'single-accept').
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { SimNetwork } from '../helpers/sim-network.js';

describe('duplicate SYN after the accepted connection is gone', () => {
  test('it is refused: the application sees one connection, not the destroyed one again', () => {
    const net = new SimNetwork({ seed: 5 });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const wire = net.capture();
    const conn = net.connect(a, b);
    net.advance(100);
    assert.equal(b.accepted.length, 1);
    const syn = wire.find((r) => r.packet?.type === PacketType.Syn)!;
    // The acceptor's application destroys the connection; the SYN shows up again.
    b.accepted[0]!.abort(net.now);
    net.kick(b);
    net.inject(b, syn.data, a.remote);
    net.advance(0);
    // The initiator has not heard the RESET yet (or waits out its RTO): it sends.
    conn.write(new Uint8Array(1));
    net.kick(a);
    net.advance(2000);
    assert.equal(b.accepted.length, 1, 'the destroyed connection came back as a second one');
    assert.ok(conn.state === 'closed', 'the initiator learns the connection is gone');
  });
});
