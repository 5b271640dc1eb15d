/**
 * Inter-flow fairness (issue 8): several microtp flows from one host through one simulated
 * bottleneck (the a -> b link: one rate, one drop-tail queue), starting at staggered times, as a
 * BitTorrent client's flows share a home router. Over the last third of the run: Jain's index of
 * the per-flow goodputs, the pair's share of the link, and the added (queueing) delay read off
 * the bottleneck itself. Every scenario runs twice: same seed, same counters for every flow.
 *
 * Today's LEDBAT fails the fairness and delay targets: a latecomer measures its base delay while
 * the incumbents' queue stands, takes it for the empty path and pushes them out (RFC 6817 s4.4).
 * Those assertions are `todo` until the fix; the rest is enforced.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import { seededBytes, SimNetwork, type LinkOptions } from '../helpers/sim-network.js';

const LATECOMER_TODO = 'latecomer advantage: issue 8';

interface FlowOutcome {
  /** Goodput over the last third (bytes/s). */
  rate: number;
  stats: ReturnType<Connection['stats']>;
}

interface Outcome {
  flows: FlowOutcome[];
  jain: number;
  /** The flows' goodput over the last third as a share of the link rate. */
  utilisation: number;
  /** Added delay at the bottleneck over the last third (ms). */
  medianDelay: number;
  p90Delay: number;
}

function jain(xs: readonly number[]): number {
  const sum = xs.reduce((s, x) => s + x, 0);
  const squares = xs.reduce((s, x) => s + x * x, 0);
  return squares === 0 ? 0 : (sum * sum) / (xs.length * squares);
}

function runOnce(link: Partial<LinkOptions> & { rate: number }, starts: readonly number[], seconds: number, seed: number): Outcome {
  const net = new SimNetwork({ seed, link });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const conns: (Connection | undefined)[] = starts.map(() => undefined);
  const end = seconds * 1000;
  const measureFrom = (end * 2) / 3;
  const delays: number[] = [];
  const at = (i: number): number => {
    const accepted = b.accepted[i];
    return accepted ? b.app(accepted).receivedBytes : 0;
  };
  let marks: number[] = [];
  while (net.now < end) {
    for (let i = 0; i < starts.length; i++) {
      // More than the link can carry in the run: every flow stays backlogged.
      if (conns[i] === undefined && net.now >= starts[i]!) conns[i] = net.connect(a, b, { send: seededBytes(seed + i, Math.ceil(link.rate * seconds) + 1) });
    }
    net.drive(net.now + 100);
    if (net.now >= measureFrom) {
      if (marks.length === 0) marks = starts.map((_, i) => at(i));
      delays.push(net.link(a, b).queueDelay(net.now));
    }
  }
  // Flows are accepted in start order (one SYN at a time, staggered).
  const seconds3 = (end - measureFrom) / 1000;
  const flows = conns.map((c, i) => ({ rate: (at(i) - marks[i]!) / seconds3, stats: c!.stats() }));
  delays.sort((x, y) => x - y);
  const rates = flows.map((f) => f.rate);
  return {
    flows,
    jain: jain(rates),
    utilisation: rates.reduce((s, x) => s + x, 0) / link.rate,
    medianDelay: delays[Math.floor(delays.length / 2)] ?? 0,
    p90Delay: delays[Math.floor(delays.length * 0.9)] ?? 0,
  };
}

function run(link: Partial<LinkOptions> & { rate: number }, starts: readonly number[], seconds: number, seed: number): Outcome {
  const first = runOnce(link, starts, seconds, seed);
  const second = runOnce(link, starts, seconds, seed);
  assert.deepEqual(
    second.flows.map((f) => f.stats),
    first.flows.map((f) => f.stats),
    'same seed, same counters for every flow',
  );
  return first;
}

function describeOutcome(o: Outcome): string {
  const rates = o.flows.map((f) => `${((f.rate * 8) / 1e6).toFixed(2)}`).join(' / ');
  return `Mbit/s per flow ${rates}, Jain ${o.jain.toFixed(2)}, link share ${o.utilisation.toFixed(2)}, added delay median ${o.medianDelay.toFixed(0)} ms p90 ${o.p90Delay.toFixed(0)} ms`;
}

/** 5 Mbit/s, 20 ms each way, a 250 kB (400 ms) drop-tail queue: the home router, smaller. */
const ROUTER = { rate: 625_000, queueBytes: 250_000, latency: 20 };

for (const [name, starts, seconds] of [
  ['latecomer: an incumbent, a second flow 10 s later', [0, 10_000], 30],
  ['four flows starting 5 s apart', [0, 5_000, 10_000, 15_000], 45],
] as const) {
  describe(`fairness through one bottleneck: ${name}`, () => {
    let outcome: Outcome | undefined;
    const get = (): Outcome => (outcome ??= run(ROUTER, starts, seconds, 17));

    test('deterministic (counters identical across two runs of the seed), the flows fill the link', (t) => {
      const o = get();
      t.diagnostic(describeOutcome(o));
      assert.ok(o.utilisation >= 0.9, `link share ${o.utilisation.toFixed(2)}`);
    });

    test("Jain's index over the last third >= 0.9", { todo: LATECOMER_TODO }, () => {
      const o = get();
      assert.ok(o.jain >= 0.9, describeOutcome(o));
    });

    test('added delay at the target (median and p90 <= 115 ms)', { todo: LATECOMER_TODO }, () => {
      const o = get();
      assert.ok(o.medianDelay <= 115 && o.p90Delay <= 115, describeOutcome(o));
    });
  });
}
