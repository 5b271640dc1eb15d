import type dgram from 'node:dgram';
import { lookup } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { EndpointConfig } from '../protocol/config.js';
import { IPV6_PACKET_SIZE } from '../protocol/config.js';
import type { Connection } from '../protocol/connection.js';
import { UtpError } from '../protocol/errors.js';
import { addressFor, familyOf, validateBufferSize, validateHost, validatePort } from './args.js';
import { Socket, type SocketOptions } from './socket.js';
import { UdpDriver, type SendFunction } from './udp-driver.js';

/** An IP literal (a zone such as `%eth0` allowed), as opposed to a host name to resolve. */
function isIpLiteral(host: string): boolean {
  const percent = host.indexOf('%');
  return isIP(percent < 0 ? host : host.slice(0, percent)) !== 0;
}

export interface SharedSocketOptions extends SocketOptions, Partial<EndpointConfig> {
  type?: 'udp4' | 'udp6';
  /** @internal Test seam: replaces dgram's `socket.send` for µTP datagrams (see UdpDriver). */
  udpSend?: SendFunction;
}

/**
 * One UDP port for µTP and anything else (DHT, trackers, hole punching), as utp-native's
 * socket API and anacrolix/utp offer: `listen()` accepts µTP connections, `connect()` opens them
 * from the same port, `send()` and 'message' carry the datagrams that are not µTP.
 *
 * Events: 'listening', 'connection' (Socket), 'message' (Buffer, rinfo), 'error', 'close'.
 */
export class SharedSocket extends EventEmitter {
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
  constructor(options: SharedSocketOptions = {}) {
    super();
    const { type = 'udp4', allowHalfOpen, udpSend, ...config } = options;
    if (type !== 'udp4' && type !== 'udp6') {
      throw new UtpError('ERR_INVALID_ARG_VALUE', `type must be 'udp4' or 'udp6', got ${String(type)}`);
    }
    this.type = type;
    this.socketOptions = allowHalfOpen === undefined ? {} : { allowHalfOpen };
    if (type === 'udp6' && config.packetSize === undefined) config.packetSize = IPV6_PACKET_SIZE;
    this.driver = new UdpDriver(type, config, { send: udpSend });
    this.driver.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => this.emit('message', data, rinfo));
    this.driver.on('connection', (connection: Connection) => this.accept(connection));
    this.driver.on('removed', () => this.maybeFinishClose());
    this.driver.on('error', (error: Error) => this.emit('error', error));
    this.driver.on('close', () => this.emitClose());
  }

  /** The underlying dgram socket, for options such as buffer sizes (set after bind). */
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

  /** Incoming connections refused beyond this many (Server#maxConnections). */
  get maxConnections(): number {
    return this.driver.endpoint.config.maxConnections;
  }
  set maxConnections(n: number) {
    this.driver.endpoint.config.maxConnections = n;
  }

  /** True once bind() succeeded. */
  get isBound(): boolean {
    return this.bound;
  }

  /** Open connections owned by the application. */
  get connections(): number {
    return this.sockets.size;
  }

  bind(port?: number, host?: string, callback?: () => void): this;
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
   * window). The kernel caps it at net.core.rmem_max.
   */
  setRecvBufferSize(bytes: number): this {
    this.driver.requestSocketBuffer('recv', validateBufferSize(bytes));
    return this;
  }

  /** Asks for a UDP send buffer of at least `bytes` (as setRecvBufferSize). */
  setSendBufferSize(bytes: number): this {
    this.driver.requestSocketBuffer('send', validateBufferSize(bytes));
    return this;
  }

  /** The UDP receive buffer's size as the kernel reports it; before bind, what will be asked for. */
  getRecvBufferSize(): number {
    return this.driver.socketBufferSize('recv');
  }

  /** The UDP send buffer's size as the kernel reports it; before bind, what will be asked for. */
  getSendBufferSize(): number {
    return this.driver.socketBufferSize('send');
  }

  private runPendingStarts(error: Error | undefined): void {
    const starts = this.pendingStarts;
    this.pendingStarts = [];
    for (const start of starts) start(error);
  }

  address(): { address: string; family: string; port: number } {
    return this.driver.socket.address();
  }

  /** Accept incoming µTP connections (binding first, to `port`, when not bound yet). */
  listen(port?: number, host?: string, callback?: () => void): this;
  listen(port?: number, callback?: () => void): this;
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

  /** Opens a µTP connection from this socket's port. */
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

  /** Sends a datagram that is not µTP (DHT, tracker...) from the same port. */
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
   * Stops accepting; the UDP socket closes once the application's connections are gone and those
   * still finishing their FIN exchange (or re-acking the peer's FIN) were removed.
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

  /** True once close() was called (or the socket closed when idle). */
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

  ref(): this {
    this.driver.socket.ref();
    return this;
  }

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
    socket.onRelease = () => {
      this.sockets.delete(socket);
      if (this.closeWhenIdleFlag && this.sockets.size === 0) this.close();
      this.maybeFinishClose();
    };
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
