/** Per-connection counters, readable by users and tests through `stats()`. */
export interface ConnectionCounters {
  /** µTP packets sent: data, acknowledgements, keepalives, retransmissions. */
  packetsSent: number;
  /** µTP packets received from the peer on this connection. */
  packetsReceived: number;
  /** Payload bytes sent, retransmissions included (headers not). */
  bytesSent: number;
  /** Payload bytes received and delivered in order (each byte once; headers not). */
  bytesReceived: number;
  /** Data packets sent again: after a loss was detected, a timeout, or as a tail-loss probe. */
  retransmits: number;
  /** Packets declared lost from the peer's acknowledgements (duplicate ACKs, SACK), before any timeout. */
  fastRetransmits: number;
  /** Retransmission timeouts that expired (each one shrinks the congestion window). */
  timeouts: number;
  /** Packets received that carried nothing new (already received). */
  duplicatePackets: number;
  /** Packets from the peer dropped because they failed validation (see the README's Security section). */
  invalidPackets: number;
}

export function newCounters(): ConnectionCounters {
  return {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    duplicatePackets: 0,
    invalidPackets: 0,
  };
}

/**
 * A snapshot of one connection, from {@link Socket.stats}: its round-trip time and congestion
 * state, and counters since it opened. Times are in ms and sizes in bytes unless a field says
 * otherwise.
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * const socket = connect(6881, '127.0.0.1');
 * socket.on('close', () => {
 *   const stats = socket.stats();
 *   if (!stats) return; // never connected
 *   const lossRate = stats.retransmits / Math.max(1, stats.packetsSent);
 *   console.log(`${stats.bytesSent} B sent, rtt ${stats.rtt} ms, ${(lossRate * 100).toFixed(1)} % resent`);
 * });
 * ```
 */
export interface ConnectionStats extends ConnectionCounters {
  /** Smoothed round-trip time (ms); `0` before the first sample. */
  rtt: number;
  /** Round-trip time variation (ms), as TCP's RTTVAR. */
  rttVar: number;
  /** The most recent RTT sample (ms; 0 before the first). */
  latestRtt: number;
  /** Current retransmission timeout (ms): `max(rtt + 4 * rttVar, minRto)`, doubled per consecutive timeout. */
  rto: number;
  /** Congestion window (bytes): how much may be in flight, as the congestion controller allows. */
  cwnd: number;
  /** Payload bytes sent and not yet acknowledged. */
  bytesInFlight: number;
  /** The receive window the peer advertised (bytes): the other bound on bytes in flight. */
  peerWindow: number;
  /** Latest one-way delay sample as echoed by the peer (µs, includes clock offset). */
  lastDelaySample: number;
  /** Queueing delay the congestion controller sees (ms); 0 for controllers that ignore delay. */
  queuingDelay: number;
  /** Base one-way delay (ms, includes the clock offset between the peers). */
  baseDelay: number;
  /** Whether the congestion controller is still in slow start (growing its window fast, before the first congestion signal). */
  slowStart: boolean;
  /** The queueing delay the congestion controller aims for (ms: LEDBAT's target). */
  targetDelay: number;
  /** SACKed packets above a hole that declare it lost now: 3, more while the path reorders. */
  reorderThreshold: number;
  /** Largest datagram this connection sends now (lowered by EMSGSIZE from the OS). */
  packetSize: number;
  /** Times EMSGSIZE made this connection lower its packet size. */
  packetSizeReductions: number;
  /** Datagrams of this connection the OS refused to send (EMSGSIZE, EHOSTUNREACH...). */
  sendErrors: number;
}
