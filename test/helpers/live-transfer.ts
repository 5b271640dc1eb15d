/**
 * A transfer in progress, for tests that attack a live connection: A sends 1 MiB to B over a
 * 5 MB/s, 20 ms, 80 kB-queue path; the clock stops at t = 150 ms with data flowing.
 */
import assert from 'node:assert/strict';
import { seededBytes, SimNetwork, type LinkOptions } from './sim-network.js';

export const PATH: Partial<LinkOptions> = { rate: 5e6, latency: 20, queueBytes: 80_000 };

export function liveTransfer(seed: number) {
  const net = new SimNetwork({ seed, link: PATH });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
  const payload = seededBytes(seed, 1024 * 1024);
  const wire = net.capture();
  const conn = net.connect(a, b, { send: payload });
  net.drive(150);
  const acc = b.accepted[0]!;
  assert.ok(acc && b.app(acc).receivedBytes > 0 && !a.app(conn).closed);
  return { net, a, b, conn, acc, payload, wire };
}
