import { isIP } from 'node:net';
import { UtpError } from '../protocol/errors.js';
import { validateHost, validatePort } from './args.js';
import { SharedSocket, type SharedSocketOptions } from './shared-socket.js';
import type { Socket } from './socket.js';

/**
 * Options of {@link connect}: where to connect, `net.connect`'s `timeout` and `signal`, and
 * `allowHalfOpen` and the protocol tunables ({@link EndpointConfig}) for this connection.
 *
 * A connect with tunables or `allowHalfOpen` gets a UDP socket of its own (closed when the
 * connection is gone); one without shares a pooled UDP socket per address family with every
 * other such connect.
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * const controller = new AbortController();
 * const deadline = setTimeout(() => controller.abort(), 5000); // not connected within 5 s...
 * const socket = connect({
 *   port: 6881,
 *   host: 'peer.example.org',
 *   signal: controller.signal,
 *   congestionControl: 'ledbat++',
 * });
 * socket.on('connect', () => {
 *   clearTimeout(deadline);
 *   socket.end('hello');
 * });
 * socket.on('error', (error: NodeJS.ErrnoException) => console.error(error.code)); // ...'ABORT_ERR'
 * ```
 */
export interface ConnectOptions extends Omit<SharedSocketOptions, 'type'> {
  /** The peer's UDP port (1 to 65535). */
  port: number;
  /**
   * The peer's IP address or host name (resolved with `dns.lookup`), default `127.0.0.1`. An
   * IPv6 address connects from a `udp6` socket; a name resolves to IPv4.
   */
  host?: string;
  /** As `net.connect`: calls `socket.setTimeout(timeout)` (`'timeout'` after that long idle). */
  timeout?: number;
  /**
   * Destroys the socket with an AbortError (`code: 'ABORT_ERR'`, `cause`: the signal's reason)
   * when aborted, connecting or connected, as `net.connect` does: `AbortSignal.timeout(ms)`
   * bounds the connection's whole life, not only the connect. For a connect deadline alone,
   * abort an `AbortController` from a timer that `'connect'` clears (see the {@link ConnectOptions} example).
   */
  signal?: AbortSignal;
}

/**
 * Outgoing connections made with `connect()` (and utp-native's `utp.connect`) share UDP sockets
 * per address family and half-open setting (many connections on one port, unlike utp-native's
 * socket per connection): one for the first peer (IP literal and port) connected to, whose dgram
 * socket is connect()ed to that peer (cheaper sends, see UdpDriver.connectToSolePeer), and one
 * for every other peer. A socket closes by itself when its last connection is gone, so it never
 * keeps the process alive on its own.
 */
const pool = new Map<string, SharedSocket>();
const solePeerPool = new Map<string, { socket: SharedSocket; peer: string }>();

function newPooledSocket(type: 'udp4' | 'udp6', allowHalfOpen: boolean, onClose: (socket: SharedSocket) => void): SharedSocket {
  const created = new SharedSocket({ type, allowHalfOpen });
  created.closeWhenIdle();
  created.on('error', () => {
    // Socket-level errors (a failed bind) reach each waiting connection as its own error.
  });
  created.on('close', () => onClose(created));
  return created;
}

/**
 * @internal The pooled socket for outgoing connections of this type and allowHalfOpen; with
 * `peer`, the sole-peer socket when it is free or already that peer's.
 */
export function pooledSocket(type: 'udp4' | 'udp6', allowHalfOpen = false, peer?: { host: string; port: number }): SharedSocket {
  const key = `${type}/${allowHalfOpen}`;
  // Only an IP literal names one remote for sure (a name may resolve elsewhere next time): a
  // connected socket's peer can never change, since disconnecting gives up its port (Linux
  // unhashes a socket whose port it chose at bind).
  if (peer && isIP(peer.host) !== 0) {
    const peerKey = `${peer.host}|${peer.port}`;
    const sole = solePeerPool.get(key);
    if (sole && !sole.socket.closing && sole.peer === peerKey) return sole.socket;
    if (!sole || sole.socket.closing) {
      const created = newPooledSocket(type, allowHalfOpen, (closed) => {
        if (solePeerPool.get(key)?.socket === closed) solePeerPool.delete(key);
      });
      created.connectToSolePeer();
      solePeerPool.set(key, { socket: created, peer: peerKey });
      return created;
    }
  }
  let shared = pool.get(key);
  if (!shared || shared.closing) {
    shared = newPooledSocket(type, allowHalfOpen, (closed) => {
      if (pool.get(key) === closed) pool.delete(key);
    });
    pool.set(key, shared);
  }
  return shared;
}

/**
 * Opens an outgoing µTP connection, as `net.connect` opens a TCP one.
 *
 * Connections made this way share one UDP socket per address family (not one per connection),
 * bound to an ephemeral port; it closes by itself when its last connection is gone, including
 * one still finishing its FIN exchange in the background, and never keeps the process alive on
 * its own. To connect from a known port, use {@link Server.connect} or {@link SharedSocket.connect}.
 *
 * @param options Where to connect and how ({@link ConnectOptions}).
 * @param connectListener Added as a one-time `'connect'` listener.
 * @returns The connecting {@link Socket}; failures (`ECONNREFUSED`, `ETIMEDOUT`, `ENOTFOUND`...)
 *   arrive as its `'error'` event.
 * @throws {@link UtpError} at once for bad arguments: `ERR_SOCKET_BAD_PORT`,
 *   `ERR_INVALID_ARG_TYPE` (`host` not a non-empty string, `signal` not an `AbortSignal`),
 *   `ERR_OUT_OF_RANGE` (`timeout`), `ERR_INVALID_ARG_VALUE` (`congestionControl`).
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * const socket = connect({ port: 6881, host: '::1', timeout: 30_000 });
 * socket.on('timeout', () => socket.destroy());
 * socket.on('error', (error) => console.error(error));
 * socket.end('hello');
 * ```
 */
export function connect(options: ConnectOptions, connectListener?: () => void): Socket;
/**
 * Opens an outgoing µTP connection to `host`:`port`; see the first overload.
 *
 * @param port The peer's UDP port.
 * @param host The peer's IP address or host name, default `127.0.0.1`.
 * @param connectListener Added as a one-time `'connect'` listener.
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * const socket = connect(6881, '127.0.0.1', () => socket.end('hello'));
 * socket.pipe(process.stdout);
 * ```
 */
export function connect(port: number, host?: string, connectListener?: () => void): Socket;
export function connect(
  portOrOptions: number | ConnectOptions,
  host?: string | (() => void),
  connectListener?: () => void,
): Socket {
  let options: ConnectOptions;
  if (typeof portOrOptions === 'object' && portOrOptions !== null) {
    options = portOrOptions;
    if (typeof host === 'function') connectListener = host;
  } else {
    if (typeof host === 'function') [connectListener, host] = [host, undefined];
    options = host === undefined ? { port: portOrOptions } : { port: portOrOptions, host };
  }
  const port = validatePort(options.port, false);
  const target = validateHost(options.host) ?? '127.0.0.1';
  const { port: _port, host: _host, timeout, signal, ...socketOptions } = options;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))) {
    throw new UtpError('ERR_OUT_OF_RANGE', `timeout must be a non-negative number, got ${String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new UtpError('ERR_INVALID_ARG_TYPE', 'signal must be an AbortSignal');
  }
  const type = isIP(target) === 6 ? 'udp6' : 'udp4';
  const hasOwnOptions = Object.keys(socketOptions).length > 0;
  // Per-connection tunables need a socket of their own; plain connects share the pool's.
  const shared = hasOwnOptions ? new SharedSocket({ ...socketOptions, type }) : pooledSocket(type, false, { host: target, port });
  if (hasOwnOptions) {
    shared.closeWhenIdle();
    shared.connectToSolePeer(); // its one connection's peer is its only one
  }
  const socket = shared.connect(port, target);
  if (timeout !== undefined) socket.setTimeout(timeout);
  if (signal) abortWith(signal, socket);
  if (connectListener) socket.once('connect', connectListener);
  return socket;
}

function abortWith(signal: AbortSignal, socket: Socket): void {
  const abort = (): void => {
    socket.destroy(Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' }));
  };
  if (signal.aborted) return void process.nextTick(abort);
  signal.addEventListener('abort', abort, { once: true });
  socket.once('close', () => signal.removeEventListener('abort', abort));
}
