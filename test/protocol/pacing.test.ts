/**
 * The pacer (src/protocol/pacer.ts) and the endpoint's list of paced connections: what a paced
 * connection does at the edges (a window smaller than a packet, removal while held back).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pacer } from '../../src/protocol/pacer.js';
import { dataOf, ScriptedPeer } from '../helpers/scripted-peer.js';
import { seededBytes, SimNetwork } from '../helpers/sim-network.js';

describe('pacing under a window smaller than a packet', () => {
  test('a resend into a peer window of 10 bytes does not hold the next packet back for 68 RTTs', (t) => {
    const p = new ScriptedPeer();
    p.handshake(50); // RTT 50 ms
    const first = dataOf(p.write(new Uint8Array(20 * 1374)))[0]!.seq;
    // Nothing is acknowledged: the RTO presumes everything lost and resends the oldest.
    p.advance(600);
    // The receiver's buffer is almost full: it acks that resend with a 10-byte window. Nothing is
    // in flight, so the next resend goes anyway (as a window probe would), paced at 10 bytes/RTT.
    p.advance(50);
    p.window = 10;
    p.receive({ ack: first });
    p.advance(50);
    // The application read: the window reopens.
    p.window = 1 << 20;
    p.receive({ ack: (first + 1) & 0xffff });
    const reopened = p.now;
    let next: number | undefined;
    for (let i = 0; i < 400 && next === undefined; i++) if (dataOf(p.advance(10)).length > 0) next = p.now;
    t.diagnostic(`next DATA ${next === undefined ? 'not within 4 s' : `${next - reopened} ms`} after the window reopened (RTT 50 ms)`);
    assert.ok(next !== undefined && next - reopened <= 100, 'held back by the pacer for more than 2 RTTs');
  });

  test('Pacer: a packet larger than the window waits at most one RTT (over the gain)', () => {
    const pacer = new Pacer();
    pacer.sent(1374, 0, 1, 100, false);
    assert.ok(pacer.delay(0, 1, 100, false) <= 100 / 1.25, `${pacer.delay(0, 1, 100, false)} ms`);
  });

  test('Pacer: the gap after a packet follows the window of now, not of when it left', () => {
    // Two packets per 100 ms (a LEDBAT++ slowdown's floor), then the window regains 30 packets:
    // the next packet is due after 1/30 of the RTT, not after half of it.
    const pacer = new Pacer();
    pacer.sent(1400, 0, 2800, 100, false);
    const slow = pacer.delay(0, 2800, 100, false);
    assert.ok(slow > 30 && slow <= 40, `${slow} ms`); // 1400 B at 2800 B per 100 ms over gain 1.25
    const wait = pacer.delay(0, 42_000, 100, true);
    assert.ok(wait <= 100 / 30 / 2 + 1e-9, `${wait} ms`);
  });
});

describe('a paced connection removed while the pacer holds it', () => {
  test('it leaves the pacing list: no flush and no event after its removal', () => {
    const net = new SimNetwork({ seed: 21, link: { rate: 800_000, queueBytes: 200_000, latency: 30 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const conn = net.connect(a, b, { send: seededBytes(3, 8_000_000) });
    // Step until the pacer holds it back (in slow start, at 2x the window's rate: it is in the
    // endpoint's pacing list then).
    for (let i = 0; i < 10_000 && conn.paceAt === Infinity; i++) net.advance(0.1);
    assert.notEqual(conn.paceAt, Infinity, 'the pacer never held the sender back');
    conn.abort(net.now);
    net.kick(a);
    net.advance(1000);
    const log = a.log.filter((e) => e.event.connection === conn).map((e) => e.event.type);
    const removed = log.indexOf('removed');
    assert.ok(removed >= 0, 'removed');
    assert.deepEqual(log.slice(removed + 1), [], 'events after removal');
    assert.equal(a.endpoint.nextWake, Infinity, 'the endpoint still has a wake-up for it');
  });
});
