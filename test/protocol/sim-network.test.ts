/** The simulator itself: each impairment does what it says, deterministically. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, seededBytes, SimNetwork, type LinkOptions, type SimDatagram } from '../helpers/sim-network.js';

function linkUnderTest(options: Partial<LinkOptions>, seed = 1) {
  const net = new SimNetwork({ seed });
  const a = net.addHost('a');
  const b = net.addHost('b');
  const link = net.link(a, b);
  link.set(options);
  const datagram = (size: number): SimDatagram => ({ from: a.remote, to: b.remote, data: new Uint8Array(size), sentAt: 0, packet: undefined });
  return { net, link, datagram };
}

describe('simulated links', () => {
  test('latency: arrival = send time + latency', () => {
    const { link, datagram } = linkUnderTest({ latency: 25 });
    assert.deepEqual(link.send(datagram(100), 0), [25]);
    assert.deepEqual(link.send(datagram(100), 10), [35]);
  });

  test('rate: datagrams are serialized one after another', () => {
    const { link, datagram } = linkUnderTest({ latency: 10, rate: 1000 });
    assert.deepEqual(link.send(datagram(100), 0), [110]);
    assert.deepEqual(link.send(datagram(100), 0), [210]);
    assert.deepEqual(link.send(datagram(50), 500), [560]); // idle link again: no queueing delay
  });

  test('drop-tail queue: a datagram that does not fit the backlog is dropped', () => {
    const { link, datagram } = linkUnderTest({ latency: 0, rate: 1000, queueBytes: 250 });
    assert.ok(Array.isArray(link.send(datagram(100), 0)));
    assert.ok(Array.isArray(link.send(datagram(100), 0)));
    assert.equal(link.send(datagram(100), 0), 'queue');
    assert.ok(Array.isArray(link.send(datagram(100), 150)), 'room again once the queue drained');
    assert.equal(link.counters.queue, 1);
  });

  test('MTU: larger datagrams are dropped, equal ones pass', () => {
    const { link, datagram } = linkUnderTest({ mtu: 1200 });
    assert.equal(link.send(datagram(1201), 0), 'mtu');
    assert.ok(Array.isArray(link.send(datagram(1200), 0)));
  });

  test('outages drop what is sent, or would arrive, inside them', () => {
    const { link, datagram } = linkUnderTest({ latency: 50, outages: [{ start: 100, end: 200 }] });
    assert.equal(link.send(datagram(10), 120), 'outage');
    assert.equal(link.send(datagram(10), 60), 'outage', 'arrives at 110, inside');
    assert.deepEqual(link.send(datagram(10), 40), [90]);
    assert.deepEqual(link.send(datagram(10), 200), [250]);
  });

  test('loss and duplication happen at the configured rates', () => {
    const { link, datagram } = linkUnderTest({ loss: 0.2, duplicate: 0.1 });
    let lost = 0;
    let doubled = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = link.send(datagram(10), i);
      if (r === 'loss') lost++;
      else if (Array.isArray(r) && r.length === 2) doubled++;
    }
    assert.ok(Math.abs(lost / 20_000 - 0.2) < 0.015, `loss ${lost}`);
    assert.ok(Math.abs(doubled / 16_000 - 0.1) < 0.015, `dup ${doubled}`);
  });

  test('jitter spreads arrivals over [latency, latency + jitter) and reorders', () => {
    const { link, datagram } = linkUnderTest({ latency: 20, jitter: 30 });
    let previous = -Infinity;
    let reordered = 0;
    for (let i = 0; i < 1000; i++) {
      const [t] = link.send(datagram(10), i) as number[];
      assert.ok(t! >= i + 20 && t! < i + 50);
      if (t! < previous) reordered++;
      previous = t!;
    }
    assert.ok(reordered > 100, `${reordered} reordered`);
  });

  test('the same seed gives the same fates; another seed does not', () => {
    const fates = (seed: number) => {
      const { link, datagram } = linkUnderTest({ loss: 0.3, jitter: 10, duplicate: 0.1 }, seed);
      return Array.from({ length: 500 }, (_, i) => link.send(datagram(10), i));
    };
    assert.deepEqual(fates(5), fates(5));
    assert.notDeepEqual(fates(5), fates(6));
  });
});

describe('simulator helpers', () => {
  test('mulberry32 and seededBytes are deterministic and seed-dependent', () => {
    const r1 = mulberry32(42);
    const r2 = mulberry32(42);
    for (let i = 0; i < 100; i++) assert.equal(r1(), r2());
    assert.deepEqual(seededBytes(1, 37), seededBytes(1, 37));
    assert.notDeepEqual(seededBytes(1, 37), seededBytes(2, 37));
    assert.equal(seededBytes(3, 5).length, 5);
  });

  test('datagrams that are not µTP go to the host, not the endpoint', () => {
    const net = new SimNetwork();
    const a = net.addHost('a', { listening: true });
    const dht = new TextEncoder().encode('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
    net.inject(a, dht, { address: '1.2.3.4', port: 6881, family: 'IPv4' }, 5);
    net.drive(10);
    assert.equal(a.notUtp.length, 1);
    assert.equal(a.endpoint.counters.malformed, 0);
  });

  test('the clock only moves forward and drive() ends exactly at its target', () => {
    const net = new SimNetwork();
    net.addHost('a');
    net.drive(1234.5);
    assert.equal(net.now, 1234.5);
    net.drive(100);
    assert.equal(net.now, 1234.5);
  });
});
