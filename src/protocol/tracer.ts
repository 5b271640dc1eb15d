import type { CongestionController } from './congestion/controller.js';
import type { Connection, ConnectionState } from './connection.js';
import type { UtpError } from './errors.js';
import type { Packet } from './packet.js';
import type { RttEstimator } from './rtt.js';

/**
 * What the connection made of a packet addressed to it: `valid` (used), `duplicate` (already had
 * it: acked again, else ignored), `invalid` (outside what the connection can accept: dropped).
 */
export type PacketVerdict = 'valid' | 'duplicate' | 'invalid';

/**
 * Where a connection reports what it does, for tracing. Optional (`Endpoint` option `tracer`):
 * the core calls it with values it already has (no object built for it), and the implementation
 * decides what, if anything, to make of them. The Node layer's implementation publishes on
 * `node:diagnostics_channel` (src/trace/channels.ts) and returns at once when nobody subscribes;
 * tests plug in a recorder. It reads the time from its own clock: `close()` and the loss
 * detector's calls have no `now` at hand. It must not call back into the connection except for
 * its getters, and must not throw.
 */
export interface ConnectionTracer {
  /** A datagram went to the OS; `resend` for a DATA/FIN packet's second and later transmissions. */
  packetSent(connection: Connection, datagram: Uint8Array, resend: boolean): void;
  /** A packet matched this connection (acceptors: the SYN too); `verdict` before anything else is done with it. */
  packetReceived(connection: Connection, packet: Packet, verdict: PacketVerdict): void;
  /**
   * An ACK acknowledged something: the congestion controller and RTT estimator have seen it.
   * Their state comes as arguments, to read only when wanted (`stats()` builds a large object).
   */
  acked(connection: Connection, cc: CongestionController, rtt: RttEstimator, bytesInFlight: number, peerWindow: number, targetDelay: number): void;
  /** A packet in flight was declared lost (fast retransmit, tail-loss probe, or timeout): it will be resent. */
  lost(connection: Connection, seq: number, payloadBytes: number): void;
  /** The retransmission timer fired: the window after the cut (bytes), the backed-off RTO (ms), bytes in flight. */
  timeout(connection: Connection, cwnd: number, rto: number, bytesInFlight: number): void;
  /** `connection.state` changed from `from` (undefined: the connection was just created); `error` when it closed with one. */
  stateChanged(connection: Connection, from: ConnectionState | undefined, error?: UtpError): void;
  /** The window the peer advertises (wnd_size) changed from `previous` to `current` bytes. */
  peerWindowChanged(connection: Connection, previous: number, current: number): void;
}
