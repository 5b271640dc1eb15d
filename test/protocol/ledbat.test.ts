/**
 * LEDBAT scenarios modelled on libtorrent's uTP simulations: goodput against the link rate and
 * queueing delay against the 100 ms target, through the simulator (virtual time). The queueing
 * delay is read off the bottleneck link itself (how long a datagram would wait), not from the
 * sender's own estimate.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FixedWindow } from '../../src/protocol/congestion/fixed-window.js';
import { Ledbat } from '../../src/protocol/congestion/ledbat.js';
import { seededBytes, SimNetwork, type LinkOptions } from '../helpers/sim-network.js';

interface Outcome {
  complete: boolean;
  /** Goodput over the transfer as a share of the bottleneck rate. */
  utilisation: number;
  /** Queueing delay at the bottleneck (ms), median and 90th percentile, after the first third. */
  medianDelay: number;
  p90Delay: number;
  /** Share of the datagrams sent into the bottleneck that its queue dropped. */
  queueLoss: number;
  stats: ReturnType<import('../../src/protocol/connection.js').Connection['stats']>;
}

/** Runs the scenario twice: the same seed must give the same counters (libtorrent asserts exact counts too). */
function run(link: Partial<LinkOptions> & { rate: number }, bytes: number, maxSeconds: number, seed = 7): Outcome {
  const first = runOnce(link, bytes, maxSeconds, seed);
  const second = runOnce(link, bytes, maxSeconds, seed);
  assert.deepEqual(second.stats, first.stats, 'same seed, same counters');
  return first;
}

function runOnce(link: Partial<LinkOptions> & { rate: number }, bytes: number, maxSeconds: number, seed: number): Outcome {
  const net = new SimNetwork({ seed, link });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const conn = net.connect(a, b, { send: seededBytes(seed, bytes), endWhenWritten: true });
  const delays: number[] = [];
  let complete = false;
  while (net.now < maxSeconds * 1000) {
    net.drive(net.now + 100);
    delays.push(net.link(a, b).queueDelay(net.now));
    const accepted = b.accepted[0];
    if (accepted && b.app(accepted).ended) {
      complete = b.app(accepted).receivedBytes === bytes;
      break;
    }
  }
  const settled = delays.slice(Math.floor(delays.length / 3)).sort((x, y) => x - y);
  return {
    complete,
    utilisation: bytes / (net.now / 1000) / link.rate,
    medianDelay: settled[Math.floor(settled.length / 2)] ?? 0,
    p90Delay: settled[Math.floor(settled.length * 0.9)] ?? 0,
    queueLoss: net.link(a, b).counters.queue / net.link(a, b).counters.sent,
    stats: conn.stats(),
  };
}

const BROADBAND = { rate: 800_000, queueBytes: 200_000, latency: 30 };

describe('LEDBAT in the simulator', () => {
  test('plain (30 ms, 800 kB/s): no loss, no timeouts, near the link rate, delay at the target', () => {
    const o = run(BROADBAND, 8_000_000, 60);
    assert.ok(o.complete);
    assert.ok(o.utilisation >= 0.9, `utilisation ${o.utilisation.toFixed(2)}`);
    assert.equal(o.stats.retransmits, 0);
    assert.equal(o.stats.timeouts, 0);
    assert.ok(o.medianDelay >= 80 && o.medianDelay <= 110, `median delay ${o.medianDelay} ms`);
    assert.ok(o.p90Delay < 125, `p90 delay ${o.p90Delay} ms`);
  });

  test('buffer bloat (50 kB/s, 500 kB queue = 10 s): queueing delay settles near the target, not the queue size', () => {
    const o = run({ rate: 50_000, queueBytes: 500_000, latency: 30 }, 2_000_000, 120);
    assert.ok(o.complete);
    assert.ok(o.utilisation >= 0.9, `utilisation ${o.utilisation.toFixed(2)}`);
    // One packet takes 28 ms to serialise at this rate, so samples move in 28 ms steps.
    assert.ok(o.medianDelay >= 70 && o.medianDelay <= 140, `median delay ${o.medianDelay} ms`);
    assert.ok(o.p90Delay < 170, `p90 delay ${o.p90Delay} ms`);
    assert.equal(o.stats.timeouts, 0);
  });

  test('straw (a queue of one packet): completes without stalling, paced: few packets lost to bursts', (t) => {
    const o = run({ rate: 800_000, queueBytes: 1500, latency: 30 }, 500_000, 120);
    t.diagnostic(`queue drops ${(o.queueLoss * 100).toFixed(1)}% of packets sent, utilisation ${o.utilisation.toFixed(2)}, retransmits ${o.stats.retransmits}`);
    assert.ok(o.complete, 'did not complete in 120 s');
    assert.equal(o.stats.timeouts, 0);
    // Back-to-back sends overflow a one-packet queue: only pacing keeps them apart.
    assert.ok(o.queueLoss < 0.1, `${(o.queueLoss * 100).toFixed(1)}% dropped by the queue`);
  });

  for (const [loss, floor] of [
    [0.01, 0.4],
    [0.05, 0.2],
    [0.1, 0.12],
  ] as const) {
    test(`${loss * 100}% random loss: data intact, goodput at least ${floor} of the link`, () => {
      const o = run({ ...BROADBAND, loss }, 4_000_000, 120);
      assert.ok(o.complete);
      assert.ok(o.utilisation >= floor, `utilisation ${o.utilisation.toFixed(2)}`);
    });
  }

  test('heavy reordering (jitter twice the base delay): few spurious retransmits', () => {
    const o = run({ ...BROADBAND, jitter: 60 }, 4_000_000, 120);
    assert.ok(o.complete);
    assert.ok(o.utilisation >= 0.5, `utilisation ${o.utilisation.toFixed(2)}`);
    assert.ok(o.stats.retransmits < o.stats.packetsSent * 0.01, `${o.stats.retransmits} retransmits of ${o.stats.packetsSent}`);
  });

  test('5% duplication: no retransmits, near the link rate', () => {
    const o = run({ ...BROADBAND, duplicate: 0.05 }, 4_000_000, 60);
    assert.ok(o.complete);
    assert.ok(o.utilisation >= 0.85, `utilisation ${o.utilisation.toFixed(2)}`);
    assert.equal(o.stats.retransmits, 0);
  });

  test('a 2 s outage mid-transfer: recovers, data intact', (t) => {
    const o = run({ ...BROADBAND, outages: [{ start: 3000, end: 5000 }] }, 4_000_000, 120);
    t.diagnostic(`utilisation ${o.utilisation.toFixed(4)}, timeouts ${o.stats.timeouts}, retransmits ${o.stats.retransmits}`);
    assert.ok(o.complete);
    assert.ok(o.utilisation >= 0.5, `utilisation ${o.utilisation.toFixed(2)}`);
    assert.ok(o.stats.timeouts >= 1, 'the outage should cost at least one timeout');
  });
});

describe('the congestion controller interface', () => {
  test('a fixed window plugs in where LEDBAT does: 5% loss, data intact, cwnd never moves', () => {
    const net = new SimNetwork({ seed: 21, link: { ...BROADBAND, loss: 0.05 } });
    const controller = (): FixedWindow => new FixedWindow(20 * 1400);
    const a = net.addHost('a', { controller });
    const b = net.addHost('b', { listening: true, controller });
    const payload = seededBytes(21, 1_000_000);
    const conn = net.connect(a, b, { send: payload, endWhenWritten: true });
    const cwnds = new Set<number>();
    assert.ok(
      net.runUntil(() => {
        cwnds.add(conn.stats().cwnd);
        const accepted = b.accepted[0];
        return accepted !== undefined && b.app(accepted).ended;
      }, 120_000),
    );
    assert.equal(b.app(b.accepted[0]!).receivedBytes, payload.length);
    assert.deepEqual([...cwnds], [20 * 1400]);
    assert.ok(conn.stats().retransmits > 0);
  });
});

describe('clock-drift correction from the reverse path', () => {
  /** Base 50 ms; the reverse path's samples; then one of ours at `last` µs: what LEDBAT reads. */
  const after = (peerSamples: readonly [number, number][], last: number): { queuingDelay: number; baseDelay: number } => {
    const cc = new Ledbat(1400);
    cc.onAck(1400, 50_000, 0, 40, 0, 40);
    for (const [at, sample] of peerSamples) cc.onPeerDelaySample(sample, at);
    // The current delay is the least of the last three samples.
    for (let i = 0; i < 3; i++) cc.onAck(1400, last, 0, 40, 10_000 + i, 40);
    return cc.stats();
  };

  test("a fast fall of the peer's base is its path, not drift: a 5 ms queue still reads as one", () => {
    // The first reverse sample waited 8 ms in the peer's event loop; 100 ms later one did not.
    // Taken as drift, our base rose 8 ms and the 5 ms queue read as none.
    const o = after([[0, 20_000], [100, 12_000]], 55_000);
    assert.ok(o.queuingDelay >= 4.8 && o.baseDelay <= 50.2, JSON.stringify(o));
  });

  test('a slow fall is drift, followed as libutp does', () => {
    // 0.5 ms in 10 s (50 ppm), and our samples crept up by as much: no queue.
    const o = after([[0, 20_000], [10_000, 19_500]], 50_500);
    assert.deepEqual(o.queuingDelay, 0);
    assert.equal(o.baseDelay, 50.5);
  });
});
