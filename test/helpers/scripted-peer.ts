/**
 * One Endpoint driven by hand against a scripted peer (no simulator): the test plays the remote
 * side packet by packet (which DATA it acks, with which window, SACK and timestamps) and moves the
 * clock itself, so that one exact sequence of events reaches the connection.
 */
import type { EndpointConfig } from '../../src/protocol/config.js';
import type { CongestionControllerFactory } from '../../src/protocol/congestion/controller.js';
import type { Connection } from '../../src/protocol/connection.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { Remote } from '../../src/protocol/events.js';
import { decodePacket, encodePacket, PacketType, type Packet } from '../../src/protocol/packet.js';
import { seqAdd } from '../../src/protocol/seq.js';
import { timestampMicros } from '../../src/protocol/time.js';
import { mulberry32 } from './random.js';

export const PEER: Remote = Object.freeze({ address: '10.9.9.9', port: 7000, family: 'IPv4' as const });

export class ScriptedPeer {
  readonly endpoint: Endpoint;
  readonly conn: Connection;
  now = 0;
  /** Every packet the endpoint sent, decoded, with when. */
  readonly sent: { at: number; packet: Packet }[] = [];
  /** The peer's connection id for packets to us, and its next seq_nr (it sends no data). */
  private readonly id: number;
  readonly peerSeq = 30_000;
  /** Peer's window in the ACKs it sends (bytes). */
  window = 1 << 20;

  constructor(options: { config?: Partial<EndpointConfig>; controller?: CongestionControllerFactory; seed?: number; isn?: number } = {}) {
    const prng = mulberry32(options.seed ?? 1);
    const queue = options.isn === undefined ? [] : [0x1234, options.isn];
    this.endpoint = new Endpoint({
      random: () => (queue.length > 0 ? queue.shift()! : prng()),
      config: options.config ?? {},
      ...(options.controller ? { controller: options.controller } : {}),
    });
    this.conn = this.endpoint.connect(PEER, this.now);
    const syn = this.drain()[0]!;
    this.id = syn.connectionId;
    this.conn.context = { onCoreEvent() {} };
  }

  /** Completes the handshake `rtt` ms after the SYN. */
  handshake(rtt: number): void {
    const syn = this.sent[0]!.packet;
    this.advance(rtt);
    this.receive({ type: PacketType.State, seq: this.peerSeq, ack: syn.seq });
  }

  /** Moves the clock and runs the endpoint's due timers and flushes. */
  advance(ms: number): Packet[] {
    const until = this.now + ms;
    const out: Packet[] = [];
    for (;;) {
      const wake = this.endpoint.nextWake;
      if (wake > until) break;
      this.now = Math.max(this.now, wake);
      this.endpoint.handleTimeout(this.now);
      out.push(...this.service());
    }
    this.now = until;
    this.endpoint.handleTimeout(this.now);
    out.push(...this.service());
    return out;
  }

  /** The peer sends a packet now (defaults: STATE with the current window, its timestamp). */
  receive(f: Partial<Packet> & { ack: number }, payload?: Uint8Array): Packet[] {
    const data = encodePacket(
      {
        type: PacketType.State,
        connectionId: this.id,
        timestamp: timestampMicros(this.now),
        timestampDifference: 1000,
        windowSize: this.window,
        seq: this.peerSeq,
        ...f,
      },
      payload,
    );
    this.endpoint.handleDatagram(data, PEER, this.now);
    return this.service();
  }

  /** The application writes. */
  write(data: Uint8Array): Packet[] {
    this.conn.write(data);
    return this.service();
  }

  service(): Packet[] {
    this.endpoint.flush(this.now);
    this.endpoint.events.length = 0;
    return this.drain();
  }

  private drain(): Packet[] {
    const out: Packet[] = [];
    for (const t of this.endpoint.transmits) {
      const p = decodePacket(t.data)!;
      this.sent.push({ at: this.now, packet: p });
      out.push(p);
    }
    this.endpoint.transmits.length = 0;
    return out;
  }
}

export function dataOf(packets: Packet[]): Packet[] {
  return packets.filter((p) => p.type === PacketType.Data || p.type === PacketType.Fin);
}

export { seqAdd };
