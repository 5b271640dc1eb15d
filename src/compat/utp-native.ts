/**
 * utp-native's API backed by microtp, the module of `import utp from 'microtp/utp-native'`:
 * the callable {@link utp} (`utp([options])` makes a socket), `utp.createServer([options],
 * [onconnection])` and `utp.connect(port, [host], [options])`.
 *
 * `require('microtp')` and `require('microtp/utp-native')` return the same {@link utp} function,
 * so `npm install utp-native@npm:microtp` lets code written for utp-native (webtorrent,
 * bittorrent-dht's socket option...) run on microtp unchanged. The `import` API of `microtp`
 * itself stays net-like (the {@link "microtp" | microtp} module).
 *
 * @example
 * ```js
 * const utp = require('microtp'); // or require('utp-native') once aliased to microtp
 *
 * const server = utp.createServer((connection) => connection.pipe(connection));
 * server.listen(6881, () => {
 *   const connection = utp.connect(6881, '127.0.0.1');
 *   connection.on('data', (data) => console.log(data.toString()));
 *   connection.end('hello');
 * });
 * ```
 *
 * @module microtp/utp-native
 */
import { udpTypeFor } from '../node/args.js';
import { pooledSocket } from '../node/connect.js';
import { asConnection, connectTarget, failedConnection, type CompatConnection, type ConnectionExtras } from './compat-connection.js';
import { UtpNativeSocket, type MessageInfo, type SendCallback, type UtpNativeOptions } from './compat-socket.js';

/**
 * The type of {@link utp}: a function that makes a {@link UtpNativeSocket} (with or without
 * `new`), with `createServer` and `connect` attached, as utp-native's module export is.
 *
 * @example
 * ```ts
 * import utp, { type Utp } from 'microtp/utp-native';
 *
 * function startPeer(transport: Utp) {
 *   return transport.createServer((connection) => connection.resume()).listen(6881);
 * }
 * startPeer(utp);
 * ```
 */
export interface Utp {
  /**
   * Makes a socket: µTP connections both ways plus other datagrams on one UDP port.
   *
   * @param options `allowHalfOpen` (default `true`, as utp-native).
   *
   * @example
   * ```ts
   * const socket = utp();
   * socket.on('message', (data, rinfo) => console.log(data.length, 'bytes from', rinfo.address));
   * socket.bind(6881);
   * ```
   */
  (options?: UtpNativeOptions | null): UtpNativeSocket;
  /**
   * `new utp(options)` is `utp(options)`, as utp-native allowed both; `socket instanceof utp` holds.
   *
   * @param options `allowHalfOpen` (default `true`, as utp-native).
   */
  new (options?: UtpNativeOptions | null): UtpNativeSocket;
  /**
   * A socket that accepts connections once {@link UtpNativeSocket.listen} is called (a
   * utp-native "server" is a socket too: it can also connect and send).
   *
   * @param options `allowHalfOpen` (default `true`).
   * @param onconnection Added as a `'connection'` listener.
   *
   * @example
   * ```ts
   * const server = utp.createServer((connection) => connection.pipe(connection));
   * server.listen(6881);
   * ```
   */
  createServer(options?: UtpNativeOptions | null, onconnection?: (connection: CompatConnection) => void): UtpNativeSocket;
  /** `createServer(onconnection)`: see the first overload. */
  createServer(onconnection?: (connection: CompatConnection) => void): UtpNativeSocket;
  /**
   * Opens a connection from a UDP socket shared by every `utp.connect()` of the same address
   * family and `allowHalfOpen` (utp-native made a socket per connection); it closes once its last
   * connection is gone. Never throws: a bad port or host (often from the network: DHT, PEX)
   * gives a connection that emits `'error'` and `'close'`.
   *
   * @param port The peer's UDP port.
   * @param host The peer's address or host name; a falsy one is `127.0.0.1`.
   * @param options `allowHalfOpen` (default `true`).
   *
   * @example
   * ```ts
   * const connection = utp.connect(6881, '127.0.0.1');
   * connection.on('connect', () => connection.end('hello'));
   * connection.on('error', (error: NodeJS.ErrnoException) => console.error(error.code));
   * ```
   */
  connect(port: number, host?: string | null, options?: UtpNativeOptions | null): CompatConnection;
}

/** `utp(options)` and `new utp(options)` both give a socket (utp-native's constructor allowed both). */
function utpFunction(options?: UtpNativeOptions | null): UtpNativeSocket {
  return new UtpNativeSocket(options);
}
// `socket instanceof utp` holds, as it did with utp-native's constructor.
utpFunction.prototype = UtpNativeSocket.prototype;

function createServer(
  options?: UtpNativeOptions | null | ((connection: CompatConnection) => void),
  onconnection?: (connection: CompatConnection) => void,
): UtpNativeSocket {
  if (typeof options === 'function') [onconnection, options] = [options, null];
  const server = new UtpNativeSocket(options);
  if (onconnection) server.on('connection', onconnection);
  return server;
}

function connect(port: number, host?: string | null, options?: UtpNativeOptions | null): CompatConnection {
  const allowHalfOpen = options?.allowHalfOpen !== false;
  const target = connectTarget(port, host);
  if (target instanceof Error) return asConnection(failedConnection(target, allowHalfOpen));
  // connect()'s pooled UDP sockets (per address family and allowHalfOpen: one connected to the
  // first peer, one for the others), shared with the import API's connect() (utp-native made a
  // socket per connection); each closes once its last connection is gone.
  return asConnection(pooledSocket(udpTypeFor(target.host), allowHalfOpen, target).connect(target.port, target.host), target);
}

/**
 * utp-native's module export: call it for a socket, or use `utp.createServer` and
 * `utp.connect` (see {@link Utp}). `require('microtp')` returns this same function, and it is
 * this module's default export.
 *
 * @example
 * ```ts
 * import utp from 'microtp/utp-native';
 *
 * const socket = utp();
 * socket.on('connection', (connection) => connection.pipe(connection));
 * socket.listen(6881, () => {
 *   const out = socket.connect(51413, '127.0.0.1'); // from port 6881
 *   out.on('error', (error) => console.error(error));
 * });
 * ```
 */
export const utp: Utp = Object.assign(utpFunction as unknown as Utp, { createServer, connect });
export default utp;
export { UtpNativeSocket };
export type { CompatConnection, ConnectionExtras, MessageInfo, SendCallback, UtpNativeOptions };
