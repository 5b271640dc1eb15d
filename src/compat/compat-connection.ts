import { validatePort } from '../node/args.js';
import { Socket } from '../node/socket.js';
import { UtpError } from '../protocol/errors.js';

/**
 * utp-native's connection methods that a `net`-like socket lacks, on each
 * {@link CompatConnection}. (Added to the instance, the same three function objects for every
 * connection, rather than by subclassing, because the SharedSocket creates its Sockets itself;
 * the `import` API's Socket stays net-like.)
 *
 * @example
 * ```ts
 * const connection = utp.connect(6881, '127.0.0.1');
 * connection.setInteractive(true).setContentSize(1 << 20); // chainable, as in utp-native
 * ```
 */
export interface ConnectionExtras {
  /**
   * utp-native: whether each received packet is delivered at once (true) or batched into 64 KiB
   * reads (its own code ignored the argument and always batched). microtp always delivers data as
   * it arrives (what one read burst brings, as one chunk), so the closest real knob is the
   * sending side: interactive turns Nagle's coalescing of small writes off (setNoDelay(true)),
   * false turns it back on (the default).
   *
   * @example
   * ```ts
   * connection.setInteractive(true); // a chat-like protocol: small writes leave at once
   * ```
   */
  setInteractive(interactive: boolean): CompatConnection;
  /**
   * utp-native: a hint that `size` bytes are coming, to batch reads until then. A no-op:
   * microtp does not hold received data back (Node's stream buffering already batches for
   * consumers that read in bulk). Kept so callers run unchanged.
   *
   * @example
   * ```ts
   * connection.setContentSize(16384); // accepted, no effect
   * ```
   */
  setContentSize(size: number): CompatConnection;
  /**
   * utp-native: the minimum size of a delivered read (libutp's receive batching), NOT the size
   * of packets on the wire. A no-op for the same reason as setContentSize; mapping it onto
   * microtp's wire packet size would be wrong (utp-native callers pass 65536). To change the
   * wire packet size, use the `packetSize` option of microtp's own API.
   *
   * @example
   * ```ts
   * connection.setPacketSize(65536); // accepted, no effect
   * ```
   */
  setPacketSize(size: number): CompatConnection;
}

/**
 * A connection of the utp-native API: a microtp {@link Socket} (a `stream.Duplex` like
 * `net.Socket`) with utp-native's {@link ConnectionExtras} and its behaviours:
 * - `destroy()` without an error closes gracefully, as libutp's `utp_close`: what was written
 *   is still sent, then a FIN; the peer sees `'end'`, not `ECONNRESET`. The connection goes once
 *   the peer acknowledged the FIN, or after about 10 s without hearing from it.
 *   `destroy(error)` and a connection not open yet reset at once.
 * - An `'error'` without a listener of yours does not crash the process (utp-native users often
 *   add none): listeners you add still get every error.
 * - An outgoing connection reports the `remoteAddress` and `remotePort` it was asked for until
 *   the real ones are known.
 *
 * @example
 * ```ts
 * import utp from 'microtp/utp-native';
 *
 * const connection = utp.connect(6881, '127.0.0.1');
 * connection.on('connect', () => {
 *   connection.write('bye');
 *   connection.destroy(); // 'bye' is still delivered, then a FIN
 * });
 * ```
 */
export type CompatConnection = Socket & ConnectionExtras;

const extras: ConnectionExtras = {
  setInteractive(this: CompatConnection, interactive: boolean) {
    return this.setNoDelay(interactive !== false) as CompatConnection;
  },
  setContentSize(this: CompatConnection, _size: number) {
    return this;
  },
  setPacketSize(this: CompatConnection, _size: number) {
    return this;
  },
};

const closingGracefully = Symbol('closing with a FIN');
type Closing = CompatConnection & { [closingGracefully]?: boolean };
const destroyNow = Socket.prototype.destroy;
function ignore(): void {}

/**
 * How long a graceful destroy() waits without hearing from the peer before it resets instead:
 * libutp gives up on an unacknowledged FIN after 4 retransmission timeouts (about 15 s), microtp's
 * core only after maxRetransmits (about a minute), which would hold socket.close() and the
 * process that long for a peer that vanished.
 */
const GRACEFUL_CLOSE_LIMIT = 10_000;

/**
 * utp-native's destroy(): libutp's utp_close, a graceful close. Our FIN follows what was
 * written, nothing more is delivered to the application, and the connection really goes (core
 * abort: quiet if the peer ended too, else a RESET, as libutp once its FIN is acknowledged) when
 * the peer acknowledged our FIN, or fails, or sends nothing for about GRACEFUL_CLOSE_LIMIT. The
 * peer sees 'end', not ECONNRESET: utp-native's users destroy connections whose peers often have
 * no 'error' listener. microtp's own destroy() (a RESET at once) remains for destroy(error) and
 * for connections not open yet.
 */
function destroy(this: Closing, error?: Error | null): Closing {
  if (this[closingGracefully]) return error ? (destroyNow.call(this, error) as Closing) : this;
  if (error || this.destroyed || this.connecting || this.writableFinished) return destroyNow.call(this, error ?? undefined) as Closing;
  this[closingGracefully] = true;
  this.removeAllListeners('timeout');
  // Silence, not duration: a long flush of what was written keeps going while the peer acks it.
  let heard = this.stats()?.packetsReceived ?? 0;
  this.setTimeout(GRACEFUL_CLOSE_LIMIT);
  this.on('timeout', () => {
    const received = this.stats()?.packetsReceived ?? 0;
    if (received === heard) destroyNow.call(this);
    heard = received;
  });
  this.removeAllListeners('data');
  this.removeAllListeners('readable');
  this.resume();
  this.once('finish', () => destroyNow.call(this));
  if (!this.writableEnded) this.end();
  return this;
}

const remoteAddress = Object.getOwnPropertyDescriptor(Socket.prototype, 'remoteAddress')!.get!;
const remotePort = Object.getOwnPropertyDescriptor(Socket.prototype, 'remotePort')!.get!;

/**
 * Makes `socket` a utp-native connection. For an outgoing one, `requested` is what the caller
 * asked for: utp-native sets remoteAddress/remotePort at once, and callers such as webtorrent
 * drop a connection whose remoteAddress is missing, while microtp knows them only once the
 * connection exists (after bind and name resolution). Until then they report what was asked.
 */
export function asConnection(socket: Socket, requested?: { port: number; host: string }): CompatConnection {
  const connection = Object.assign(socket, extras);
  connection.destroy = destroy;
  // An error a peer causes (ECONNRESET, ETIMEDOUT, a bad port from a DHT) never crashes the
  // process: utp-native's users often attach no 'error' listener, and utp-native then threw from
  // its native callback. Listeners the application adds still get every error.
  connection.on('error', ignore);
  if (requested) {
    Object.defineProperty(connection, 'remoteAddress', {
      configurable: true,
      enumerable: true,
      get: () => (remoteAddress.call(connection) as string | undefined) ?? requested.host,
    });
    Object.defineProperty(connection, 'remotePort', {
      configurable: true,
      enumerable: true,
      get: () => (remotePort.call(connection) as number | undefined) ?? requested.port,
    });
  }
  return connection;
}

/** A connection that fails at once (bad port from the network, socket closed): 'error' then 'close'. */
export function failedConnection(error: Error, allowHalfOpen: boolean): Socket {
  const socket = new Socket({ allowHalfOpen });
  process.nextTick(() => socket.destroy(error));
  return socket;
}

/**
 * utp-native's connect arguments checked: a falsy host is 127.0.0.1. A bad one is returned, not
 * thrown: ports often come from the network (DHT, PEX), so it fails that connection, not the caller.
 */
export function connectTarget(port: number, host: string | null | undefined): { port: number; host: string } | Error {
  const h = host ? host : '127.0.0.1';
  try {
    if (typeof h !== 'string') throw new UtpError('ERR_INVALID_ARG_TYPE', `host must be a string, got ${typeof h}`);
    return { port: validatePort(port, false), host: h };
  } catch (error) {
    return error as Error;
  }
}
