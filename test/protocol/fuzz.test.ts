/**
 * Mutation fuzzer on Endpoint.handleDatagram (test/helpers/fuzz.ts), fed from simulator traffic,
 * the golden vectors and a recorded libutp session, hitting a live connection pair. A fixed seed
 * and 20,000 datagrams here (a couple of seconds); `BENCH_SUITES=fuzz npm run bench` runs 10^6+.
 * FUZZ_ITERATIONS / FUZZ_SEED override the defaults.
 *
 * The bugs of issue 6 items 3, 4 and 6 that this fuzzer found each keep a test named after them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLibutpSession, runFuzz, type FuzzResult } from '../helpers/fuzz.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);

let cached: FuzzResult | undefined;
function result(): FuzzResult {
  cached ??= runFuzz({ iterations: ITERATIONS, seed: SEED });
  return cached;
}

function zero(name: keyof FuzzResult['failures']): void {
  const r = result();
  assert.equal(r.failures[name], 0, r.examples[name]);
}

describe(`mutation fuzzer: ${ITERATIONS} mutated datagrams into a live pair (seed ${SEED})`, () => {
  test('the corpus includes the recorded libutp session', () => {
    assert.ok(loadLibutpSession().length >= 20, 'test/fixtures/libutp-session.hex is missing or short');
    assert.ok(result().corpusSize > 50);
  });

  test('nothing throws out of handleDatagram, handleTimeout, flush or the application calls', () => zero('no-throw'));
  test('memory stays bounded (reorder buffer, send buffer, connection table)', () => zero('bounded-memory'));
  test('every connection and timer is released after close', () => zero('released'));
  test('cwnd never grows from an ack of data never sent', () => zero('no-optimistic-growth'));
  test('bytes in flight and pending resends match the send buffer', () => zero('flight-accounting'));
  test('the genuine streams arrive intact (except after in-window forged DATA, which an on-path attacker could send)', () => {
    zero('integrity');
    assert.ok(result().bytesVerified > 1_000_000, `only ${result().bytesVerified} bytes verified`);
  });

  test('regression (issue 6 item 6, fixed): DATA datagrams exceed packetSize (the SACK extension is not counted)', () => zero('datagram-size'));
  test('regression (issue 6 item 3, fixed): packets with ack_nr outside libutp\'s window change state', () => zero('invalid-changes-nothing'));
  test('regression (issue 6 item 4, fixed): SYN cookies bring a closed connection back as a second \'connection\'', () => zero('single-accept'));
});
