/**
 * Scenarios for the property-based tests: a list of operations (application calls, network
 * faults, forged packets) applied to a `Pair` in order, then `finish()`. Operations are plain data
 * so fast-check can generate and shrink them and a counterexample prints as JSON that replays.
 *
 * Forgers come in two kinds. A blind forger knows the 4-tuple and both connection ids (they are
 * cheap to learn or guess) but not the sequence numbers: its seq_nr / ack_nr are absolute values.
 * An on-path forger sees the traffic: its values are offsets from the live ones. Only blind
 * forgers may be held to data integrity; nothing stops an on-path attacker from splicing data
 * into an unauthenticated stream.
 */
import fc from 'fast-check';
import type { EndpointConfig } from '../../src/protocol/config.js';
import { seqAdd, seqDiff } from '../../src/protocol/seq.js';
import { forge, marker } from './forge.js';
import { ackNr, sendEdges } from './introspect.js';
import { LIBUTP_ACK_SLACK, Pair, type InvariantName } from './pair.js';

export type Side = 0 | 1;

/** Where a forged seq_nr / ack_nr comes from: an absolute value, or an offset from the live one. */
export type SeqValue = { abs: number } | { rel: number } | { below: number };

export interface ForgeOp {
  op: 'forge';
  /** The victim; the packet claims to come from its peer. */
  to: Side;
  type: number;
  /** 'right': the victim's recv id; 'send': its send id (RESET lookups try it); else a fixed value. */
  id: 'right' | 'send' | number;
  /** rel: from the impersonated peer's next seq_nr. */
  seq: SeqValue;
  /** rel: from the victim's next seq_nr - 1 (its newest sent); below: oldest - 1 - 4 - below, just outside libutp's window. */
  ack: SeqValue;
  window: number;
  timestamp: number;
  tsDiff: number;
  /** SACK mask length (0: none) and fill. */
  sackLen: number;
  sackFill: 'zero' | 'ones' | 'alternate' | 'high';
  closeReason: boolean;
  payload: number;
}

/** ACKs of data the victim never sent, with live values (a misbehaving receiver). */
export interface OptimisticOp {
  op: 'optimistic';
  to: Side;
  /** How far past the next seq_nr the cumulative ack goes; -1: ack oldest - 1 with a SACK past next. */
  ahead: number;
  sackLen: number;
  window: number;
  tsDiff: number;
}

export type Op =
  | { op: 'write'; side: Side; size: number }
  | { op: 'end'; side: Side }
  | { op: 'destroy'; side: Side }
  | { op: 'pause'; side: Side }
  | { op: 'resume'; side: Side }
  | { op: 'wait'; ms: number }
  | { op: 'link'; from: Side; loss: number; duplicate: number; jitter: number; latency: number }
  | { op: 'outage'; from: Side; ms: number }
  | ForgeOp
  | OptimisticOp;

export interface Scenario {
  seed: number;
  clientIsn: number;
  serverIsn: number;
  recvId: number;
  config: Partial<EndpointConfig>;
  /** Let the handshake complete before the first operation (else operations race it). */
  connectFirst?: boolean;
  ops: Op[];
}

export interface RunOptions {
  ignore?: ReadonlySet<InvariantName>;
  liveness: boolean;
}

/** Runs a scenario to the end; throws the first enforced invariant violation. */
export function runScenario(s: Scenario, options: RunOptions): Pair {
  const pair = new Pair({
    seed: s.seed,
    recvId: s.recvId,
    clientIsn: s.clientIsn,
    serverIsn: s.serverIsn,
    config: s.config,
    ...(options.ignore ? { ignore: options.ignore } : {}),
  });
  pair.advance(0);
  if (s.connectFirst) pair.advance(100);
  for (const op of s.ops) {
    apply(pair, op);
    pair.advance(0);
  }
  pair.finish({ liveness: options.liveness });
  return pair;
}

export function apply(pair: Pair, op: Op): void {
  const net = pair.net;
  switch (op.op) {
    case 'write':
      pair.apps[op.side]?.write(op.size);
      return;
    case 'end':
      pair.apps[op.side]?.end();
      return;
    case 'destroy':
      pair.apps[op.side]?.destroy();
      return;
    case 'pause':
      pair.apps[op.side]?.pause();
      return;
    case 'resume':
      pair.apps[op.side]?.resume();
      return;
    case 'wait':
      pair.advance(op.ms);
      return;
    case 'link':
      net.link(pair.hosts[op.from], pair.hosts[op.from === 0 ? 1 : 0]).set({ loss: op.loss, duplicate: op.duplicate, jitter: op.jitter, latency: op.latency });
      return;
    case 'outage':
      net.link(pair.hosts[op.from], pair.hosts[op.from === 0 ? 1 : 0]).addOutage(net.now, net.now + op.ms);
      return;
    case 'forge':
      pair.deliver(op.to, forgeBytes(pair, op));
      return;
    case 'optimistic': {
      const bytes = optimisticBytes(pair, op);
      if (bytes) pair.deliver(op.to, bytes);
      return;
    }
  }
}

function sackMask(len: number, fill: ForgeOp['sackFill']): Uint8Array | undefined {
  if (len === 0) return undefined;
  const mask = new Uint8Array(len);
  for (let i = 0; i < len; i++) mask[i] = fill === 'zero' ? 0 : fill === 'ones' ? 0xff : fill === 'alternate' ? 0x55 : i === len - 1 ? 0x80 : 0;
  return mask;
}

/** The datagram a forge op describes, resolved against the live connection ids and sequence numbers. */
export function forgeBytes(pair: Pair, op: ForgeOp): Uint8Array {
  const victim = pair.connection(op.to) ?? pair.connection(op.to === 0 ? 1 : 0);
  // Ids: the pair's connection as the victim sees it (the acceptor's ids mirror the initiator's).
  const initiator = pair.connection(0)!;
  const recvId = op.to === 0 ? initiator.recvId : initiator.sendId;
  const sendId = op.to === 0 ? initiator.sendId : initiator.recvId;
  const id = op.id === 'right' ? recvId : op.id === 'send' ? sendId : op.id & 0xffff;
  const impersonated = pair.connection(op.to === 0 ? 1 : 0);
  const liveSeq = impersonated ? sendEdges(impersonated).next : victim ? seqAdd(ackNr(victim), 1) : 0;
  const edges = victim && pair.connection(op.to) ? sendEdges(victim) : { oldest: 1, next: 1 };
  const liveAck = seqAdd(edges.next, -1);
  const value = (v: SeqValue, live: number): number =>
    'abs' in v ? v.abs & 0xffff : 'rel' in v ? seqAdd(live, v.rel) : seqAdd(edges.oldest, -1 - LIBUTP_ACK_SLACK - 1 - v.below);
  return forge({
    type: op.type,
    connectionId: id,
    timestamp: op.timestamp,
    timestampDifference: op.tsDiff,
    windowSize: op.window,
    seq: value(op.seq, liveSeq),
    ack: value(op.ack, liveAck),
    sack: sackMask(op.sackLen, op.sackFill),
    closeReason: op.closeReason ? 0x1234 : undefined,
    payload: marker(op.payload),
  });
}

/**
 * A STATE that acknowledges only data never sent: a cumulative ack_nr past `next`, or ack_nr at
 * oldest - 1 (nothing new) with SACK bits set only for seq_nrs at or past `next`.
 */
export function optimisticBytes(pair: Pair, op: OptimisticOp): Uint8Array | undefined {
  const victim = pair.connection(op.to);
  if (!victim || victim.state !== 'connected') return undefined;
  const { oldest, next } = sendEdges(victim);
  const peer = pair.connection(op.to === 0 ? 1 : 0);
  const seq = peer ? sendEdges(peer).next : 0;
  let ack: number;
  let sack: Uint8Array | undefined;
  if (op.ahead >= 0) {
    ack = seqAdd(next, op.ahead);
    if (op.sackLen > 0) sack = new Uint8Array(op.sackLen).fill(0xff);
  } else {
    ack = seqAdd(oldest, -1);
    const len = Math.max(1, op.sackLen);
    sack = new Uint8Array(len);
    // Bit i acks ack + 2 + i; set it only where that seq_nr is at or past `next`.
    for (let i = 0; i < len * 8; i++) if (seqDiff(next, seqAdd(ack, 2 + i)) >= 0) sack[i >> 3]! |= 1 << (i & 7);
  }
  return forge({
    type: 2,
    connectionId: victim.recvId,
    timestamp: 0,
    timestampDifference: op.tsDiff,
    windowSize: op.window,
    seq,
    ack,
    sack,
  });
}

// ---------------------------------------------------------------- arbitraries

const side = fc.constantFrom<Side>(0, 1);
/** Sequence values an attacker likes: both ends of the space, the signed midpoint, anything. */
const seqAbs = fc.oneof(
  fc.constantFrom(0, 1, 2, 0x7fff, 0x8000, 0xfffd, 0xfffe, 0xffff).map((abs) => ({ abs })),
  fc.integer({ min: 0, max: 0xffff }).map((abs) => ({ abs })),
);
const seqRel = fc.oneof(fc.integer({ min: -8, max: 8 }), fc.integer({ min: -1100, max: 1100 }), fc.constantFrom(-32768, 32767)).map((rel) => ({ rel }));
const windowValue = fc.oneof(fc.constantFrom(0, 1, 19, 1400, 65535, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const tsValue = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

function forgeArb(seq: fc.Arbitrary<SeqValue>, ack: fc.Arbitrary<SeqValue> = seq): fc.Arbitrary<ForgeOp> {
  return fc.record({
    op: fc.constant('forge' as const),
    to: side,
    type: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 5, max: 15 }) }),
    id: fc.oneof({ weight: 6, arbitrary: fc.constant('right' as const) }, { weight: 2, arbitrary: fc.constant('send' as const) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    seq,
    ack,
    window: windowValue,
    timestamp: tsValue,
    tsDiff: tsValue,
    sackLen: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 255 }) }),
    sackFill: fc.constantFrom('zero' as const, 'ones' as const, 'alternate' as const, 'high' as const),
    closeReason: fc.boolean(),
    payload: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1500 })),
  });
}

export const blindForgeArb = forgeArb(seqAbs);
export const onPathForgeArb = forgeArb(fc.oneof(seqRel, seqAbs));
/**
 * Knows the peer's seq_nr but sends an ack_nr just outside libutp's acceptance window (up to 1100
 * below oldest - 4): libutp drops every such packet, so none may change anything here.
 */
export const staleAckForgeArb = forgeArb(
  seqRel,
  fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 1100 })).map((below) => ({ below })),
);

export const optimisticArb: fc.Arbitrary<OptimisticOp> = fc.record({
  op: fc.constant('optimistic' as const),
  to: side,
  ahead: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 3000 })),
  sackLen: fc.integer({ min: 0, max: 255 }),
  window: windowValue,
  tsDiff: tsValue,
});

const appOps: fc.Arbitrary<Op>[] = [
  fc.record({ op: fc.constant('write' as const), side, size: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 120_000 })) }),
  fc.record({ op: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 4000 })) }),
];
const rareAppOps: fc.Arbitrary<Op>[] = [
  fc.record({ op: fc.constant('end' as const), side }),
  fc.record({ op: fc.constant('pause' as const), side }),
  fc.record({ op: fc.constant('resume' as const), side }),
];
const faultOps: fc.Arbitrary<Op>[] = [
  fc.record({
    op: fc.constant('link' as const),
    from: side,
    loss: fc.constantFrom(0, 0.01, 0.05, 0.2, 0.5),
    duplicate: fc.constantFrom(0, 0.02, 0.3),
    jitter: fc.constantFrom(0, 3, 30, 150),
    latency: fc.constantFrom(1, 10, 50, 200),
  }),
  fc.record({ op: fc.constant('outage' as const), from: side, ms: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 40_000 })) }),
];
const destroyOp: fc.Arbitrary<Op> = fc.record({ op: fc.constant('destroy' as const), side });

export interface ScenarioShape {
  /** Network faults. */
  faults: boolean;
  /** destroy() calls. */
  destroy: boolean;
  forger?: fc.Arbitrary<Op>;
  maxOps?: number;
  /**
   * Uniform ISNs and ids only. A blind forger's favourite values (0, 0xffff, ...) must not
   * coincide with the connection's by construction: a forged packet whose seq/ack hit the live
   * window exactly is indistinguishable from the peer's, in libutp as here.
   */
  uniformIsn?: boolean;
}

export function scenarioArb(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  const weighted: fc.WeightedArbitrary<Op>[] = [
    ...appOps.map((arbitrary) => ({ weight: 6, arbitrary })),
    ...rareAppOps.map((arbitrary) => ({ weight: 1, arbitrary })),
  ];
  if (shape.faults) weighted.push(...faultOps.map((arbitrary) => ({ weight: 2, arbitrary })));
  if (shape.destroy) weighted.push({ weight: 1, arbitrary: destroyOp });
  if (shape.forger) weighted.push({ weight: 16, arbitrary: shape.forger });
  const any16 = fc.integer({ min: 0, max: 0xffff });
  // Not shrunk when uniform: shrinking would walk them to the forger's favourite values. Not
  // biased either: fast-check's default bias draws values near the bounds (0xfffc came up), where
  // those favourites live, so a timing change anywhere made the forger "find" a lucky exact hit.
  const uniform = shape.uniformIsn ? fc.noShrink(fc.noBias(any16)) : any16;
  // Near the wrap: the sequence space wraps within the first packets.
  const isn = shape.uniformIsn ? uniform : fc.oneof(uniform, fc.integer({ min: 0xffc0, max: 0xffff }), fc.integer({ min: 0, max: 8 }));
  return fc.record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    clientIsn: isn,
    serverIsn: isn,
    recvId: shape.uniformIsn ? uniform : fc.oneof(uniform, fc.constant(0xffff)),
    config: fc.record(
      {
        packetSize: fc.constantFrom(1400, 1232, 576),
        receiveBufferSize: fc.constantFrom(1024 * 1024, 64 * 1024, 8 * 1024),
        sendBufferSize: fc.constantFrom(1024 * 1024, 16 * 1024),
      },
      { requiredKeys: [] },
    ),
    connectFirst: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    ops: fc.array(fc.oneof(...weighted), { minLength: 1, maxLength: shape.maxOps ?? 60, size: 'medium' }),
  });
}
