/**
 * Mutation fuzzer for Endpoint.handleDatagram, fed from real traffic (issue 6).
 *
 * Corpus: datagrams recorded from simulator sessions (handshake, two-way transfer with loss,
 * FIN, RESET), the golden vectors of test/protocol/packet.test.ts, and a session between microtp
 * and libutp (utp-native) captured on loopback (test/fixtures/libutp-session.hex, made by
 * bench/record-libutp.ts). Each iteration takes a corpus datagram or a recent genuine one
 * from the live pair, applies 1-4 mutations (bit flips, interesting byte values, header field
 * rewrites with seq/ack near the live connection's values, truncation, extension splicing,
 * replay of earlier datagrams) and delivers it to one side of a live connection pair, with the
 * right address and, mostly, the right connection id, so it reaches real connection state.
 * Meanwhile both applications stream data both ways over a lossy, reordering path.
 *
 * Invariants are the Pair's (test/helpers/pair.ts). Integrity is special: a mutated DATA/FIN
 * whose ack_nr falls inside libutp's acceptance window carries a seq/ack an on-path attacker
 * could send and may legitimately splice data into an unauthenticated stream. Half of the pairs
 * face a blind mutator (seq/ack never aimed at the live values) and half an on-path-like one; a
 * pair that received such an in-window DATA/FIN with its id has its integrity violations counted
 * as `explainedSplices`; any other integrity violation counts as a failure.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './random.js';
import { get16, put16, put32 } from './forge.js';
import { sendEdges } from './introspect.js';
import { ALL_INVARIANTS, Pair, type InvariantName } from './pair.js';
import { seqAdd } from '../../src/protocol/seq.js';

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Invariants only counted, not thrown (default: all; runFuzz never throws for a violation). */
  ignore?: ReadonlySet<InvariantName>;
  /** Mutated datagrams per pair before it is finished and a new one started. */
  perPair?: number;
}

export interface FuzzResult {
  iterations: number;
  /** Mutated datagrams delivered (plus genuine ones the simulator carried, in `genuineDatagrams`). */
  datagrams: number;
  genuineDatagrams: number;
  pairs: number;
  corpusSize: number;
  /** Bytes the applications read and checked. */
  bytesVerified: number;
  /** Pairs whose connection a mutated packet reset or otherwise closed with an error. */
  closedByFuzz: number;
  /** Close errors the applications saw while the fuzzer ran, by code. */
  closeCodes: Record<string, number>;
  /** Mutated packets that reached a connected connection with an ack_nr inside libutp's window. */
  insideWindow: number;
  /** Pairs with integrity violations that had received in-window mutated DATA/FIN (on-path-like). */
  explainedSplices: number;
  /** Violations per invariant (integrity: only the unexplained ones). */
  failures: Record<InvariantName, number>;
  /** The first message per failing invariant, with the seed and iteration that reproduce it. */
  examples: Partial<Record<InvariantName, string>>;
  seconds: number;
}

// ---------------------------------------------------------------- corpus

/** The golden vectors of test/protocol/packet.test.ts (hand-written from the BEP 29 layout). */
const GOLDEN = [
  '01 00 1234 01020304 05060708 00100000 0001 fffe 6869',
  '11 00 1234 01020304 05060708 00100000 0001 fffe',
  '21 00 1234 01020304 05060708 00100000 0001 fffe',
  '31 00 1234 01020304 05060708 00100000 0001 fffe',
  '41 00 1234 01020304 05060708 00100000 0001 fffe',
  '01 00 ffff ffffffff fffffffe 80000000 ffff 8000',
  '21 01 1234 01020304 05060708 00100000 0001 fffe   00 04 05000000',
  '21 01 1234 01020304 05060708 00100000 0001 fffe   00 08 0102030405000000',
  '21 01 1234 01020304 05060708 00100000 0001 fffe   00 01 05',
  '01 01 1234 01020304 05060708 00100000 0001 fffe   00 05 0102030405   aabb',
  '01 7f 1234 01020304 05060708 00100000 0001 fffe   01 03 aabbcc   00 04 01000000   6869',
  '41 02 1234 01020304 05060708 00100000 0001 fffe   00 08 0000000000000000',
  '11 03 1234 01020304 05060708 00100000 0001 fffe   00 04 0000 000f',
  '21 01 1234 01020304 05060708 00100000 0001 fffe   03 04 01000000   00 04 0000 1234',
].map((h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex')));

function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/** The libutp interop capture: lines "c>s <hex>" / "s>c <hex>"; '#' starts a comment. */
export function loadLibutpSession(): Uint8Array[] {
  // Compiled to build/test/helpers; the fixture stays in the source tree.
  const path = fileURLToPath(new URL('../../../test/fixtures/libutp-session.hex', import.meta.url));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Uint8Array[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const hex = t.split(/\s+/).pop()!;
    out.push(fromHex(hex));
  }
  return out;
}

/** Datagrams from simulator sessions: handshake, two-way transfer with loss, FIN, RESET. Payloads cut to 64 bytes. */
export function simulatorCorpus(seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const take = (pair: Pair): void => {
    for (const r of pair.wire) out.push(r.data.length > 84 ? r.data.slice(0, 84) : r.data);
  };
  // Two-way transfer with loss and reordering, then FIN both ways.
  const a = new Pair({ seed, record: true, clientIsn: 0xfff0, ignore: new Set(ALL_INVARIANTS) });
  a.net.path(a.hosts[0], a.hosts[1], { loss: 0.05, jitter: 20 });
  a.apps[0]!.write(40_000);
  a.advance(100);
  a.apps[1]?.write(30_000);
  a.advance(3000);
  a.finish({ liveness: false });
  take(a);
  // RESET: one side destroys mid-transfer.
  const b = new Pair({ seed: seed + 1, record: true, ignore: new Set(ALL_INVARIANTS) });
  b.apps[0]!.write(20_000);
  b.advance(60);
  b.apps[1]?.destroy();
  b.advance(200);
  b.finish({ liveness: false });
  take(b);
  // Keep it small: every distinct type and extension shape is what matters, not volume.
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = `${d[0]}:${d[1]}:${d.length > 20 ? d[21] : 0}:${Math.min(d.length, 100)}`;
    if (seen.has(key) && seen.size > 40) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------- mutations

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0xfe];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];

class Mutator {
  constructor(
    private readonly random: () => number,
    private readonly history: Uint8Array[],
  ) {}

  int(n: number): number {
    return this.random() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** 1-4 mutations of `input` (a copy), aimed at the live connection `ids` / `live` sequence numbers. */
  /** Blind: seq/ack are never aimed at the live values (ids still are). */
  blind = false;

  mutate(input: Uint8Array, live: { recvId: number; sendId: number; seq: number; ack: number }): Uint8Array {
    let d: Uint8Array = input.slice();
    if (this.blind) live = { ...live, seq: this.int(0x10000), ack: this.int(0x10000) };
    if (d.length >= 20) {
      // Mostly aim at the live connection: its id, and often its sequence numbers.
      const idRoll = this.int(10);
      if (idRoll < 7) put16(d, 2, live.recvId);
      else if (idRoll < 8) put16(d, 2, live.sendId);
      if (this.int(2) === 0) put16(d, 16, seqAdd(live.seq, this.near()));
      if (this.int(2) === 0) put16(d, 18, seqAdd(live.ack, this.near()));
    }
    const count = 1 + this.int(4);
    for (let i = 0; i < count; i++) d = this.one(d, live);
    // A RESET aimed at the live window ends the pair (correctly); keep most RESETs blind so the
    // streams live long enough for deep state. RESET acceptance is covered by the properties too.
    if (d.length >= 20 && d[0] === 0x31 && this.int(4) !== 0) put16(d, 18, this.int(0x10000));
    return d;
  }

  /** An offset around a live sequence number: mostly small, sometimes across the window edges and the wrap. */
  private near(): number {
    const r = this.int(10);
    if (r < 5) return this.int(9) - 4;
    if (r < 8) return this.int(2200) - 1100;
    return this.pick([-32768, 32767, -1024, 1024, -5, 5]);
  }

  private one(d: Uint8Array, live: { recvId: number; sendId: number; seq: number; ack: number }): Uint8Array {
    switch (this.int(11)) {
      case 0: {
        // Bit flip.
        if (d.length === 0) return d;
        d[this.int(d.length)]! ^= 1 << this.int(8);
        return d;
      }
      case 1: {
        // Interesting byte value, biased towards the header.
        if (d.length === 0) return d;
        const at = this.int(2) === 0 ? this.int(Math.min(d.length, 24)) : this.int(d.length);
        d[at] = this.pick(INTERESTING_8);
        return d;
      }
      case 2: {
        // Type / version nibbles.
        if (d.length === 0) return d;
        d[0] = this.int(4) === 0 ? this.int(256) : (this.int(5) << 4) | (this.int(8) === 0 ? this.int(16) : 1);
        return d;
      }
      case 3: {
        // First extension type.
        if (d.length < 2) return d;
        d[1] = this.pick([0, 1, 2, 3, 4, 0x7f, 0xff, this.int(256)]);
        return d;
      }
      case 4: {
        // 32-bit fields: timestamp, timestamp_difference, wnd_size.
        if (d.length < 16) return d;
        put32(d, this.pick([4, 8, 12]), this.int(2) === 0 ? this.pick(INTERESTING_32) : this.random());
        return d;
      }
      case 5: {
        // seq_nr / ack_nr near the live values or at the wrap.
        if (d.length < 20) return d;
        const at = this.int(2) === 0 ? 16 : 18;
        const base = at === 16 ? live.seq : live.ack;
        put16(d, at, this.int(3) === 0 ? this.pick([0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff]) : seqAdd(base, this.near()));
        return d;
      }
      case 6: {
        // Truncate anywhere (inside the header or an extension too).
        return d.slice(0, this.int(d.length + 1));
      }
      case 7: {
        // Splice an extension in front of the chain: [old first][len][bytes], first := new type.
        if (d.length < 20) return d;
        const type = this.pick([1, 1, 2, 3, 0x7f, this.int(256)]);
        const len = type === 1 ? 1 + this.int(255) : type === 2 ? 8 : type === 3 ? 4 : this.int(256);
        const body = new Uint8Array(len);
        const fill = this.int(3);
        for (let i = 0; i < len; i++) body[i] = fill === 0 ? 0xff : fill === 1 ? 0 : this.int(256);
        // Sometimes lie about the length.
        const said = this.int(6) === 0 ? this.int(256) : len;
        const out = new Uint8Array(d.length + 2 + len);
        out.set(d.subarray(0, 20));
        out[20] = d[1]!;
        out[21] = said;
        out.set(body, 22);
        out.set(d.subarray(20), 22 + len);
        out[1] = type;
        return out;
      }
      case 8: {
        // Append bytes (payload growth, up to a jumbo datagram).
        const extra = this.int(4) === 0 ? this.int(65_000) : this.int(1500);
        const out = new Uint8Array(d.length + extra);
        out.set(d);
        for (let i = d.length; i < out.length; i += 97) out[i] = this.int(256);
        return out;
      }
      case 9: {
        // Replay: an earlier mutated or genuine datagram instead (duplicated / reordered delivery).
        return this.history.length > 0 ? this.pick(this.history).slice() : d;
      }
      default: {
        // Clear a SACK-length byte or set it to the maximum, when there is an extension.
        if (d.length > 21 && d[1] !== 0) d[21] = this.pick([0, 1, 255, this.int(256)]);
        return d;
      }
    }
  }
}

// ---------------------------------------------------------------- driver

const PACKET_SIZES = [1400, 1232, 576];

/**
 * Runs the fuzzer for `iterations` mutated datagrams. Never throws for an invariant violation:
 * violations are counted in `failures` (with one example each) for the caller to assert on.
 */
export function runFuzz(options: FuzzOptions): FuzzResult {
  const started = performance.now();
  const random = mulberry32(options.seed);
  const perPair = options.perPair ?? 1000;
  const history: Uint8Array[] = [];
  const mutator = new Mutator(random, history);
  const corpus = [...GOLDEN, ...loadLibutpSession(), ...simulatorCorpus(options.seed)];
  const failures = Object.fromEntries(ALL_INVARIANTS.map((n) => [n, 0])) as Record<InvariantName, number>;
  const examples: Partial<Record<InvariantName, string>> = {};
  const result: FuzzResult = {
    iterations: 0,
    datagrams: 0,
    genuineDatagrams: 0,
    pairs: 0,
    corpusSize: corpus.length,
    bytesVerified: 0,
    closedByFuzz: 0,
    closeCodes: {},
    insideWindow: 0,
    explainedSplices: 0,
    failures,
    examples,
    seconds: 0,
  };
  const record = (pair: Pair, iteration: number, pairSeed: number): void => {
    for (const [name, count] of Object.entries(pair.counts) as [InvariantName, number][]) {
      if (name === 'integrity' && pair.insideWindowData > 0) {
        result.explainedSplices++;
        continue;
      }
      failures[name] += count;
    }
    for (const v of pair.violations) {
      if (v.invariant === 'integrity' && pair.insideWindowData > 0) continue;
      examples[v.invariant] ??= `runFuzz seed ${options.seed}, pair seed ${pairSeed}, iteration ${iteration}: ${v.message.slice(0, 1200)}`;
    }
  };

  let i = 0;
  while (i < options.iterations) {
    const pairSeed = (random() & 0x7fffffff) || 1;
    const pair = new Pair({
      seed: pairSeed,
      recvId: random() & 0xffff,
      clientIsn: random() % 4 === 0 ? 0xffff - (random() % 64) : random() & 0xffff,
      serverIsn: random() & 0xffff,
      config: { packetSize: PACKET_SIZES[random() % PACKET_SIZES.length]!, receiveBufferSize: random() % 2 === 0 ? 1024 * 1024 : 64 * 1024 },
      // Nothing throws out of the fuzzer: every invariant is recorded, the pair goes on.
      ignore: new Set(ALL_INVARIANTS),
    });
    result.pairs++;
    // Half the pairs face a blind forger (random seq/ack): there, any splice is a failure unless
    // a packet happened to hit the window; the other half face on-path-like values.
    mutator.blind = random() % 2 === 0;
    pair.net.path(pair.hosts[0], pair.hosts[1], { loss: [0, 0.01, 0.05][random() % 3]!, jitter: [0, 5, 40][random() % 3]!, duplicate: random() % 4 === 0 ? 0.05 : 0 });
    pair.net.taps.push((r) => {
      if (r.fate === 'injected') return;
      result.genuineDatagrams++;
      if (history.length < 256) history.push(r.data);
      else history[random() % 256] = r.data;
    });
    const end = Math.min(options.iterations, i + perPair);
    let pumped = false;
    for (; i < end; i++) {
      // Keep both streams flowing.
      for (const app of pair.apps) {
        if (app && !app.closed && !app.endCalled && app.written - (app.peer?.received ?? 0) < 16_000) app.write(1 + (random() % 4_000));
      }
      const side = (random() & 1) as 0 | 1;
      const live = liveValues(pair, side);
      const base = random() % 3 === 0 && history.length > 0 ? history[random() % history.length]! : corpus[random() % corpus.length]!;
      const datagram = mutator.mutate(base, live);
      if (history.length < 256) history.push(datagram);
      else if (random() % 8 === 0) history[random() % 256] = datagram;
      pair.deliver(side, datagram);
      result.datagrams++;
      if (random() % 8 === 0) pair.advance(random() % 20, 50);
      if (pair.apps.every((app) => app === undefined || app.closed)) break;
      pumped = true;
    }
    if (!pumped) i++;
    if (pair.apps.some((app) => app?.closed && app.error !== undefined)) result.closedByFuzz++;
    for (const app of pair.apps) if (app?.closed && app.error) result.closeCodes[app.error.code ?? '?'] = (result.closeCodes[app.error.code ?? '?'] ?? 0) + 1;
    pair.finish({ liveness: false });
    for (const app of pair.apps) result.bytesVerified += app?.received ?? 0;
    result.insideWindow += pair.insideWindow;
    record(pair, i, pairSeed);
  }
  result.iterations = options.iterations;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** The ids and sequence numbers a mutation aims at when delivering to `side`. */
function liveValues(pair: Pair, side: 0 | 1): { recvId: number; sendId: number; seq: number; ack: number } {
  const initiator = pair.connection(0)!;
  const recvId = side === 0 ? initiator.recvId : initiator.sendId;
  const sendId = side === 0 ? initiator.sendId : initiator.recvId;
  const victim = pair.connection(side);
  const peer = pair.connection(side === 0 ? 1 : 0);
  const seq = peer ? sendEdges(peer).next : get16(new Uint8Array(2), 0);
  const ack = victim ? seqAdd(sendEdges(victim).next, -1) : 0;
  return { recvId, sendId, seq, ack };
}
