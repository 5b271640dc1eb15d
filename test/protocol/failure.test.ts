/**
 * How connections end badly: RESET from the peer, idle timeout, retransmission give-up after an
 * outage, and recovery from outages shorter than the retry budget.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from '../../src/protocol/config.js';
import { PacketType } from '../../src/protocol/packet.js';
import { firstDifference, seededBytes, sentBy, SimNetwork, type LinkOptions } from '../helpers/sim-network.js';

const PATH: Partial<LinkOptions> = { rate: 5e6, latency: 20, queueBytes: 80_000 };

function setup(seed: number, bytes: number, link: Partial<LinkOptions> = PATH) {
  const net = new SimNetwork({ seed, link });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const payload = seededBytes(seed, bytes);
  const conn = net.connect(a, b, { send: payload });
  return { net, a, b, conn, payload };
}

describe('RESET from the peer', () => {
  test('the peer aborts mid-transfer: its RESET closes our side with ECONNRESET; the aborting side closes without error', () => {
    const { net, a, b, conn } = setup(1, 4 * 1024 * 1024);
    net.drive(300);
    const acc = b.accepted[0]!;
    assert.ok(b.app(acc).receivedBytes > 0);
    acc.abort(net.now);
    net.kick(b);
    assert.ok(net.runUntil(() => a.app(conn).closed, 5000));
    assert.equal(a.app(conn).error?.code, 'ECONNRESET');
    assert.equal(b.app(acc).closed, true);
    assert.equal(b.app(acc).error, undefined);
    assert.equal(a.events('close').length, 1);
    assert.equal(a.endpoint.size, 0);
    assert.equal(b.endpoint.size, 0);
  });

  test('the peer forgot the connection (restart): our next packet draws a RESET and we close with ECONNRESET', () => {
    const { net, a, b, conn } = setup(2, 1024 * 1024);
    net.drive(200);
    const acc = b.accepted[0]!;
    // B's RESET from the abort is lost: A learns only from B's reply to its next packet.
    const abortedAt = net.now;
    net.link(b, a).set({ filter: (d) => d.packet?.type === PacketType.Reset && d.sentAt === abortedAt });
    acc.abort(net.now);
    net.kick(b);
    assert.ok(net.runUntil(() => a.app(conn).closed, 10_000));
    assert.equal(a.app(conn).error?.code, 'ECONNRESET');
    assert.ok(b.endpoint.counters.resetsSent >= 1, 'B reset an unknown connection');
    assert.ok(b.endpoint.counters.unknownConnection >= 1);
  });
});

describe('timeouts', () => {
  test('idle timeout: a peer that goes silent closes an idle connection with ETIMEDOUT after idleTimeout', () => {
    const net = new SimNetwork({ seed: 3, link: PATH });
    const a = net.addHost('a', { config: { idleTimeout: 60_000 } });
    const b = net.addHost('b', { listening: true });
    const conn = net.connect(a, b, { send: new Uint8Array(100), endWhenWritten: false });
    net.drive(1000);
    assert.equal(b.accepted.length, 1);
    const silentFrom = net.now;
    net.link(b, a).addOutage(silentFrom, Infinity);
    assert.ok(net.runUntil(() => a.app(conn).closed, 300_000));
    assert.equal(a.app(conn).error?.code, 'ETIMEDOUT');
    const closedAt = a.app(conn).closedAt!;
    // Last receipt was the ACK of the 100 bytes (~40 ms after connecting).
    assert.ok(closedAt >= 60_000 && closedAt <= silentFrom + 60_000, `closed at ${closedAt}`);
    assert.equal(a.endpoint.size, 0);
  });

  test('idle timeout with the default config (180 s), while keepalives keep going out unanswered', () => {
    const { net, a, b, conn } = setup(4, 1000);
    const wire = net.capture();
    net.drive(1000);
    net.path(a, b, { outages: [{ start: 1000, end: Infinity }] });
    assert.ok(net.runUntil(() => a.app(conn).closed, 400_000));
    assert.equal(a.app(conn).error?.code, 'ETIMEDOUT');
    assert.ok(Math.abs(a.app(conn).closedAt! - 180_000) < 1000, `closed at ${a.app(conn).closedAt}`);
    const keepalives = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.State && r.sentAt > 1000);
    assert.ok(keepalives.length >= 5 && keepalives.length <= 7, `${keepalives.length} keepalives in 180 s`);
    // The acceptor times out too: nothing reaches it either.
    assert.ok(net.runUntil(() => b.endpoint.size === 0, 10_000));
  });

  test('an idle connection with a live peer stays open for 10 minutes on keepalives alone', () => {
    const net = new SimNetwork({ seed: 5, link: PATH });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const wire = net.capture();
    const conn = net.connect(a, b, { send: new Uint8Array(10), endWhenWritten: false });
    net.drive(600_000);
    assert.equal(a.app(conn).closed, false);
    assert.equal(b.app(b.accepted[0]!).closed, false);
    const keepalives = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.State && r.sentAt > 1000);
    // One STATE every 29 s (keepaliveInterval) at most; the peer's keepalive does not make us answer.
    assert.ok(keepalives.length >= 18 && keepalives.length <= 22, `${keepalives.length} keepalives`);
    assert.equal(conn.stats().invalidPackets, 0);
    assert.equal(b.accepted[0]!.stats().invalidPackets, 0);
  });

  test('an outage longer than the retransmission budget: ETIMEDOUT after maxRetransmits backed-off timeouts', () => {
    const { net, a, b, conn } = setup(6, 4 * 1024 * 1024);
    net.drive(500);
    assert.ok(b.accepted.length === 1 && b.app(b.accepted[0]!).receivedBytes > 0);
    net.path(a, b, { outages: [{ start: 500, end: 500 + 300_000 }] });
    assert.ok(net.runUntil(() => a.app(conn).closed, 300_000));
    assert.equal(a.app(conn).error?.code, 'ETIMEDOUT');
    const closedAt = a.app(conn).closedAt!;
    // min RTO 500 ms doubling: 0.5+1+2+4+8+16+32 s = 63.5 s, well before the idle timeout.
    assert.ok(closedAt > 500 + 30_000 && closedAt < 500 + 130_000, `closed at ${closedAt}`);
    assert.equal(conn.stats().timeouts, DEFAULT_CONFIG.maxRetransmits);
    assert.equal(a.endpoint.size, 0);
    // The receiver heard nothing for the whole outage: it gives up too (idle), with an error.
    const acc = b.accepted[0]!;
    assert.ok(net.runUntil(() => b.app(acc).closed, 400_000));
    assert.ok(b.app(acc).error !== undefined);
    assert.equal(b.endpoint.size, 0);
  });

  for (const outage of [2_000, 20_000]) {
    test(`an outage of ${outage / 1000} s (shorter than the retry budget) mid-transfer: recovers, data intact`, () => {
      const { net, a, b, conn, payload } = setup(7, 2 * 1024 * 1024);
      net.drive(300);
      net.path(a, b, { outages: [{ start: 300, end: 300 + outage }] });
      assert.ok(
        net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 120_000),
        `stuck: ${b.app(b.accepted[0]!).receivedBytes} of ${payload.length}`,
      );
      const got = b.app(b.accepted[0]!).data();
      assert.equal(firstDifference(got, payload), -1);
      assert.equal(a.app(conn).error, undefined);
      assert.ok(conn.stats().timeouts >= 1, 'the outage caused retransmission timeouts');
    });
  }

  test('retransmission give-up also happens on the acceptor side (acceptor sending into an outage)', () => {
    const net = new SimNetwork({ seed: 8, link: PATH });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, accept: { send: seededBytes(8, 4 * 1024 * 1024) } });
    const conn = net.connect(a, b, { send: new Uint8Array(1), endWhenWritten: false });
    net.drive(400);
    const acc = b.accepted[0]!;
    assert.ok(a.app(conn).receivedBytes > 0);
    net.path(a, b, { outages: [{ start: 400, end: Infinity }] });
    assert.ok(net.runUntil(() => b.app(acc).closed, 200_000));
    assert.equal(b.app(acc).error?.code, 'ETIMEDOUT');
    assert.equal(acc.stats().timeouts, DEFAULT_CONFIG.maxRetransmits);
  });
});
