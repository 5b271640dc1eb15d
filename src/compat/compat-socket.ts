import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import { UtpError } from '../protocol/errors.js';
import { decodePacket } from '../protocol/packet.js';
import { udpTypeFor, validateBufferSize, validatePort } from '../node/args.js';
import type { Socket } from '../node/socket.js';
import { asConnection, connectTarget, failedConnection, type CompatConnection } from './compat-connection.js';
import { SharedSocket } from '../node/shared-socket.js';

/**
 * Options of {@link utp}, `utp.createServer` and `utp.connect`, as utp-native took them.
 *
 * @example
 * ```ts
 * import utp from 'microtp/utp-native';
 *
 * // End our side as soon as the peer ends its side, as net does by default:
 * const server = utp.createServer({ allowHalfOpen: false }, (connection) => connection.resume());
 * server.listen(6881);
 * ```
 */
export interface UtpNativeOptions {
  /**
   * Keep the writable side open after the peer ended its side; call `end()` yourself.
   * utp-native's default, and so this one's: `true` (unlike `net`).
   */
  allowHalfOpen?: boolean;
}

/**
 * The callback of {@link UtpNativeSocket.send}: an error (`null` if the datagram was sent) and
 * the bytes sent.
 *
 * @example
 * ```ts
 * const done: SendCallback = (error, bytes) => {
 *   if (error) console.error('not sent:', error.message);
 *   else console.log(bytes, 'bytes sent');
 * };
 * socket.send(Buffer.from('ping'), 0, 4, 6881, '127.0.0.1', done);
 * ```
 */
export type SendCallback = (error: Error | null, bytes?: number) => void;

/**
 * The source of a datagram given with {@link UtpNativeSocket}'s `'message'` event, as
 * utp-native reports it: exactly these three fields (`dgram`'s `rinfo` also has `size`).
 *
 * @example
 * ```ts
 * socket.on('message', (data: Buffer, rinfo: MessageInfo) => {
 *   console.log(`${data.length} bytes from ${rinfo.address}:${rinfo.port} (${rinfo.family})`);
 * });
 * ```
 */
export interface MessageInfo {
  /** The sender's IP address. */
  address: string;
  /** `'IPv4'` or `'IPv6'`. */
  family: string;
  /** The sender's UDP port. */
  port: number;
}

/**
 * utp-native's socket (what {@link utp | utp()} and `utp.createServer()` return) on top of one
 * microtp `SharedSocket`: µTP connections both ways plus other datagrams on one UDP port.
 *
 * As utp-native: a socket accepts no connection until {@link UtpNativeSocket.listen}
 * (`firewall(true)` by default); {@link UtpNativeSocket.connections} lists incoming and outgoing
 * connections; {@link UtpNativeSocket.maxConnections} (0 = no limit) counts them all; `close()`
 * waits for them. The UDP socket is made at the first bind (explicit, or implied by listen,
 * connect or send), with the address family of the bind address: IPv6 works.
 *
 * Events:
 * - `'listening'`: bound.
 * - `'connection'` ({@link CompatConnection}): an incoming connection (after `listen()`).
 * - `'message'` (`Buffer`, {@link MessageInfo}): a datagram that is not µTP (DHT, tracker...).
 * - `'error'` (`Error` with a `code`): a failed bind (`EADDRINUSE`...), a second bind
 *   (`ERR_SOCKET_ALREADY_BOUND`), or a failed {@link UtpNativeSocket.send} without a callback.
 * - `'close'`: after {@link UtpNativeSocket.close}, once the connections are gone.
 *
 * @example
 * ```js
 * const utp = require('microtp');
 *
 * const socket = utp();
 * socket.on('message', (data, rinfo) => console.log('DHT message from', rinfo.address));
 * socket.on('connection', (connection) => connection.pipe(connection));
 * socket.listen(6881, () => {
 *   const ping = Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
 *   socket.send(ping, 0, ping.length, 6882, '127.0.0.1');
 * });
 * ```
 */
export class UtpNativeSocket extends EventEmitter {
  /** Open connections, incoming and outgoing (utp-native keeps this array current). */
  readonly connections: CompatConnection[] = [];
  private readonly allowHalfOpen: boolean;
  private shared: SharedSocket | undefined;
  private maxConnectionsValue = 0;
  private firewalled = true;
  private closingFlag = false;
  private closed = false;
  private refed = true;
  /** Asked for before there was a bound socket to apply them to. */
  private ttl: number | undefined;
  private sendBufferSize: number | undefined;
  private recvBufferSize: number | undefined;

  /**
   * {@link utp | utp(options)} does the same.
   *
   * @param options `allowHalfOpen` for this socket's connections (default `true`).
   */
  constructor(options?: UtpNativeOptions | null) {
    super();
    this.allowHalfOpen = options?.allowHalfOpen !== false;
  }

  /**
   * Incoming connections are refused while this many connections (incoming and outgoing) are
   * open; `0`, the default, means no limit.
   */
  get maxConnections(): number {
    return this.maxConnectionsValue;
  }
  /** Sets the limit described on the getter; anything not a positive number means no limit. */
  set maxConnections(n: number) {
    this.maxConnectionsValue = Number(n) > 0 ? Number(n) : 0;
    this.updateAcceptance();
  }

  /**
   * Binds the UDP socket (without accepting connections: see {@link UtpNativeSocket.listen}).
   *
   * @param port UDP port; a falsy one picks a free port. May be the callback.
   * @param host Local address; a falsy one is `0.0.0.0`. An IPv6 address gives an IPv6 socket.
   * @param onlistening Added as a one-time `'listening'` listener.
   * @throws {@link "microtp"!UtpError} `ERR_SOCKET_CLOSED` after `close()`, `ERR_SOCKET_BAD_PORT`,
   *   `ERR_INVALID_ARG_TYPE`. Binding twice emits `'error'` (`ERR_SOCKET_ALREADY_BOUND`), as utp-native.
   *
   * @example
   * ```ts
   * socket.bind(6881, '::', () => console.log(socket.address()));
   * ```
   */
  bind(port?: number | (() => void) | null, host?: string | (() => void) | null, onlistening?: () => void): this {
    if (typeof port === 'function') return this.bind(0, null, port);
    if (typeof host === 'function') return this.bind(port, null, host);
    if (this.closingFlag) throw new UtpError('ERR_SOCKET_CLOSED', 'bind() after close()');
    // utp-native's defaults: a falsy port is 0, a falsy host the IPv4 wildcard.
    const p = port ? validatePort(port, true) : 0;
    const h = host ? host : '0.0.0.0';
    if (typeof h !== 'string') throw new UtpError('ERR_INVALID_ARG_TYPE', `host must be a string, got ${typeof h}`);
    if (this.shared) {
      // utp-native emits this too (an event, not a throw).
      const error = new UtpError('ERR_SOCKET_ALREADY_BOUND', 'Socket already bound');
      process.nextTick(() => this.emit('error', error));
      return this;
    }
    if (onlistening) this.once('listening', onlistening);
    const shared = this.open(udpTypeFor(h));
    shared.bind(p, h, () => {
      if (this.shared !== shared) return;
      if (this.ttl !== undefined) this.applyTtl(shared, this.ttl);
      this.emit('listening');
    });
    return this;
  }

  /**
   * Binds (unless bound) and accepts connections: `listen()` lifts the firewall, as in
   * utp-native.
   *
   * @param port As {@link UtpNativeSocket.bind}'s; ignored if bound. May be the callback.
   * @param host As {@link UtpNativeSocket.bind}'s; ignored if bound.
   * @param onlistening Called once bound (also when it already was; utp-native dropped it then).
   * @throws {@link "microtp"!UtpError} `ERR_SOCKET_CLOSED` after `close()`, and as {@link UtpNativeSocket.bind}.
   *
   * @example
   * ```ts
   * const server = utp.createServer((connection) => connection.pipe(connection));
   * server.listen(6881, () => console.log('listening on', server.address().port));
   * ```
   */
  listen(port?: number | (() => void) | null, host?: string | (() => void) | null, onlistening?: () => void): this {
    if (typeof port === 'function') return this.listen(0, null, port);
    if (typeof host === 'function') return this.listen(port, null, host);
    if (this.closingFlag) throw new UtpError('ERR_SOCKET_CLOSED', 'listen() after close()');
    if (!this.shared) this.bind(port, host, onlistening);
    else if (onlistening) {
      // utp-native drops the callback here; calling it is what a caller expects.
      if (this.shared.isBound) process.nextTick(onlistening);
      else this.once('listening', onlistening);
    }
    this.firewall(false);
    return this;
  }

  /**
   * Opens a µTP connection from this socket's port (binding it first if needed). Never throws:
   * a bad port or host, or a closed socket, gives a connection that emits `'error'` and `'close'`.
   *
   * @param port The peer's UDP port.
   * @param host The peer's address or host name; a falsy one is `127.0.0.1`.
   * @returns The connection, listed in {@link UtpNativeSocket.connections} until it closes.
   *
   * @example
   * ```ts
   * const connection = socket.connect(51413, '192.0.2.7');
   * connection.on('connect', () => connection.write('hello'));
   * ```
   */
  connect(port: number, host?: string | null): CompatConnection {
    if (this.closingFlag) return this.track(failedConnection(closedError('connect'), this.allowHalfOpen));
    const target = connectTarget(port, host);
    if (target instanceof Error) return this.track(failedConnection(target, this.allowHalfOpen));
    if (!this.shared) this.bind(0, isIP(target.host) === 6 ? '::' : null);
    return this.track(this.shared!.connect(target.port, target.host), target);
  }

  /**
   * Sends a datagram that is not µTP (DHT, tracker), as utp-native's `send(buf, offset, len,
   * port, host, [cb])`. Never throws: this runs inside message handlers with addresses from the
   * network. Errors go to `callback`, else to `'error'`; after close() only to `callback`
   * (utp-native drops them silently; a late DHT reply is routine).
   *
   * @param buf The data; `offset` and `length` select a part of it (default: all of it).
   * @param offset Where the datagram starts in `buf`.
   * @param length The datagram's length.
   * @param port The destination UDP port.
   * @param host The destination address or host name.
   * @param callback Called with the error, or `null` and the bytes sent.
   *
   * @example
   * ```ts
   * const query = Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
   * socket.send(query, 0, query.length, 6882, '127.0.0.1', (error) => {
   *   if (error) console.error(error.message);
   * });
   * ```
   */
  send(buf: Uint8Array | string, offset?: number, length?: number, port?: number, host?: string, callback?: SendCallback): void {
    const fail = (error: Error): void => {
      if (callback) process.nextTick(callback, error);
      else if (!this.closingFlag) process.nextTick(() => this.emit('error', error));
    };
    if (this.closingFlag) return fail(closedError('send'));
    let data: Uint8Array;
    try {
      data = slice(buf, offset, length);
      if (!this.shared) this.bind(0);
      this.shared!.send(data, port as number, host as string, callback);
    } catch (error) {
      fail(error as Error);
    }
  }

  /**
   * The bound address, `{ address, family, port }`.
   *
   * @throws {@link "microtp"!UtpError} `ERR_SOCKET_NOT_BOUND` before the bind completed or after `close()`.
   *
   * @example
   * ```ts
   * socket.bind(0, () => console.log('port', socket.address().port));
   * ```
   */
  address(): AddressInfo {
    if (!this.shared?.isBound || this.closingFlag) throw new UtpError('ERR_SOCKET_NOT_BOUND', 'Socket not bound');
    return this.shared.address();
  }

  /**
   * Stops accepting; `'close'` once the connections are gone (it does not end them). Calling it
   * twice is fine (utp-native too).
   *
   * @param onclose Called on `'close'` (on the next tick if already closed).
   *
   * @example
   * ```ts
   * for (const connection of socket.connections) connection.destroy(); // utp-native's graceful close
   * socket.close(() => console.log('closed'));
   * ```
   */
  close(onclose?: () => void): this {
    if (this.closed) {
      if (onclose) process.nextTick(() => onclose.call(this));
      return this;
    }
    if (onclose) this.once('close', onclose);
    if (this.closingFlag) return this;
    this.closingFlag = true;
    if (this.shared) this.shared.close();
    else process.nextTick(() => this.finishClose());
    return this;
  }

  /**
   * `true`: refuse incoming connections (the state before `listen()`); `false`: accept them.
   *
   * @example
   * ```ts
   * socket.firewall(true); // stop accepting for a while, keep the port and the connections
   * ```
   */
  firewall(yes: boolean): void {
    this.firewalled = Boolean(yes);
    this.updateAcceptance();
  }

  /**
   * Sets the IP time-to-live of outgoing datagrams (`dgram.Socket#setTTL`); before bind the value
   * waits for the bind. Ignored after `close()`.
   *
   * @example
   * ```ts
   * socket.setTTL(64);
   * ```
   */
  setTTL(ttl: number): void {
    if (this.closingFlag) return;
    if (this.shared?.isBound) this.shared.udpSocket.setTTL(ttl);
    else this.ttl = ttl;
  }

  /**
   * Asks for a UDP send buffer of at least `n` bytes (before bind too). Never shrinks it below
   * what microtp sized itself.
   *
   * @returns The size now in effect, as {@link UtpNativeSocket.getSendBufferSize}; `0` after close().
   * @throws {@link "microtp"!UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * socket.setSendBufferSize(4 * 1024 * 1024);
   * ```
   */
  setSendBufferSize(n: number): number {
    if (this.closingFlag) return 0;
    this.sendBufferSize = validateBufferSize(n);
    this.shared?.setSendBufferSize(n);
    return this.getSendBufferSize();
  }

  /**
   * Asks for a UDP receive buffer of at least `n` bytes (before bind too). Never shrinks it below
   * what microtp sized for its receive window; Linux caps it at `net.core.rmem_max`.
   *
   * @returns The size now in effect, as {@link UtpNativeSocket.getRecvBufferSize}; `0` after close().
   * @throws {@link "microtp"!UtpError} `ERR_SOCKET_BAD_BUFFER_SIZE` unless a positive integer below 2^31.
   *
   * @example
   * ```ts
   * const size = socket.setRecvBufferSize(8 * 1024 * 1024);
   * ```
   */
  setRecvBufferSize(n: number): number {
    if (this.closingFlag) return 0;
    this.recvBufferSize = validateBufferSize(n);
    this.shared?.setRecvBufferSize(n);
    return this.getRecvBufferSize();
  }

  /**
   * The UDP send buffer's size in bytes as the kernel reports it; before the UDP socket exists,
   * what was asked for (`0` if nothing); `0` after close().
   *
   * @example
   * ```ts
   * console.log(socket.getSendBufferSize());
   * ```
   */
  getSendBufferSize(): number {
    if (this.closingFlag) return 0;
    return this.shared ? this.shared.getSendBufferSize() : (this.sendBufferSize ?? 0);
  }

  /**
   * The UDP receive buffer's size in bytes as the kernel reports it; before the UDP socket
   * exists, what was asked for (`0` if nothing); `0` after close().
   *
   * @example
   * ```ts
   * console.log(socket.getRecvBufferSize());
   * ```
   */
  getRecvBufferSize(): number {
    if (this.closingFlag) return 0;
    return this.shared ? this.shared.getRecvBufferSize() : (this.recvBufferSize ?? 0);
  }

  /**
   * The UDP socket keeps the process alive (the default); before bind too.
   *
   * @example
   * ```ts
   * socket.ref();
   * ```
   */
  ref(): this {
    this.refed = true;
    this.shared?.ref();
    return this;
  }

  /**
   * The UDP socket no longer keeps the process alive; before bind too.
   *
   * @example
   * ```ts
   * utp().unref().listen(6881);
   * ```
   */
  unref(): this {
    this.refed = false;
    this.shared?.unref();
    return this;
  }

  // ---------------------------------------------------------------- internals

  private open(type: 'udp4' | 'udp6'): SharedSocket {
    const shared = new SharedSocket({ type, allowHalfOpen: this.allowHalfOpen });
    this.shared = shared;
    if (!this.refed) shared.unref();
    if (this.sendBufferSize !== undefined) shared.setSendBufferSize(this.sendBufferSize);
    if (this.recvBufferSize !== undefined) shared.setRecvBufferSize(this.recvBufferSize);
    this.updateAcceptance();
    shared.on('connection', (socket: Socket) => {
      if (this.shared !== shared) return;
      // SYNs that arrive together all pass the gate before the first is confirmed (and counted
      // here): refuse those beyond maxConnections now (a RESET), as utp-native did at the SYN.
      if (this.isFull()) return void socket.destroy();
      this.emit('connection', this.track(socket));
    });
    shared.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => {
      if (this.shared !== shared) return;
      // The core passes on µTP packets of connections it does not have (as libtorrent does, for
      // hole punching); libutp answers them with a RESET and keeps them, so utp-native never
      // surfaced them. Surfaced, every late packet of a closed connection reaches a DHT's
      // bencode decoder (k-rpc-socket: a 'warning' each). A datagram that decodes as µTP here is
      // such a stray (STUN is told apart by its magic cookie; see looksLikeStun).
      if (decodePacket(data) !== undefined) return;
      const info: MessageInfo = { address: rinfo.address, family: rinfo.family, port: rinfo.port };
      this.emit('message', data, info);
    });
    shared.on('error', (error: Error) => {
      if (this.shared !== shared) return;
      if (!shared.isBound) {
        // The bind failed (EADDRINUSE...): forget this socket so that bind() can be tried
        // again, as utp-native allows. Connects waiting for the bind fail with the same error.
        this.shared = undefined;
        shared.close();
        if (this.closingFlag) process.nextTick(() => this.finishClose());
      }
      this.emit('error', error);
    });
    shared.on('close', () => {
      if (this.shared === shared) this.finishClose();
    });
    return shared;
  }

  private applyTtl(shared: SharedSocket, ttl: number): void {
    try {
      shared.udpSocket.setTTL(ttl);
    } catch (error) {
      this.emit('error', error);
    }
  }

  private finishClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  private track(socket: Socket, requested?: { port: number; host: string }): CompatConnection {
    const connection = asConnection(socket, requested);
    this.connections.push(connection);
    connection.once('close', () => {
      const index = this.connections.indexOf(connection);
      if (index >= 0) this.connections.splice(index, 1);
      this.updateAcceptance();
    });
    this.updateAcceptance();
    return connection;
  }

  /**
   * Whether SYNs are accepted: listening (not firewalled) and under maxConnections. The
   * endpoint's `listening` flag is the one gate microtp has for this; SharedSocket.close() clears
   * it for good.
   */
  private updateAcceptance(): void {
    const shared = this.shared;
    if (!shared || this.closingFlag) return;
    shared.endpoint.listening = !this.firewalled && !this.isFull();
  }

  private isFull(): boolean {
    return this.maxConnectionsValue > 0 && this.connections.length >= this.maxConnectionsValue;
  }
}

function closedError(call: string): UtpError {
  return new UtpError('ERR_SOCKET_CLOSED', `${call}() after close(): the socket is closed`);
}

/** utp-native's (buf, offset, len): a view, checked, so that a bad range is an error with a code. */
function slice(buf: Uint8Array | string, offset: number | undefined, length: number | undefined): Uint8Array {
  const data = typeof buf === 'string' ? Buffer.from(buf) : buf;
  if (!(data instanceof Uint8Array)) throw new UtpError('ERR_INVALID_ARG_TYPE', 'buf must be a Buffer, Uint8Array or string');
  const start = offset ?? 0;
  const end = length === undefined ? data.length : start + length;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > data.length) {
    throw new UtpError('ERR_OUT_OF_RANGE', `offset ${String(offset)} and length ${String(length)} do not fit a buffer of ${data.length} bytes`);
  }
  return start === 0 && end === data.length ? data : data.subarray(start, end);
}
