/** Tunables of the protocol core, with the defaults the deployed peers use where they agree. */

/** The congestion controllers a connection can run (see `ConnectionConfig.congestionControl`). */
export type CongestionControlName = 'ledbat' | 'ledbat++';

export interface ConnectionConfig {
  /** Largest UDP payload we send (µTP header included). libutp uses 1402 on IPv4. */
  packetSize: number;
  /** Receive buffer advertised as wnd_size, in bytes. */
  receiveBufferSize: number;
  /** Bytes the application may queue for sending before write() reports backpressure. */
  sendBufferSize: number;
  /** RTO before the first RTT sample (ms). */
  initialRto: number;
  /** Floor of the RTO (ms). */
  minRto: number;
  /** Ceiling of the backed-off RTO (ms). */
  maxRto: number;
  /** Consecutive timeouts of the same data before the connection fails with ETIMEDOUT. */
  maxRetransmits: number;
  /** SYN transmissions before connect fails with ETIMEDOUT. */
  maxSynTransmits: number;
  /** Give up on a peer that sent nothing for this long (ms); 0 disables. */
  idleTimeout: number;
  /** Send a STATE after this long without sending anything (ms), keeping NAT mappings open. */
  keepaliveInterval: number;
  /** After a graceful close, keep answering the peer's retransmitted FIN this long (ms). */
  lingerTime: number;
  /** How long an unconfirmed incoming connection waits for the initiator's proof (ms); libutp 3 s. */
  unconfirmedTimeout: number;
  /** LEDBAT's target queueing delay (ms). */
  targetDelay: number;
  /**
   * The congestion controller: `'ledbat'` is RFC 6817 as libutp and libtorrent deploy it;
   * `'ledbat++'` adds LEDBAT++'s periodic slowdowns, earlier slow-start exit and proportional
   * decrease, so that flows starting later do not starve earlier ones (docs/ledbat-fairness.md).
   */
  congestionControl: CongestionControlName;
  /** Congestion window ceiling (bytes); the peer's receive window usually binds first. */
  maxWindow: number;
  /** Resends triggered by one incoming ACK at most (libutp 4, libtorrent 5). */
  maxResendsPerAck: number;
}

export interface EndpointConfig extends ConnectionConfig {
  /** Unconfirmed (SYN received, nothing since) connections kept at most; the oldest make room. */
  maxUnconfirmed: number;
  /** Incoming connections accepted at most (confirmed ones); further SYNs are reset. */
  maxConnections: number;
  /** RESETs sent to unknown connections per second at most. */
  resetRateLimit: number;
  /** Of those, per source address at most: a flood from a few sources leaves the rest for real peers. */
  resetRateLimitPerSource: number;
}

export const DEFAULT_CONFIG: EndpointConfig = {
  packetSize: 1400,
  receiveBufferSize: 1024 * 1024,
  sendBufferSize: 1024 * 1024,
  initialRto: 1000,
  minRto: 500,
  maxRto: 60_000,
  maxRetransmits: 6,
  maxSynTransmits: 3,
  idleTimeout: 180_000,
  keepaliveInterval: 29_000,
  lingerTime: 3_000,
  unconfirmedTimeout: 3_000,
  targetDelay: 100,
  congestionControl: 'ledbat++',
  maxWindow: 16 * 1024 * 1024,
  maxResendsPerAck: 4,
  maxUnconfirmed: 256,
  maxConnections: Infinity,
  resetRateLimit: 200,
  resetRateLimitPerSource: 10,
};

/** The IPv6 minimum MTU (1280) minus IPv6 and UDP headers. */
export const IPV6_PACKET_SIZE = 1232;
