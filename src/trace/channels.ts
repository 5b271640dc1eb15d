/**
 * Connection tracing on `node:diagnostics_channel`, the way undici (`undici:request:create`, ...)
 * and Node's http (`http.client.request.start`, ...) publish: one named channel per kind of event,
 * so a subscriber takes only what it needs. Why one channel per kind rather than one for all:
 * `hasSubscribers` is per channel, so a tool that watches state changes or loss alone does not
 * make every packet pay for building a message nobody reads.
 *
 * Cost with nobody subscribed: the core calls a `ConnectionTracer` method with values it already
 * has; each method below checks `channel.hasSubscribers` (a boolean) and returns. No message,
 * no decoding unless someone listens.
 *
 * Every message carries `connection` (a `TracedConnection`, the same object for every event of
 * one connection: compare by identity or by `id`) and `time` (ms on `performance.now()`'s clock;
 * `performance.timeOrigin + time` is the Unix time in ms). Fields are listed on each type below;
 * docs/qlog.md shows how the qlog writer names them.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { CongestionController } from '../protocol/congestion/controller.js';
import type { Connection, ConnectionState } from '../protocol/connection.js';
import type { UtpError } from '../protocol/errors.js';
import { decodePacket, headerSize, type Packet } from '../protocol/packet.js';
import type { RttEstimator } from '../protocol/rtt.js';
import type { ConnectionTracer, PacketVerdict } from '../protocol/tracer.js';

/**
 * The channel names, for `diagnostics_channel.subscribe(name, listener)` (exported by the package
 * as `traceChannels`). docs/qlog.md lists every field.
 *
 * @example
 * ```js
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * import { traceChannels } from 'microtp';
 *
 * diagnosticsChannel.subscribe(traceChannels.metrics, (m) => {
 *   console.log(`${m.connection.remotePort}: cwnd ${m.cwnd} B, queueing delay ${m.queuingDelay} ms`);
 * });
 * ```
 */
export const channels = {
  /** `StateMessage`: syn-sent / syn-recv (created), connected, closed (with the error if any). */
  state: 'microtp:connection:state',
  /** `PacketSentMessage`: every datagram a connection sends (SYN, DATA, STATE, FIN, RESET). */
  packetSent: 'microtp:connection:packet-sent',
  /** `PacketReceivedMessage`: every packet that matched a connection, with what it made of it. */
  packetReceived: 'microtp:connection:packet-received',
  /** `MetricsMessage`: congestion state after every ACK that acknowledged something. */
  metrics: 'microtp:connection:metrics',
  /** `LossMessage`: a packet in flight declared lost (it will be resent). */
  loss: 'microtp:connection:loss',
  /** `RetransmitMessage`: a DATA/FIN packet sent again (also a `packet-sent` with `resend: true`). */
  retransmit: 'microtp:connection:retransmit',
  /** `TimeoutMessage`: the retransmission timer fired. */
  timeout: 'microtp:connection:timeout',
  /** `WindowMessage`: the receive window the peer advertises (wnd_size) changed. */
  window: 'microtp:connection:window',
} as const;

/** One of the `traceChannels` names. */
export type ChannelName = (typeof channels)[keyof typeof channels];

/** Who a traced event belongs to: one object per connection, for its whole life. */
export interface TracedConnection {
  /** Unique in this process, numbered in the order connections were first traced. */
  readonly id: number;
  /** The local UDP address and port (undefined when the socket was not bound yet). */
  readonly localAddress: string | undefined;
  /** The local UDP port (undefined when the socket was not bound yet). */
  readonly localPort: number | undefined;
  /** The peer's address. */
  readonly remoteAddress: string;
  /** The peer's UDP port. */
  readonly remotePort: number;
  /** The peer's address family. */
  readonly family: 'IPv4' | 'IPv6';
  /** Connection id on packets we receive (BEP 29 recv_id). */
  readonly recvId: number;
  /** Connection id on packets we send (BEP 29 send_id). */
  readonly sendId: number;
  /** True when this side connected (client), false when it accepted (server). */
  readonly initiator: boolean;
}

/** What every trace message carries: whose event it is, and when. */
export interface TraceMessage {
  /** The connection the event belongs to: the same object for all its events. */
  connection: TracedConnection;
  /** ms, `performance.now()` clock. */
  time: number;
}

/** On `microtp:connection:state`: the connection's state changed. */
export interface StateMessage extends TraceMessage {
  /** undefined: the connection was just created. */
  from: ConnectionState | undefined;
  /** The state now: syn-sent, syn-recv, connected or closed. */
  to: ConnectionState;
  /** Why it closed, when with an error (code ECONNRESET, ECONNREFUSED, ETIMEDOUT...). */
  error: UtpError | undefined;
}

/** BEP 29 packet types: ST_DATA, ST_FIN, ST_STATE (an ACK), ST_RESET, ST_SYN. */
export type PacketTypeName = 'data' | 'fin' | 'state' | 'reset' | 'syn';

/** The fields of a packet event, sent or received. */
export interface PacketMessage extends TraceMessage {
  /** The packet's type. */
  type: PacketTypeName;
  /** seq_nr (16-bit, wrapping). */
  seq: number;
  /** ack_nr (16-bit, wrapping). */
  ack: number;
  /** wnd_size: the sender's advertised receive window (bytes). */
  windowSize: number;
  /** timestamp_difference_microseconds: the one-way delay sample echoed to the packet's receiver (µs). */
  timestampDifference: number;
  /** Datagram bytes (header, extensions and payload). */
  size: number;
  /** µTP payload bytes. */
  payloadSize: number;
  /** Selective ACK bitmask when present: bit i (LSB first in each byte) acks seq ack + 2 + i. A copy. */
  selectiveAck: Uint8Array | undefined;
}

/** On `microtp:connection:packet-sent`: a datagram went to the OS. */
export interface PacketSentMessage extends PacketMessage {
  /** A DATA/FIN packet's second or later transmission. */
  resend: boolean;
}

/** On `microtp:connection:packet-received`: a packet matched the connection. */
export interface PacketReceivedMessage extends PacketMessage {
  /** valid: processed; duplicate: already had it (re-acked); invalid: outside every window, dropped unseen. */
  verdict: PacketVerdict;
}

/** On `microtp:connection:metrics`: the congestion state after an ACK that acknowledged something. */
export interface MetricsMessage extends TraceMessage {
  /** Congestion window (bytes). */
  cwnd: number;
  /** Payload sent, neither acknowledged nor declared lost (bytes). */
  bytesInFlight: number;
  /** Smoothed RTT (ms). */
  rtt: number;
  /** The most recent RTT sample (ms). */
  latestRtt: number;
  /** RTT variance (ms). */
  rttVar: number;
  /** Retransmission timeout, backoff included (ms). */
  rto: number;
  /** LEDBAT's queueing delay estimate (ms). */
  queuingDelay: number;
  /** Base one-way delay (ms; includes the clock offset between the peers). */
  baseDelay: number;
  /** The queueing delay LEDBAT aims for (ms). */
  targetDelay: number;
  /** Still in slow start. */
  slowStart: boolean;
  /** The window the peer advertised, possibly raised for a probe (bytes). */
  peerWindow: number;
}

/** On `microtp:connection:loss`: a packet in flight was declared lost (it will be resent). */
export interface LossMessage extends TraceMessage {
  /** Its seq_nr. */
  seq: number;
  /** Its payload (bytes). */
  payloadSize: number;
}

/** On `microtp:connection:retransmit`: a DATA/FIN packet was sent again. */
export interface RetransmitMessage extends TraceMessage {
  /** `data` or `fin`. */
  type: PacketTypeName;
  /** Its seq_nr. */
  seq: number;
  /** Its payload (bytes). */
  payloadSize: number;
}

/** On `microtp:connection:timeout`: the retransmission timer fired. */
export interface TimeoutMessage extends TraceMessage {
  /** The window after the timeout's cut (bytes). */
  cwnd: number;
  /** The backed-off RTO (ms). */
  rto: number;
  /** Bytes in flight when it fired (declared lost right after). */
  bytesInFlight: number;
}

/** On `microtp:connection:window`: the receive window the peer advertises changed. */
export interface WindowMessage extends TraceMessage {
  /** The window before (bytes). */
  previous: number;
  /** The window now (bytes). */
  current: number;
}

const stateChannel = diagnosticsChannel.channel(channels.state);
const packetSentChannel = diagnosticsChannel.channel(channels.packetSent);
const packetReceivedChannel = diagnosticsChannel.channel(channels.packetReceived);
const metricsChannel = diagnosticsChannel.channel(channels.metrics);
const lossChannel = diagnosticsChannel.channel(channels.loss);
const retransmitChannel = diagnosticsChannel.channel(channels.retransmit);
const timeoutChannel = diagnosticsChannel.channel(channels.timeout);
const windowChannel = diagnosticsChannel.channel(channels.window);

const TYPE_NAMES: readonly PacketTypeName[] = ['data', 'fin', 'state', 'reset', 'syn'];

let nextId = 1;

/** Directories the qlog writer puts a connection's events in (set by a tracer with `qlogDir`). */
const qlogDirs = new WeakMap<TracedConnection, string>();

/** @internal Where the qlog writer records `connection`, if its socket asked for it. */
export function qlogDirectoryOf(connection: TracedConnection): string | undefined {
  return qlogDirs.get(connection);
}

export interface ChannelTracerOptions {
  /** The local address of the UDP socket (throws or returns undefined before bind). */
  local?: () => { address: string; port: number } | undefined;
  /** ms; default `performance.now()`. Tests on the simulator pass its virtual clock. */
  clock?: () => number;
  /** @internal Record this socket's connections as qlog files in this directory (see qlog-writer.ts). */
  qlogDir?: string | undefined;
}

/**
 * The `ConnectionTracer` of one UDP socket: publishes what its connections do on the channels
 * above, building a message only for channels somebody subscribes to.
 */
export class ChannelTracer implements ConnectionTracer {
  private readonly traced = new WeakMap<Connection, TracedConnection>();
  private readonly local: () => { address: string; port: number } | undefined;
  private readonly clock: () => number;
  private readonly qlogDir: string | undefined;

  constructor(options: ChannelTracerOptions = {}) {
    this.local = options.local ?? (() => undefined);
    this.clock = options.clock ?? (() => performance.now());
    this.qlogDir = options.qlogDir;
  }

  // Messages are written out as literals, never `{ ...common, more }`: on Node 20.20 an object
  // literal that spreads another and then adds properties took 15-30 µs to build, a plain literal
  // 20 ns; with spreads, bench/trace-cost.ts measured 24 µs per published event, 0.5 µs without.

  packetSent(connection: Connection, datagram: Uint8Array, resend: boolean): void {
    const sent = packetSentChannel.hasSubscribers;
    const retransmit = resend && retransmitChannel.hasSubscribers;
    if (!sent && !retransmit) return;
    const packet = decodePacket(datagram);
    if (packet === undefined) return; // never: we encoded it
    const traced = this.identify(connection);
    const time = this.clock();
    const type = TYPE_NAMES[packet.type] ?? 'data';
    if (sent) {
      packetSentChannel.publish({
        connection: traced,
        time,
        type,
        seq: packet.seq,
        ack: packet.ack,
        windowSize: packet.windowSize,
        timestampDifference: packet.timestampDifference,
        size: datagram.length,
        payloadSize: packet.payload.length,
        selectiveAck: packet.selectiveAck?.slice(),
        resend,
      } satisfies PacketSentMessage);
    }
    if (retransmit) retransmitChannel.publish({ connection: traced, time, type, seq: packet.seq, payloadSize: packet.payload.length } satisfies RetransmitMessage);
  }

  packetReceived(connection: Connection, packet: Packet, verdict: PacketVerdict): void {
    if (!packetReceivedChannel.hasSubscribers) return;
    packetReceivedChannel.publish({
      connection: this.identify(connection),
      time: this.clock(),
      type: TYPE_NAMES[packet.type] ?? 'data',
      seq: packet.seq,
      ack: packet.ack,
      windowSize: packet.windowSize,
      timestampDifference: packet.timestampDifference,
      // The datagram's exact length is gone; the header as we would encode it plus the payload
      // (an unknown extension the peer added is not counted).
      size: headerSize(packet) + packet.payload.length,
      payloadSize: packet.payload.length,
      selectiveAck: packet.selectiveAck?.slice(),
      verdict,
    } satisfies PacketReceivedMessage);
  }

  acked(connection: Connection, cc: CongestionController, rtt: RttEstimator, bytesInFlight: number, peerWindow: number, targetDelay: number): void {
    if (!metricsChannel.hasSubscribers) return;
    const delay = cc.stats?.();
    metricsChannel.publish({
      connection: this.identify(connection),
      time: this.clock(),
      cwnd: cc.window,
      bytesInFlight,
      rtt: rtt.rtt,
      latestRtt: rtt.latest,
      rttVar: rtt.rttVar,
      rto: rtt.rto,
      queuingDelay: delay?.queuingDelay ?? 0,
      baseDelay: delay?.baseDelay ?? 0,
      targetDelay,
      slowStart: cc.inSlowStart ?? false,
      peerWindow,
    } satisfies MetricsMessage);
  }

  lost(connection: Connection, seq: number, payloadBytes: number): void {
    if (!lossChannel.hasSubscribers) return;
    lossChannel.publish({ connection: this.identify(connection), time: this.clock(), seq, payloadSize: payloadBytes } satisfies LossMessage);
  }

  timeout(connection: Connection, cwnd: number, rto: number, bytesInFlight: number): void {
    if (!timeoutChannel.hasSubscribers) return;
    timeoutChannel.publish({ connection: this.identify(connection), time: this.clock(), cwnd, rto, bytesInFlight } satisfies TimeoutMessage);
  }

  stateChanged(connection: Connection, from: ConnectionState | undefined, error?: UtpError): void {
    if (!stateChannel.hasSubscribers) return;
    stateChannel.publish({ connection: this.identify(connection), time: this.clock(), from, to: connection.state, error } satisfies StateMessage);
  }

  peerWindowChanged(connection: Connection, previous: number, current: number): void {
    if (!windowChannel.hasSubscribers) return;
    windowChannel.publish({ connection: this.identify(connection), time: this.clock(), previous, current } satisfies WindowMessage);
  }

  /** The connection's identity object, made at its first traced event. */
  private identify(connection: Connection): TracedConnection {
    let traced = this.traced.get(connection);
    if (traced !== undefined) return traced;
    let local: { address: string; port: number } | undefined;
    try {
      local = this.local();
    } catch {
      local = undefined; // not bound yet
    }
    traced = Object.freeze({
      id: nextId++,
      localAddress: local?.address,
      localPort: local?.port,
      remoteAddress: connection.remote.address,
      remotePort: connection.remote.port,
      family: connection.remote.family,
      recvId: connection.recvId,
      sendId: connection.sendId,
      initiator: connection.isInitiator,
    });
    this.traced.set(connection, traced);
    if (this.qlogDir !== undefined) qlogDirs.set(traced, this.qlogDir);
    return traced;
  }
}
