/** Per-connection counters, readable by users and tests through `stats()`. */
export interface ConnectionCounters {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  duplicatePackets: number;
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

export interface ConnectionStats extends ConnectionCounters {
  /** Smoothed RTT (ms). */
  rtt: number;
  rttVar: number;
  /** The most recent RTT sample (ms; 0 before the first). */
  latestRtt: number;
  rto: number;
  cwnd: number;
  bytesInFlight: number;
  peerWindow: number;
  /** Latest one-way delay sample as echoed by the peer (µs, includes clock offset). */
  lastDelaySample: number;
  /** Queueing delay the congestion controller sees (ms); 0 for controllers that ignore delay. */
  queuingDelay: number;
  /** Base one-way delay (ms, includes the clock offset between the peers). */
  baseDelay: number;
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
