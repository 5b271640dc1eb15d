/** Tunables of the protocol core, with the defaults the deployed peers use where they agree. */

/**
 * The congestion controllers a connection can run (see {@link ConnectionConfig.congestionControl}).
 *
 * @example
 * ```ts
 * import { createServer, type CongestionControlName } from 'microtp';
 *
 * const congestionControl: CongestionControlName = process.env.FAIR ? 'ledbat++' : 'ledbat';
 * createServer({ congestionControl }).listen(6881);
 * ```
 */
export type CongestionControlName = 'ledbat' | 'ledbat++';

/**
 * Per-connection tunables. Every option object of the API ({@link ConnectOptions},
 * {@link ServerOptions}, {@link SharedSocketOptions}) takes any of them, each optional: the
 * defaults (given with each field) are those the deployed peers (libutp, libtorrent) use where
 * they agree. They apply to every connection of that socket or server.
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * // A long, fast path: a bigger window, and give up sooner on a dead peer.
 * const socket = connect({
 *   port: 6881,
 *   host: '198.51.100.4',
 *   receiveBufferSize: 8 * 1024 * 1024,
 *   sendBufferSize: 8 * 1024 * 1024,
 *   idleTimeout: 30_000,
 * });
 * socket.on('error', (error) => console.error(error));
 * ```
 */
export interface ConnectionConfig {
  /**
   * Largest UDP payload we send, µTP header included, in bytes (libutp uses 1402 on IPv4). The
   * connection steps it down by itself when the OS refuses a datagram with `EMSGSIZE`.
   *
   * @defaultValue `1400`; `1232` on a `udp6` socket (the IPv6 minimum MTU less headers).
   */
  packetSize: number;
  /**
   * The receive window advertised to the peer (`wnd_size`), in bytes: at most this much
   * unread data is buffered for the application.
   *
   * @defaultValue `1048576` (1 MiB)
   */
  receiveBufferSize: number;
  /**
   * Bytes the application may queue for sending before `write()` returns `false`.
   *
   * @defaultValue `1048576` (1 MiB)
   */
  sendBufferSize: number;
  /**
   * Retransmission timeout before the first round-trip time sample, in ms.
   *
   * @defaultValue `1000`
   */
  initialRto: number;
  /**
   * Floor of the retransmission timeout, in ms.
   *
   * @defaultValue `500`
   */
  minRto: number;
  /**
   * Ceiling of the backed-off retransmission timeout, in ms.
   *
   * @defaultValue `60000`
   */
  maxRto: number;
  /**
   * Consecutive timeouts of the same data before the connection fails with `ETIMEDOUT`.
   *
   * @defaultValue `6`
   */
  maxRetransmits: number;
  /**
   * SYN transmissions before a connect fails with `ETIMEDOUT`.
   *
   * @defaultValue `3`
   */
  maxSynTransmits: number;
  /**
   * Give up on a peer that sent nothing (not even a keepalive) for this long, in ms, with
   * `ETIMEDOUT`; `0` disables.
   *
   * @defaultValue `180000` (3 minutes)
   */
  idleTimeout: number;
  /**
   * Send a keepalive (a STATE packet) after this long without sending anything, in ms, which
   * keeps NAT mappings open.
   *
   * @defaultValue `29000` (as libutp)
   */
  keepaliveInterval: number;
  /**
   * After a graceful close, keep answering the peer's retransmitted FIN this long, in ms.
   *
   * @defaultValue `3000`
   */
  lingerTime: number;
  /**
   * How long an incoming connection waits for the initiator's proof (its first packet after
   * the SYN) before it is dropped, in ms (libutp: 3 s).
   *
   * @defaultValue `3000`
   */
  unconfirmedTimeout: number;
  /**
   * LEDBAT's target queueing delay, in ms: the controller backs off when its packets wait in
   * queues longer than this.
   *
   * @defaultValue `100`
   */
  targetDelay: number;
  /**
   * The congestion controller: `'ledbat'` is RFC 6817 as libutp and libtorrent deploy it;
   * `'ledbat++'` adds LEDBAT++'s periodic slowdowns, earlier slow-start exit and proportional
   * decrease, so that flows starting later do not starve earlier ones (docs/ledbat-fairness.md).
   *
   * @defaultValue `'ledbat'`
   */
  congestionControl: CongestionControlName;
  /**
   * Congestion window ceiling, in bytes; the peer's receive window usually binds first.
   *
   * @defaultValue `16777216` (16 MiB)
   */
  maxWindow: number;
  /**
   * Resends triggered by one incoming ACK at most (libutp 4, libtorrent 5).
   *
   * @defaultValue `4`
   */
  maxResendsPerAck: number;
}

/**
 * The tunables of one UDP socket (an endpoint): those of each connection
 * ({@link ConnectionConfig}) plus the limits that protect the socket as a whole. Every option
 * object of the API takes any of them, each optional.
 *
 * @example
 * ```ts
 * import { createSocket } from 'microtp';
 *
 * const socket = createSocket({
 *   type: 'udp4',
 *   maxConnections: 500, // refuse incoming connections beyond 500 open ones
 *   maxUnconfirmed: 1024, // more half-open connections during a burst of SYNs
 * });
 * socket.listen(6881);
 * ```
 */
export interface EndpointConfig extends ConnectionConfig {
  /**
   * Unconfirmed incoming connections (SYN received, nothing since) kept at most; the oldest
   * make room for new ones.
   *
   * @defaultValue `256`
   */
  maxUnconfirmed: number;
  /**
   * Incoming (confirmed) connections open at most; further SYNs are reset, so the peer sees
   * `ECONNREFUSED`. The same limit as {@link Server.maxConnections}.
   *
   * @defaultValue `Infinity`
   */
  maxConnections: number;
  /**
   * RESETs sent per second at most in answer to packets of unknown connections.
   *
   * @defaultValue `200`
   */
  resetRateLimit: number;
  /**
   * Of those, per source address at most: a flood from a few sources leaves the rest for real peers.
   *
   * @defaultValue `10`
   */
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

/**
 * `overrides` over `base`, skipping entries that are `undefined`: from JavaScript,
 * `{ congestionControl: options.cc }` with `cc` unset means the default, as in Node's own APIs
 * (spread, it replaced the default with `undefined`, and the endpoint refused it).
 */
export function withDefaults(base: EndpointConfig, overrides: Partial<EndpointConfig>): EndpointConfig {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return merged as unknown as EndpointConfig;
}
