/**
 * A blind off-path attacker against a live transfer, in the simulator: it knows the 4-tuple and
 * both connection ids (the strongest blind attacker: ids leak to anyone who saw the SYN), but not
 * the sequence numbers, and injects forged DATA, FIN, STATE and RESET packets with random
 * seq_nr, ack_nr, timestamps, windows and payloads into both ends while A sends to B.
 *
 * Used by test/protocol/injection.test.ts (10^5 packets) and meant for `npm run bench` (10^6):
 * `runInjection({ forged: 1_000_000 })` returns the counters below.
 */
import type { Connection } from '../../src/protocol/connection.js';
import type { ConnectionCounters } from '../../src/protocol/stats.js';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import type { Remote } from '../../src/protocol/events.js';
import { encodePacket, PacketType } from '../../src/protocol/packet.js';
import { firstDifference, mulberry32, seededBytes, SimNetwork, type LinkOptions, type SimHost } from './sim-network.js';

export interface InjectionOptions {
  /** Forged packets in total (half at each end). */
  forged: number;
  seed?: number;
  /** Bytes A sends to B. */
  bytes?: number;
  link?: Partial<LinkOptions>;
  /** Packet types to forge (default all four). */
  types?: readonly ('data' | 'fin' | 'state' | 'reset')[];
}

export interface InjectionResult {
  forged: number;
  /** Forged packets that reached a connection and passed its validation (changed its state). */
  accepted: number;
  acceptedByType: Record<'data' | 'fin' | 'state' | 'reset', number>;
  /** Bytes B received that differ from what A wrote (-1 if the lengths differ), plus any bytes A received (B sends none). */
  splicedBytes: number;
  /** B's data is exactly A's. */
  intact: boolean;
  /** Either side closed with an error (torn down). */
  tornDown: boolean;
  errors: string[];
  /** Virtual ms from connect until B saw the end of the stream. */
  transferMs: number;
}

const TYPES = [PacketType.Data, PacketType.Fin, PacketType.State, PacketType.Reset] as const;
const NAMES = ['data', 'fin', 'state', 'reset'] as const;

/** Runs one attacked transfer; deterministic for a given seed. */
export function runInjection(options: InjectionOptions): InjectionResult {
  const seed = options.seed ?? 1;
  const link: Partial<LinkOptions> = options.link ?? { rate: 5e6, latency: 20, queueBytes: 80_000 };
  const net = new SimNetwork({ seed, link });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
  const payload = seededBytes(seed, options.bytes ?? 1024 * 1024);
  const conn = net.connect(a, b, { send: payload });
  // Let the handshake finish: the attacker needs both ids (it learnt them from the SYN).
  net.runUntil(() => b.accepted.length === 1, 5_000);
  const acc = b.accepted[0];
  if (!acc) throw new Error('no connection');
  const start = net.now;

  const forgedSet = new WeakSet<Uint8Array>();
  const typeOf = new WeakMap<Uint8Array, number>();
  const result: InjectionResult = {
    forged: options.forged,
    accepted: 0,
    acceptedByType: { data: 0, fin: 0, state: 0, reset: 0 },
    splicedBytes: 0,
    intact: false,
    tornDown: false,
    errors: [],
    transferMs: 0,
  };
  // Count a forged packet as accepted when its connection did not count it invalid.
  for (const [host, target] of [
    [a, conn],
    [b, acc],
  ] as [SimHost, Connection][]) {
    const endpoint = host.endpoint;
    const original = endpoint.handleDatagram.bind(endpoint);
    endpoint.handleDatagram = (data, remote, now) => {
      if (!forgedSet.has(data) || target.state === 'closed') return original(data, remote, now);
      // The live counters (stats() builds a full snapshot, too slow for 10^6 calls).
      const counters = (target as unknown as { counters: ConnectionCounters }).counters;
      const received = counters.packetsReceived;
      const invalid = counters.invalidPackets;
      const r = original(data, remote, now);
      if (counters.packetsReceived > received && counters.invalidPackets === invalid) {
        result.accepted++;
        result.acceptedByType[NAMES[typeOf.get(data)!]!]++;
      }
      return r;
    };
  }

  // Spread the forgeries over the expected transfer time (1 MiB at 5 MB/s: about 250 ms).
  const random = mulberry32(seed ^ 0x5eed);
  const kinds = (options.types ?? NAMES).map((n) => NAMES.indexOf(n));
  const span = Math.max(200, ((options.bytes ?? 1024 * 1024) / 5e6) * 1000);
  for (let i = 0; i < options.forged; i++) {
    const toA = (random() & 1) === 0;
    const kind = kinds[random() % kinds.length]!;
    const type = TYPES[kind]!;
    const target = toA ? conn : acc;
    const id = type === PacketType.Reset && (random() & 1) === 1 ? target.sendId : target.recvId;
    const length = type === PacketType.Data ? 1 + (random() % 1000) : 0;
    const data = encodePacket(
      {
        type,
        connectionId: id,
        timestamp: random(),
        timestampDifference: random(),
        windowSize: random(),
        seq: random() & 0xffff,
        ack: random() & 0xffff,
      },
      length > 0 ? new Uint8Array(length).fill(0xee) : undefined,
    );
    forgedSet.add(data);
    typeOf.set(data, kind);
    net.inject(toA ? a : b, data, toA ? b.remote : a.remote, start + (i / options.forged) * span);
  }

  net.runUntil(() => b.app(acc).ended || b.app(acc).closed || a.app(conn).closed, 120_000);
  result.transferMs = net.now - start;
  const received = b.app(acc).data();
  const at = firstDifference(received, payload);
  result.intact = at === -1;
  if (received.length !== payload.length) result.splicedBytes = -1;
  else for (let i = 0; i < received.length; i++) if (received[i] !== payload[i]) result.splicedBytes++;
  // B sends nothing: whatever A's application received was forged.
  result.splicedBytes += a.app(conn).receivedBytes;
  for (const app of [a.app(conn), b.app(acc)]) {
    if (app.error) {
      result.tornDown = true;
      result.errors.push(app.error.code ?? app.error.message);
    }
  }
  return result;
}

/** A distinct forged IPv4 source per index. */
export function spoofSource(i: number): Remote {
  return { address: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1024 + (i % 60_000), family: 'IPv4' };
}

/**
 * Feeds `count` spoofed STATEs (random sources, ids, seq_nr and ack_nr: SYN-cookie guesses for
 * SYNs never sent) straight into `endpoint` at times `now(i)`; returns the 'connection' events
 * they produced. For `npm run bench`: `spoofedStates(endpoint, 1_000_000, seed, (i) => i * 0.01)`.
 */
export function spoofedStates(endpoint: Endpoint, count: number, seed: number, now: (i: number) => number): number {
  const random = mulberry32(seed);
  let confirmed = 0;
  for (let i = 0; i < count; i++) {
    const data = encodePacket({
      type: PacketType.State,
      connectionId: random() & 0xffff,
      timestamp: 0,
      timestampDifference: 0,
      windowSize: 65536,
      seq: random() & 0xffff,
      ack: random() & 0xffff,
    });
    endpoint.handleDatagram(data, spoofSource(random()), now(i));
    for (const e of endpoint.events.splice(0)) if (e.type === 'connection') confirmed++;
    endpoint.transmits.length = 0;
  }
  return confirmed;
}
