/**
 * The bottleneck bench's metric code (bench/bottleneck/metrics.ts), on made-up worker output:
 * no namespaces, no processes. The bench itself needs root and minutes; these are the pure parts
 * its multi-flow verdicts (issue 8) rest on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addedDelay, baseErrors, foldWrap, goodputMbit, jain, lastThird, parseBytes, parsePing, parseStats } from '../../bench/bottleneck/metrics.js';

const close = (actual: number | undefined, expected: number, eps = 1e-9): void =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= eps, `${actual} != ${expected}`);

describe("Jain's fairness index", () => {
  test('1 for equal rates, 1/n when one flow has everything, 0 when nobody has anything', () => {
    close(jain([3, 3, 3, 3]), 1);
    close(jain([10, 0, 0, 0]), 0.25);
    close(jain([0, 9.58]), 0.5);
    assert.equal(jain([0, 0]), 0);
  });

  test("the issue's latecomer measurement (0.05 vs 9.53 Mbit/s) is 0.51", () => {
    close(jain([0.05, 9.53]), 0.51, 0.005);
  });
});

describe('last-third window', () => {
  test('of the latecomer and four-flow runs: after every flow has started', () => {
    assert.deepEqual(lastThird(60), [40, 60]);
    assert.deepEqual(lastThird(90), [60, 90]);
  });

  test('goodput over it, per flow, from the receiver\'s B lines (a column per accepted flow)', () => {
    // Flow 0 at 1.25 MB/s from 0 s; flow 1 accepted at 20 s, 0.625 MB/s from then on.
    const t0 = 1_700_000_000_000;
    const lines: string[] = [];
    for (let ms = 0; ms <= 60_000; ms += 100) {
      const cols = [(1.25e6 * ms) / 1000];
      if (ms >= 20_000) cols.push((0.625e6 * (ms - 20_000)) / 1000);
      lines.push(`B ${t0 + ms} ${cols.join(' ')}`);
    }
    const [w0, w1] = lastThird(60).map((s) => t0 + s * 1000) as [number, number];
    close(goodputMbit(parseBytes(lines, 0), w0, w1), 10);
    close(goodputMbit(parseBytes(lines, 1), w0, w1), 5);
    // A window the flow's series does not cover has no goodput rather than a made-up one.
    assert.equal(goodputMbit(parseBytes(lines, 1), t0, t0 + 10_000), undefined);
    assert.equal(parseBytes(lines, 2).length, 0);
  });

  test('added delay counts the pings sent in the window, lost ones apart', () => {
    const t0 = 1000;
    // seq 0..9 sent every second from t0; RTT 1 ms + seq*10; seq 8 lost.
    const lines = Array.from({ length: 10 }, (_, i) => [`S ${i} ${t0 + i * 1000}`, i === 8 ? '' : `R ${i} ${1 + i * 10}`]).flat();
    const { delay, series } = addedDelay(parsePing(lines), 1, t0, t0 + 6000, t0 + 9000);
    assert.equal(delay.n, 3); // seq 6, 7, 9
    assert.equal(delay.median, 70);
    assert.equal(delay.lossPct, 25);
    assert.deepEqual(series[8], [8, null]);
  });
});

describe('base delay error (latency drift)', () => {
  test('the clock offset shared by the flows of one process pair cancels', () => {
    const history = (offset: number): number[][] => [
      [0, offset + 0.3, offset + 0.3, offset + 0.3], // flow 1 measured the empty path
      [offset + 100.5, offset + 100.5], // flow 2 took flow 1's standing queue for its base
      [offset + 7.2], // flow 3, close enough
    ];
    for (const offset of [0, 3_214.6, 4_000_000]) {
      const { trueBase, errors } = baseErrors(history(offset));
      close(trueBase, offset + 0.3, 1e-6);
      errors.forEach((e, i) => close(e, [0, 100.2, 6.9][i]!, 1e-6));
    }
  });

  test('an independent estimate of the true base below every flow\'s wins: no flow saw the empty path alone', () => {
    // Plain LEDBAT measured this: the first flow's lowest sample was 4 ms above the path's.
    const { lowest, trueBase, errors } = baseErrors([[5004, 5012.5], [5100.4]], 5000.1);
    assert.equal(lowest, 5004);
    assert.equal(trueBase, 5000.1);
    errors.forEach((e, i) => close(e, [12.4, 100.3][i]!, 1e-6));
    // An estimate above what a flow saw is not the true base: nothing is below the path's delay.
    assert.equal(baseErrors([[5004]], 5010).trueBase, 5004);
  });

  test('the clock offset is folded as µTP\'s 32-bit microsecond clocks wrap', () => {
    const wrap = 2 ** 32 / 1000;
    close(foldWrap(3_000.5, wrap), 3_000.5, 1e-6);
    close(foldWrap(-3_000.5, wrap), -3_000.5, 1e-6);
    close(foldWrap(wrap - 2, wrap), -2, 1e-6);
  });

  test('is read at the end: a base that came down counts as fixed', () => {
    const { errors } = baseErrors([[50, 50], [150, 120, 52]]);
    assert.deepEqual(errors, [0, 2]);
  });

  test('a flow without a delay sample has no error, and no flow with one, no true base', () => {
    assert.deepEqual(baseErrors([[10], [0, 0]]).errors, [0, undefined]);
    assert.deepEqual(baseErrors([[0], []]), { lowest: undefined, trueBase: undefined, errors: [undefined, undefined] });
  });

  test("per flow, from the sender's T lines", () => {
    const stats = parseStats(['T 100.5 0 {"baseDelay":5000.25,"cwnd":1400}', 'T 100.5 1 {"baseDelay":5100.5}', 'T 200.5 0 {"baseDelay":5000.25,"slowStart":false}']);
    assert.equal(stats.length, 2);
    assert.deepEqual(stats[0]!.map(([t, r]) => [t, r.baseDelay]), [[100.5, 5000.25], [200.5, 5000.25]]);
    assert.equal(stats[0]![1]![1].slowStart, false);
    assert.equal(stats[1]![0]![1].baseDelay, 5100.5);
  });
});
