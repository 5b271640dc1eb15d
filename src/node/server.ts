import { EventEmitter, on } from 'node:events';
import type { AddressInfo } from 'node:net';
import { checkCongestionControl } from '../protocol/congestion/select.js';
import { UtpError } from '../protocol/errors.js';
import { udpTypeFor, validateBufferSize, validateHost, validatePort } from './args.js';
import { SharedSocket, type SharedSocketOptions } from './shared-socket.js';
import type { Socket } from './socket.js';

/**
 * Options of {@link createServer}: `allowHalfOpen` ({@link SocketOptions}) and the protocol
 * tunables ({@link EndpointConfig}), each optional with the documented default. The UDP socket
 * type follows the address given to {@link Server.listen}, so there is no `type`.
 *
 * @example
 * ```ts
 * import { createServer } from 'microtp';
 *
 * const server = createServer({
 *   maxConnections: 200, // refuse incoming connections beyond 200 open ones
 *   receiveBufferSize: 4 * 1024 * 1024, // a 4 MiB window for fast long-distance peers
 *   congestionControl: 'ledbat++',
 * });
 * server.on('connection', (socket) => socket.resume());
 * server.listen(6881);
 * ```
 *
 * @interface
 */
export type ServerOptions = Omit<SharedSocketOptions, 'type'>;

/**
 * A µTP server shaped like `net.Server`: `listen`, `address`, `close`, `maxConnections`,
 * `getConnections`, `ref`/`unref`, and `for await` over the accepted connections. Make one with
 * {@link createServer}. `close()` stops accepting at once and emits `'close'` when the open
 * connections are gone. Beyond `net`: {@link Server.connect} opens outgoing connections from the
 * listening port (as BitTorrent clients do, so peers see one port), and the UDP buffer sizes can
 * be raised.
 *
 * An incoming connection is handed to you only once the initiator has confirmed it (its first
 * packet after the SYN; a spoofed SYN costs no socket), and its `remoteAddress` and `remotePort`
 * are set when `'connection'` fires.
 *
 * Events:
 * - `'listening'`: the UDP socket is bound and connections are accepted.
 * - `'connection'` ({@link Socket}): an incoming connection, already connected.
 * - `'error'` (`Error` with a `code`): `EADDRINUSE` or another bind failure (the server is then
 *   not listening, as with `net`), or an error of the UDP socket.
 * - `'close'`: after {@link Server.close}, once every connection is gone.
 *
 * @example
 * ```ts
 * import { createServer } from 'microtp';
 *
 * const server = createServer();
 * server.on('error', (error: NodeJS.ErrnoException) => {
 *   if (error.code === 'EADDRINUSE') console.error('port 6881 is taken');
 * });
 * server.listen(6881, '::', () => console.log('listening on', server.address()));
 * for await (const socket of server) {
 *   socket.end(`hello ${socket.remoteAddress}\n`);
 * }
 * ```
 */
export class Server extends EventEmitter {
  private shared: SharedSocket | undefined;
  private readonly options: ServerOptions;
  private maxConnectionsValue = Infinity;
  private unrefed = false;
  /** close() was called on the current listen: a second close() gets ERR_SERVER_NOT_RUNNING. */
  private closeCalled = false;
  /** Buffer sizes asked for, applied to each socket listen() makes. */
  private readonly bufferRequests: { recv?: number; send?: number } = {};

  /**
   * {@link createServer} does the same with a friendlier signature.
   *
   * @param options Tunables and `allowHalfOpen` for the connections of this server.
   * @param onConnection Added as a `'connection'` listener.
   * @throws {@link UtpError} `ERR_INVALID_ARG_VALUE` for an unknown `congestionControl`.
   */
  constructor(options: ServerOptions = {}, onConnection?: (socket: Socket) => void) {
    super();
    if (options.congestionControl !== undefined) checkCongestionControl(options.congestionControl);
    this.options = options;
    if (onConnection) this.on('connection', onConnection);
  }

  /**
   * As `net.Server#listening`: `true` from {@link Server.listen} on (the bind may still be under
   * way), `false` again from {@link Server.close} on (connections may still be finishing).
   */
  get listening(): boolean {
    return this.shared !== undefined && !this.closeCalled;
  }

  /**
   * Incoming connections beyond this many open ones are refused: the peer sees `ECONNREFUSED`
   * (or `ECONNRESET` when its SYN arrived together with those of the connections admitted up to
   * the limit). Default `Infinity`. Outgoing connections made with {@link Server.connect} do not
   * count. Can be changed at any time, also before {@link Server.listen}.
   */
  get maxConnections(): number {
    return this.maxConnectionsValue;
  }
  /** Sets the limit described on the getter; it applies to SYNs that arrive from then on. */
  set maxConnections(n: number) {
    this.maxConnectionsValue = n;
    if (this.shared) this.shared.maxConnections = n;
  }

  /**
   * Binds a UDP socket and accepts µTP connections on it, as `net.Server#listen`.
   *
   * @param port UDP port; `0` or omitted picks a free one (read it with {@link Server.address}).
   * @param host Local address to bind, default `0.0.0.0`. An IPv6 address (`'::'`, `'::1'`)
   *   gives a `udp6` socket; `'::'` accepts IPv4 peers too where the OS allows dual stack. A
   *   host name is resolved by `dgram` and gets a `udp4` socket.
   * @param callback Added as a one-time `'listening'` listener.
   * @throws {@link UtpError} `ERR_SOCKET_BAD_PORT`, `ERR_INVALID_ARG_TYPE` for a bad `host`, or
   *   `ERR_SERVER_ALREADY_LISTEN` if listening already. A port in use is an `'error'` event
   *   (`EADDRINUSE`), not a throw.
   *
   * @example
   * ```ts
   * server.listen(0, '127.0.0.1', () => console.log('port', server.address()?.port));
   * ```
   */
  listen(port?: number, host?: string, callback?: () => void): this;
  /** Binds `0.0.0.0` (see the first overload). */
  listen(port?: number, callback?: () => void): this;
  /** Binds a free port on `0.0.0.0` (see the first overload). */
  listen(callback?: () => void): this;
  listen(port?: number | (() => void), host?: string | (() => void), callback?: () => void): this {
    if (typeof port === 'function') [callback, port] = [port, undefined];
    if (typeof host === 'function') [callback, host] = [host, undefined];
    const p = port === undefined ? 0 : validatePort(port, true);
    const h = validateHost(host);
    if (this.shared) throw new UtpError('ERR_SERVER_ALREADY_LISTEN', 'listen() was already called');
    const shared = new SharedSocket({ ...this.options, type: udpTypeFor(h) });
    this.shared = shared;
    this.closeCalled = false;
    if (this.bufferRequests.recv !== undefined) shared.setRecvBufferSize(this.bufferRequests.recv);
    if (this.bufferRequests.send !== undefined) shared.setSendBufferSize(this.bufferRequests.send);
    shared.maxConnections = this.maxConnectionsValue;
    if (this.unrefed) shared.unref();
    shared.on('connection', (socket: Socket) => this.emit('connection', socket));
    shared.on('error', (error: Error) => {
      // A failed bind (EADDRINUSE) leaves the server not listening, as net does.
      if (this.shared === shared && !shared.isBound) {
        this.shared = undefined;
        shared.close();
      }
      this.emit('error', error);
    });
    shared.on('close', () => {
      if (this.shared !== shared) return; // a socket whose bind failed: the server never listened
      this.shared = undefined;
      this.emit('close');
    });
    if (callback) this.once('listening', callback);
    shared.listen(p, h ?? '0.0.0.0', () => this.emit('listening'));
    return this;
  }

  /**
   * The bound address, as `net.Server#address()`: `{ address, family, port }`, or `null` when
   * not listening (or not bound yet).
   *
   * @example
   * ```ts
   * server.listen(0, () => console.log(server.address())); // { address: '0.0.0.0', family: 'IPv4', port: 39511 }
   * ```
   */
  address(): AddressInfo | null {
    if (!this.shared) return null;
    try {
      return this.shared.address();
    } catch {
      return null;
    }
  }

  /**
   * As `net.Server#getConnections`: the number of open connections of this server, incoming and
   * those made with {@link Server.connect}, given to `callback` asynchronously.
   *
   * @example
   * ```ts
   * server.getConnections((error, count) => console.log(count, 'connections'));
   * ```
   */
  getConnections(callback: (error: Error | null, count: number) => void): this {
    const count = this.shared?.connections ?? 0;
    process.nextTick(() => callback(null, count));
    return this;
  }

  /**
   * Opens an outgoing µTP connection from the server's own UDP port, so that peers see one port
   * for you (as BitTorrent clients do). Call it after {@link Server.listen}; before
   * `'listening'` it waits for the bind. The connection counts as one of the server's:
   * {@link Server.close} waits for it too.
   *
   * @param port The peer's UDP port.
   * @param host The peer's address or host name (resolved with `dns.lookup`), default the
   *   loopback address of the server's family.
   * @param connectListener Added as a one-time `'connect'` listener of the socket.
   * @returns The connecting socket; failures arrive as its `'error'` event.
   * @throws {@link UtpError} `ERR_SERVER_NOT_RUNNING` before `listen()` or after `close()`,
   *   `ERR_SOCKET_BAD_PORT`, `ERR_INVALID_ARG_TYPE` for a bad `host`.
   *
   * @example
   * ```ts
   * server.listen(6881, () => {
   *   const peer = server.connect(51413, '192.0.2.7', () => peer.write('hello'));
   *   peer.on('error', (error) => console.error(error));
   * });
   * ```
   */
  connect(port: number, host?: string, connectListener?: () => void): Socket {
    if (typeof host === 'function') [connectListener, host] = [host, undefined];
    const socket = this.runningSocket().connect(port, host);
    if (connectListener) socket.once('connect', connectListener);
    return socket;
  }

  /**
   * Asks for a UDP receive buffer of at least `bytes`; before {@link Server.listen} too (applied
   * at bind, and to the socket of each later `listen()`). Never shrinks it below what microtp
   * sized for its receive window; Linux caps it at `net.core.rmem_max`.
   *
   * @throws {@link UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * const server = createServer().setRecvBufferSize(8 * 1024 * 1024).listen(6881, () => {
   *   console.log('the kernel gave', server.getRecvBufferSize(), 'bytes');
   * });
   * ```
   */
  setRecvBufferSize(bytes: number): this {
    // Kept for the sockets of later listen() calls too.
    this.bufferRequests.recv = validateBufferSize(bytes);
    this.shared?.setRecvBufferSize(bytes);
    return this;
  }

  /**
   * Asks for a UDP send buffer of at least `bytes`, as {@link Server.setRecvBufferSize} does for
   * the receive buffer (Linux caps it at `net.core.wmem_max`).
   *
   * @throws {@link UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * server.setSendBufferSize(4 * 1024 * 1024);
   * ```
   */
  setSendBufferSize(bytes: number): this {
    this.bufferRequests.send = validateBufferSize(bytes);
    this.shared?.setSendBufferSize(bytes);
    return this;
  }

  /**
   * The UDP receive buffer's size in bytes as the kernel reports it (Linux reports twice what it
   * grants).
   *
   * @throws {@link UtpError} `ERR_SERVER_NOT_RUNNING` before {@link Server.listen} or after
   *   {@link Server.close}.
   *
   * @example
   * ```ts
   * server.listen(6881, () => console.log(server.getRecvBufferSize()));
   * ```
   */
  getRecvBufferSize(): number {
    return this.runningSocket().getRecvBufferSize();
  }

  /**
   * The UDP send buffer's size in bytes as the kernel reports it.
   *
   * @throws {@link UtpError} `ERR_SERVER_NOT_RUNNING` before {@link Server.listen} or after
   *   {@link Server.close}.
   *
   * @example
   * ```ts
   * server.listen(6881, () => console.log(server.getSendBufferSize()));
   * ```
   */
  getSendBufferSize(): number {
    return this.runningSocket().getSendBufferSize();
  }

  private runningSocket(): SharedSocket {
    if (!this.shared || this.closeCalled) throw new UtpError('ERR_SERVER_NOT_RUNNING', 'Server is not running: call listen() first.');
    return this.shared;
  }

  /**
   * Stops accepting connections at once, as `net.Server#close`; `'close'` follows once the open
   * connections are gone (at once if there are none). It does not end them: end or destroy them
   * yourself if you do not want to wait.
   *
   * @param callback Called on `'close'`; or, if the server was not listening (or close() was
   *   already called), called with an {@link UtpError} `ERR_SERVER_NOT_RUNNING`.
   *
   * @example
   * ```ts
   * const sockets = new Set<Socket>();
   * server.on('connection', (socket) => {
   *   sockets.add(socket);
   *   socket.on('close', () => sockets.delete(socket));
   * });
   * // on shutdown:
   * server.close(() => console.log('all connections gone'));
   * for (const socket of sockets) socket.end();
   * ```
   */
  close(callback?: (error?: Error) => void): this {
    const shared = this.shared;
    if (!shared || this.closeCalled) {
      if (callback) {
        const error = new UtpError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
        process.nextTick(() => callback(error));
      }
      return this;
    }
    this.closeCalled = true;
    if (callback) this.once('close', callback);
    shared.close();
    return this;
  }

  /**
   * `for await (const socket of server)`: each accepted connection, until the server closes
   * (the loop ends) or emits `'error'` (the loop throws it). Connections that arrive while the
   * loop body runs wait in order; those accepted before the loop started were `'connection'`
   * events only.
   *
   * @example
   * ```ts
   * server.listen(6881);
   * for await (const socket of server) socket.pipe(socket);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Socket, void, undefined> {
    for await (const [socket] of on(this, 'connection', { close: ['close'] }) as AsyncIterable<[Socket]>) yield socket;
  }

  /**
   * As `net.Server#ref`: a listening server keeps the process alive (the default).
   *
   * @example
   * ```ts
   * server.ref();
   * ```
   */
  ref(): this {
    this.unrefed = false;
    this.shared?.ref();
    return this;
  }

  /**
   * As `net.Server#unref`: the server's UDP socket no longer keeps the process alive; before
   * {@link Server.listen} too (applied to the socket listen() makes).
   *
   * @example
   * ```ts
   * createServer((socket) => socket.resume()).unref().listen(6881); // must not block exit
   * ```
   */
  unref(): this {
    this.unrefed = true;
    this.shared?.unref();
    return this;
  }
}
