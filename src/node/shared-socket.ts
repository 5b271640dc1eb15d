import type dgram from 'node:dgram';
import { lookup } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import type { EndpointConfig } from '../protocol/config.js';
import { IPV6_PACKET_SIZE } from '../protocol/config.js';
import type { Connection } from '../protocol/connection.js';
import { UtpError } from '../protocol/errors.js';
import { addressFor, familyOf, validateBufferSize, validateHost, validatePort } from './args.js';
import { Socket, type SocketOptions, type SocketTracker } from './socket.js';
import { UdpDriver, type SendFunction } from './udp-driver.js';

/** An IP literal (a zone such as `%eth0` allowed), as opposed to a host name to resolve. */
function isIpLiteral(host: string): boolean {
  const percent = host.indexOf('%');
  return isIP(percent < 0 ? host : host.slice(0, percent)) !== 0;
}

/**
 * Options of {@link createSocket}: the UDP socket type, `allowHalfOpen` for its connections
 * ({@link SocketOptions}) and the protocol tunables ({@link EndpointConfig}), each optional
 * with the documented default.
 *
 * @example
 * ```ts
 * import { createSocket } from 'microtp';
 *
 * const socket = createSocket({
 *   type: 'udp6',
 *   allowHalfOpen: true,
 *   idleTimeout: 60_000, // drop peers silent for a minute (default 180 s)
 * });
 * socket.listen(6881, '::');
 * ```
 */
export interface SharedSocketOptions extends SocketOptions, Partial<EndpointConfig> {
  /**
   * `'udp4'` (the default) or `'udp6'`. A `udp6` socket uses a packet size of 1232 bytes unless
   * {@link ConnectionConfig.packetSize} is given, and binds `::` by default.
   */
  type?: 'udp4' | 'udp6';
  /** @internal Test seam: replaces dgram's `socket.send` for µTP datagrams (see UdpDriver). */
  udpSend?: SendFunction;
  /**
   * Write a qlog trace file per connection into this directory (docs/qlog.md). Default: the
   * `MICROTP_QLOG` environment variable as it is when the socket is created; `false`: never.
   */
  qlog?: string | false;
}

/**
 * One UDP port for µTP and anything else (DHT, trackers, hole punching), as utp-native's
 * socket API and anacrolix/utp offer: {@link SharedSocket.listen} accepts µTP connections,
 * {@link SharedSocket.connect} opens them from the same port, {@link SharedSocket.send} and
 * `'message'` carry the datagrams that are not µTP. Make one with {@link createSocket}.
 *
 * Datagrams are told apart as libtorrent does, with RFC 7983's rule for STUN: µTP has type 0–4
 * and version 1 in its first byte; bencoded messages start with `d`; a STUN message (magic
 * cookie `0x2112A442` at bytes 4–7) is never µTP.
 *
 * Events:
 * - `'listening'`: bound (as `dgram`'s event; accepting connections is {@link SharedSocket.listen}'s business).
 * - `'connection'` ({@link Socket}): an incoming µTP connection, once listening.
 * - `'message'` (`Buffer`, `dgram.RemoteInfo`): a datagram that is not µTP for this socket:
 *   DHT, tracker, STUN, malformed µTP, or a µTP packet of no connection we have (hole punching).
 * - `'error'` (`Error` with a `code`): a failed bind (`EADDRINUSE`...) or an error of the UDP socket.
 * - `'close'`: the UDP socket closed (after {@link SharedSocket.close}, once its connections are gone).
 *
 * @example A DHT and µTP on one port
 * ```ts
 * import { createSocket } from 'microtp';
 *
 * const socket = createSocket('udp4');
 * socket.on('message', (data, rinfo) => {
 *   if (data[0] === 0x64) console.log('bencoded message from', rinfo.address, rinfo.port);
 * });
 * socket.on('connection', (peer) => peer.pipe(peer));
 * socket.listen(6881, () => {
 *   socket.send(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'), 6882, '127.0.0.1');
 * });
 * ```
 */
export class SharedSocket extends EventEmitter {
  /** The UDP socket's type, from {@link SharedSocketOptions.type}. */
  readonly type: 'udp4' | 'udp6';
  private readonly driver: UdpDriver;
  private readonly socketOptions: SocketOptions;
  private readonly sockets = new Set<Socket>();
  private bound = false;
  private binding = false;
  private closingFlag = false;
  private closeWhenIdleFlag = false;
  private closeEmitted = false;
  /**
   * What waits for the bind to complete (listen and connect calls made meanwhile), run in call
   * order: one queue instead of a 'listening' listener per call, which 10,000 simultaneous
   * connects would pile up (MaxListenersExceededWarning). Called with the error if bind fails.
   */
  private pendingStarts: ((error?: Error) => void)[] = [];
  /**
   * {@link createSocket} does the same and also takes `'udp4'` or `'udp6'` alone.
   *
   * @throws {@link UtpError} `ERR_INVALID_ARG_VALUE` for a bad `type` or `congestionControl`.
   */
  constructor(options: SharedSocketOptions = {}) {
    super();
    const { type = 'udp4', allowHalfOpen, udpSend, qlog, ...config } = options;
    if (qlog !== undefined && qlog !== false && (typeof qlog !== 'string' || qlog === '')) {
      throw new UtpError('ERR_INVALID_ARG_TYPE', `qlog must be a directory name or false, got ${typeof qlog}`);
    }
    if (type !== 'udp4' && type !== 'udp6') {
      throw new UtpError('ERR_INVALID_ARG_VALUE', `type must be 'udp4' or 'udp6', got ${String(type)}`);
    }
    this.type = type;
    this.socketOptions = allowHalfOpen === undefined ? {} : { allowHalfOpen };
    if (type === 'udp6' && config.packetSize === undefined) config.packetSize = IPV6_PACKET_SIZE;
    this.driver = new UdpDriver(type, config, { send: udpSend, qlog });
    this.driver.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => this.emit('message', data, rinfo));
    this.driver.on('connection', (connection: Connection) => this.accept(connection));
    this.driver.on('removed', () => this.maybeFinishClose());
    this.driver.on('error', (error: Error) => this.emit('error', error));
    this.driver.on('close', () => this.emitClose());
  }

  /**
   * The underlying `dgram.Socket`, for options microtp does not wrap (TTL, multicast...); set
   * them after `'listening'`. Do not close it or bind it yourself, and do not send µTP with it.
   *
   * @example
   * ```ts
   * socket.bind(6881, () => socket.udpSocket.setTTL(32));
   * ```
   */
  get udpSocket(): dgram.Socket {
    return this.driver.socket;
  }

  /** @internal the protocol endpoint, for diagnostics. */
  get endpoint(): UdpDriver['endpoint'] {
    return this.driver.endpoint;
  }

  /** @internal the dgram driver, for diagnostics and tests (counters, onMessage). */
  get udpDriver(): UdpDriver {
    return this.driver;
  }

  /**
   * Incoming connections beyond this many open ones are refused (as
   * {@link Server.maxConnections}); outgoing ones do not count. Default
   * {@link EndpointConfig.maxConnections}, `Infinity` unless given.
   */
  get maxConnections(): number {
    return this.driver.endpoint.config.maxConnections;
  }
  /** Sets the limit described on the getter; it applies to SYNs that arrive from then on. */
  set maxConnections(n: number) {
    this.driver.endpoint.config.maxConnections = n;
  }

  /** `true` once the UDP socket is bound (`'listening'` was emitted). */
  get isBound(): boolean {
    return this.bound;
  }

  /** The number of open connections, incoming and outgoing, that the application holds. */
  get connections(): number {
    return this.sockets.size;
  }

  /**
   * Binds the UDP socket, as `dgram.Socket#bind`, without accepting µTP connections (call
   * {@link SharedSocket.listen} for that). Not needed before `connect()` or `send()`, which bind
   * an ephemeral port themselves.
   *
   * @param port UDP port; `0` or omitted picks a free one.
   * @param host Local address, default `0.0.0.0` (`::` for a `udp6` socket).
   * @param callback Added as a one-time `'listening'` listener, in effect.
   * @throws {@link UtpError} `ERR_SOCKET_ALREADY_BOUND`, `ERR_SOCKET_BAD_PORT`,
   *   `ERR_INVALID_ARG_TYPE` for a bad `host`. A port in use is an `'error'` event.
   *
   * @example
   * ```ts
   * socket.bind(6881, () => console.log('bound', socket.address()));
   * ```
   */
  bind(port?: number, host?: string, callback?: () => void): this;
  /** Binds the wildcard address (see the first overload). */
  bind(port?: number, callback?: () => void): this;
  bind(port?: number, host?: string | (() => void), callback?: () => void): this {
    if (typeof host === 'function') [callback, host] = [host, undefined];
    const p = port === undefined ? 0 : validatePort(port, true);
    const h = validateHost(host) ?? (this.type === 'udp6' ? '::' : '0.0.0.0');
    if (this.bound || this.binding) throw new UtpError('ERR_SOCKET_ALREADY_BOUND', 'socket is already bound');
    this.binding = true;
    const socket = this.driver.socket;
    const failed = (error: Error): void => {
      this.binding = false;
      this.runPendingStarts(error);
    };
    socket.once('error', failed);
    socket.bind(p, h, () => {
      socket.removeListener('error', failed);
      this.binding = false;
      this.bound = true;
      // As dgram: 'listening' means bound (accepting µTP connections is listen()'s business).
      this.emit('listening');
      callback?.();
      this.runPendingStarts(undefined);
    });
    return this;
  }

  /**
   * Asks for a UDP receive buffer of at least `bytes`. Before bind the request waits for the
   * bind; it never shrinks the buffer below what microtp sized for its receive window (2x the
   * window). Linux caps it at `net.core.rmem_max`.
   *
   * @throws {@link UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * const socket = createSocket('udp4').setRecvBufferSize(8 * 1024 * 1024);
   * socket.listen(6881, () => console.log(socket.getRecvBufferSize()));
   * ```
   */
  setRecvBufferSize(bytes: number): this {
    this.driver.requestSocketBuffer('recv', validateBufferSize(bytes));
    return this;
  }

  /**
   * Asks for a UDP send buffer of at least `bytes`, as {@link SharedSocket.setRecvBufferSize}
   * does for the receive buffer (Linux caps it at `net.core.wmem_max`).
   *
   * @throws {@link UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * socket.setSendBufferSize(4 * 1024 * 1024);
   * ```
   */
  setSendBufferSize(bytes: number): this {
    this.driver.requestSocketBuffer('send', validateBufferSize(bytes));
    return this;
  }

  /**
   * The UDP receive buffer's size in bytes as the kernel reports it (Linux reports twice what it
   * grants); before bind, what will be asked for.
   *
   * @example
   * ```ts
   * socket.listen(6881, () => console.log(socket.getRecvBufferSize()));
   * ```
   */
  getRecvBufferSize(): number {
    return this.driver.socketBufferSize('recv');
  }

  /**
   * The UDP send buffer's size in bytes as the kernel reports it; before bind, what will be
   * asked for.
   *
   * @example
   * ```ts
   * socket.listen(6881, () => console.log(socket.getSendBufferSize()));
   * ```
   */
  getSendBufferSize(): number {
    return this.driver.socketBufferSize('send');
  }

  private runPendingStarts(error: Error | undefined): void {
    const starts = this.pendingStarts;
    this.pendingStarts = [];
    for (const start of starts) start(error);
  }

  /**
   * The bound address as `dgram.Socket#address()` gives it.
   *
   * @throws `ERR_SOCKET_DGRAM_NOT_RUNNING` (from `dgram`) before the socket is bound or after it closed.
   *
   * @example
   * ```ts
   * socket.listen(0, () => console.log('port', socket.address().port));
   * ```
   */
  address(): AddressInfo {
    return this.driver.socket.address();
  }

  /**
   * Accepts incoming µTP connections (`'connection'` events), binding first to `port` and `host`
   * when not bound yet; on a bound socket the arguments other than `callback` are ignored.
   *
   * @param port UDP port; `0` or omitted picks a free one.
   * @param host Local address, default `0.0.0.0` (`::` for a `udp6` socket).
   * @param callback Called once connections are accepted.
   * @throws {@link UtpError} `ERR_SOCKET_BAD_PORT`, `ERR_INVALID_ARG_TYPE` for a bad `host`.
   *
   * @example
   * ```ts
   * const socket = createSocket('udp6');
   * socket.on('connection', (peer) => peer.pipe(peer));
   * socket.listen(6881, '::', () => console.log('accepting on', socket.address()));
   * ```
   */
  listen(port?: number, host?: string, callback?: () => void): this;
  /** Binds the wildcard address if not bound (see the first overload). */
  listen(port?: number, callback?: () => void): this;
  /** Binds a free port if not bound (see the first overload). */
  listen(callback?: () => void): this;
  listen(port?: number | (() => void), host?: string | (() => void), callback?: () => void): this {
    if (typeof port === 'function') [callback, port] = [port, undefined];
    if (typeof host === 'function') [callback, host] = [host, undefined];
    const start = (): void => {
      this.driver.endpoint.listening = true;
      this.driver.listening();
      callback?.();
    };
    if (this.bound) process.nextTick(start);
    else if (this.binding) this.pendingStarts.push((error) => error || start());
    else this.bind(port, host, start);
    return this;
  }

  /**
   * Opens a µTP connection from this socket's port (binding an ephemeral port first if
   * unbound). Accepting incoming connections is not needed for this.
   *
   * @param port The peer's UDP port.
   * @param host The peer's IP address or host name (resolved with `dns.lookup` in this socket's
   *   family), default `127.0.0.1` (`::1` for a `udp6` socket).
   * @returns The connecting {@link Socket}; failures arrive as its `'error'` event.
   * @throws {@link UtpError} `ERR_SOCKET_BAD_PORT`, `ERR_INVALID_ARG_TYPE` for a bad `host`,
   *   `ERR_SOCKET_CLOSED` after {@link SharedSocket.close}.
   *
   * @example
   * ```ts
   * const peer = socket.connect(51413, '192.0.2.7');
   * peer.on('connect', () => peer.write('hello'));
   * peer.on('error', (error) => console.error(error));
   * ```
   */
  connect(port: number, host?: string): Socket {
    const p = validatePort(port, false);
    const h = validateHost(host) ?? (this.type === 'udp6' ? '::1' : '127.0.0.1');
    if (this.closingFlag || this.driver.isClosed) throw new UtpError('ERR_SOCKET_CLOSED', 'socket is closed');
    const socket = this.newSocket();
    this.track(socket);
    const start = (address: string): void => {
      if (socket.destroyed) return;
      // The core demultiplexes replies by rinfo's exact spelling: give it the same one.
      const canonical = addressFor(this.type, address);
      const remote = { address: canonical, port: p, family: familyOf(canonical) };
      socket.attach(this.driver, this.driver.connect(remote));
    };
    const resolved = (error?: Error): void => {
      if (error) return void socket.destroy(error);
      if (isIpLiteral(h)) return start(h);
      lookup(h, { family: this.type === 'udp6' ? 6 : 4 }, (error, address) => {
        if (error) socket.destroy(error);
        else start(address);
      });
    };
    // An unbound socket gets an ephemeral port first, as dgram does on first send.
    if (this.bound) resolved();
    else {
      this.pendingStarts.push(resolved);
      if (!this.binding) this.bind(0);
    }
    return socket;
  }

  /**
   * Sends a datagram that is not µTP (DHT, tracker, STUN...) from this socket's port, binding an
   * ephemeral port first if unbound.
   *
   * @param data The datagram.
   * @param port The destination UDP port.
   * @param host The destination address or host name (resolved by `dgram`).
   * @param callback As `dgram.Socket#send`'s: the error, or `null` and the bytes sent.
   * @throws {@link UtpError} `ERR_SOCKET_BAD_PORT` or `ERR_INVALID_ARG_TYPE` for a bad
   *   destination; `dgram` throws its own errors after close.
   *
   * @example
   * ```ts
   * socket.send(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'), 6882, '127.0.0.1', (error) => {
   *   if (error) console.error('DHT ping not sent:', error);
   * });
   * ```
   */
  send(data: Uint8Array | string, port: number, host: string, callback?: (error: Error | null, bytes: number) => void): void {
    const p = validatePort(port, false);
    const h = validateHost(host);
    if (h === undefined) throw new UtpError('ERR_INVALID_ARG_TYPE', 'host is required');
    // An IP literal goes out in the form this socket can reach (::ffff:a.b.c.d on udp4 is a.b.c.d).
    const target = isIpLiteral(h) ? addressFor(this.type, h) : h;
    const send = (): void => this.driver.socket.send(data, p, target, callback);
    if (this.bound) return send();
    // Bind through our own bind() (dgram would bind implicitly behind our back, and a later
    // listen() or connect() would then fail with ERR_SOCKET_ALREADY_BOUND).
    this.pendingStarts.push((error) => (error ? callback?.(error, 0) : send()));
    if (!this.binding) this.bind(0);
  }

  /**
   * Stops accepting; the UDP socket closes (`'close'`) once the application's connections are
   * gone and those still finishing their FIN exchange (or re-acking the peer's FIN) were removed.
   * It does not end the open connections: end or destroy them yourself if you do not want to wait.
   * Calling it again is harmless.
   *
   * @param callback Called on `'close'` (at once, on the next tick, if already closed).
   *
   * @example
   * ```ts
   * socket.close(() => console.log('port released'));
   * ```
   */
  close(callback?: () => void): this {
    if (callback) {
      if (this.closeEmitted) process.nextTick(callback);
      else this.once('close', callback);
    }
    if (this.closingFlag) return this;
    this.closingFlag = true;
    this.driver.endpoint.listening = false;
    this.maybeFinishClose();
    return this;
  }

  /** `true` once {@link SharedSocket.close} was called (or the UDP socket closed). */
  get closing(): boolean {
    return this.closingFlag || this.driver.isClosed;
  }

  /**
   * @internal For connect()'s sockets, which never listen, are not the application's and only
   * ever connect to one peer: the dgram socket is connected to it (see UdpDriver.connectToSolePeer).
   */
  connectToSolePeer(): void {
    this.driver.connectToSolePeer();
  }

  /** @internal For connect()'s pool: close by itself once the last connection is gone. */
  closeWhenIdle(): void {
    this.closeWhenIdleFlag = true;
  }

  /**
   * As `dgram.Socket#ref`: the UDP socket keeps the process alive (the default).
   *
   * @example
   * ```ts
   * socket.ref();
   * ```
   */
  ref(): this {
    this.driver.socket.ref();
    return this;
  }

  /**
   * As `dgram.Socket#unref`: the UDP socket, and with it this socket's connections, no longer
   * keep the process alive.
   *
   * @example
   * ```ts
   * createSocket('udp4').unref().listen(6881);
   * ```
   */
  unref(): this {
    this.driver.socket.unref();
    return this;
  }

  private newSocket(): Socket {
    return new Socket({ ...this.socketOptions, writableHighWaterMark: this.driver.endpoint.config.sendBufferSize });
  }

  private accept(connection: Connection): void {
    const socket = this.newSocket();
    socket.attach(this.driver, connection);
    socket.connecting = false;
    this.track(socket);
    this.emit('connection', socket);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.tracker = this.tracker;
  }

  /** One for all our sockets (a closure per socket cost ~90 bytes each); not a public method. */
  private readonly tracker: SocketTracker = { release: (socket) => this.untrack(socket) };

  private untrack(socket: Socket): void {
    this.sockets.delete(socket);
    if (this.closeWhenIdleFlag && this.sockets.size === 0) this.close();
    this.maybeFinishClose();
  }

  private maybeFinishClose(): void {
    if (!this.closingFlag || this.sockets.size > 0 || this.driver.isClosed) return;
    if (this.driver.endpoint.announced > 0) {
      // Connections whose sockets are gone still finish their FIN exchange (or re-ack the
      // peer's FIN) here: the UDP socket waits for their 'removed'. connect()'s pool does not
      // keep the process alive for them (like TCP's TIME_WAIT, which lives in the kernel).
      if (this.closeWhenIdleFlag) this.driver.socket.unref();
      return;
    }
    // Let the RESETs and FINs of the last destroy go out before the socket closes.
    setImmediate(() => {
      if (this.driver.endpoint.announced === 0) this.driver.close();
    });
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    process.nextTick(() => this.emit('close'));
  }
}
