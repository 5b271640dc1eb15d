import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import type { Connection } from '../protocol/connection.js';
import type { EndpointEvent } from '../protocol/events.js';
import type { ConnectionStats } from '../protocol/stats.js';
import type { ConnectionOwner, UdpDriver } from './udp-driver.js';

/**
 * Options of each {@link Socket} that a {@link SharedSocket}, a {@link Server} or
 * {@link connect} makes (they are part of {@link SharedSocketOptions}, {@link ServerOptions}
 * and {@link ConnectOptions}).
 *
 * @example
 * ```ts
 * import { createServer } from 'microtp';
 *
 * // Keep writing after the client ended its side (a request/response protocol):
 * const server = createServer({ allowHalfOpen: true }, (socket) => {
 *   const chunks: Buffer[] = [];
 *   socket.on('data', (chunk: Buffer) => chunks.push(chunk));
 *   socket.on('end', () => socket.end(Buffer.concat(chunks).reverse()));
 * });
 * server.listen(6881);
 * ```
 */
export interface SocketOptions {
  /**
   * Keep the writable side open after the peer ended its side, as `net` does: you call `end()`
   * yourself when done. Default `false`: the socket ends its side too once the peer's FIN arrived.
   */
  allowHalfOpen?: boolean;
  /** @internal write() returns false beyond this many unsent bytes (the send buffer size). */
  writableHighWaterMark?: number;
}

/**
 * A µTP connection as a `stream.Duplex`, shaped like `net.Socket`: `'connect'`, remote and local
 * address getters, `setTimeout`, `end`, `destroy`, backpressure through `write()` and `'drain'`.
 * You get one from {@link connect}, from a {@link Server}'s `'connection'` event, or from a
 * {@link SharedSocket}; there is no public constructor.
 *
 * As with `net`: once `write()`'s callback ran, the buffer is the application's again (its bytes
 * were copied into packets); `write()` returns `false` when the send buffer
 * ({@link ConnectionConfig.sendBufferSize}) is full and `'drain'` follows; a reader that stops
 * reading shrinks the window it advertises, so the peer stops sending. `end()` sends a FIN
 * (a half-close); only `destroy()` drops queued data (the peer gets a RESET unless both
 * directions had already finished).
 *
 * Events (besides those of every `stream.Duplex`):
 * - `'connect'` and then `'ready'`: an outgoing connection is established (the peer answered
 *   our SYN). Incoming sockets are connected when you get them and emit neither.
 * - `'data'` (`Buffer`), `'end'`: the peer's bytes, then its FIN. A chunk holds what one read
 *   burst brought in order (one packet's payload up to a burst's worth), never held back.
 * - `'drain'`: the send buffer has room again after `write()` returned `false`.
 * - `'finish'`: the peer acknowledged everything written, our FIN included (after `end()`).
 * - `'timeout'`: no activity for the time given to {@link Socket.setTimeout}; the socket stays
 *   open, close it yourself if you wish.
 * - `'error'` (`Error` with a `code`): `ECONNREFUSED` (the peer reset our SYN: nothing listens
 *   there), `ECONNRESET`, `ETIMEDOUT` (connect, retransmissions or {@link ConnectionConfig.idleTimeout}),
 *   `EPIPE` (a write after the connection closed), `ABORT_ERR` (the `signal` of
 *   {@link ConnectOptions} aborted), a `dns.lookup` error such as `ENOTFOUND`, or the OS's code
 *   when it keeps refusing our datagrams (`EHOSTUNREACH`, `ENETUNREACH`, `EACCES`; `EMSGSIZE`
 *   only when a refused packet cannot be cut smaller). See {@link UtpErrorCode}.
 * - `'close'`: the connection is gone (after `'error'` if there was one).
 *
 * @example
 * ```ts
 * import { connect } from 'microtp';
 *
 * const socket = connect(6881, 'peer.example.org');
 * socket.setTimeout(30_000, () => socket.destroy()); // give up after 30 s of silence
 * socket.on('connect', () => {
 *   console.log('connected from port', socket.localPort, 'to', socket.remoteAddress);
 *   socket.end('request');
 * });
 * socket.on('data', (chunk: Buffer) => console.log('received', chunk.length, 'bytes'));
 * socket.on('error', (error: NodeJS.ErrnoException) => console.error(error.code, error.message));
 * socket.on('close', () => console.log(socket.stats()));
 * ```
 */
export class Socket extends Duplex implements ConnectionOwner {
  /**
   * `true` while an outgoing connection waits for the peer's answer (until `'connect'`), as
   * `net.Socket#connecting`; `false` for incoming sockets.
   */
  connecting: boolean;
  private driver: UdpDriver | undefined;
  private connection: Connection | undefined;
  /** A write or end that arrived while the host name was still being resolved. */
  private deferred: (() => void) | undefined;
  private noDelay = false;
  /**
   * The callback of the write in progress: called once the connection no longer refers to the
   * written buffers ('written': packetized, i.e. copied), so the application may reuse them.
   */
  private pendingWrite: ((error?: Error | null) => void) | undefined;
  /** _final's callback: called when the peer acknowledged our FIN ('finish' means delivered). */
  private pendingFinal: ((error?: Error | null) => void) | undefined;
  private idleTimeout = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  /**
   * @internal Told once this socket is gone, so it stops counting it (the SharedSocket that made it). An
   * object with a method, not a closure per socket: ~90 bytes less per connection (issue 9).
   */
  tracker: SocketTracker | undefined;

  /** @internal Sockets come from `connect()`, a Server or a SharedSocket. */
  constructor(options: SocketOptions = {}) {
    // The written chunks wait in the Writable's buffer (not copied) until the connection takes
    // them: a high-water mark of the send buffer size keeps as much queued as the core used to.
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      decodeStrings: true,
      emitClose: true,
      ...(options.writableHighWaterMark === undefined ? {} : { writableHighWaterMark: options.writableHighWaterMark }),
    });
    this.connecting = true;
  }

  /** @internal Binds this stream to its connection (at once, or once the host name resolved). */
  attach(driver: UdpDriver, connection: Connection): void {
    this.driver = driver;
    this.connection = connection;
    this.connecting = connection.state === 'syn-sent';
    connection.context = this;
    if (this.noDelay) connection.setNoDelay(true);
    const deferred = this.deferred;
    this.deferred = undefined;
    deferred?.();
  }

  /**
   * The peer's IP address in canonical form (`::1`, lower-case hex; an IPv4 peer of a `udp6`
   * socket as `::ffff:a.b.c.d`, as `rinfo` reports it). `undefined` until an outgoing
   * connection's host name is resolved.
   */
  get remoteAddress(): string | undefined {
    return this.connection?.remote.address;
  }
  /** The peer's UDP port; `undefined` until an outgoing connection's host name is resolved. */
  get remotePort(): number | undefined {
    return this.connection?.remote.port;
  }
  /** `'IPv4'` or `'IPv6'`, as {@link Socket.remoteAddress} is written; `undefined` until known. */
  get remoteFamily(): string | undefined {
    return this.connection?.remote.family;
  }
  /**
   * The address of the UDP socket that carries this connection (often a wildcard such as
   * `0.0.0.0`: µTP shares one UDP socket among connections); `undefined` before it is bound.
   */
  get localAddress(): string | undefined {
    return this.localInfo()?.address;
  }
  /** The port of the UDP socket that carries this connection; `undefined` before it is bound. */
  get localPort(): number | undefined {
    return this.localInfo()?.port;
  }
  /** `'IPv4'` or `'IPv6'`: the family of the UDP socket that carries this connection. */
  get localFamily(): string | undefined {
    return this.localInfo()?.family;
  }

  private localInfo(): { address: string; port: number; family: string } | undefined {
    try {
      return this.driver?.socket.address();
    } catch {
      return undefined; // the UDP socket is already closed
    }
  }

  /**
   * The local address as `net.Socket#address()` gives it: `{ address, family, port }` of the UDP
   * socket that carries this connection, or `{}` before it is bound or after it closed.
   *
   * @example
   * ```ts
   * socket.on('connect', () => console.log(socket.address())); // { address: '0.0.0.0', family: 'IPv4', port: 40723 }
   * ```
   */
  address(): AddressInfo | Record<string, never> {
    return this.localInfo() ?? {};
  }

  /**
   * A snapshot of the connection's state and counters: round-trip time, congestion window,
   * bytes in flight, queueing delay, retransmissions... (see {@link ConnectionStats}). Each
   * call makes a new object; read it as often as you like.
   *
   * @returns `undefined` until the connection exists (an outgoing connection whose host name is
   *   still being resolved); afterwards, the last state, also once closed.
   *
   * @example
   * ```ts
   * const timer = setInterval(() => {
   *   const stats = socket.stats();
   *   if (stats) console.log(`rtt ${stats.rtt} ms, cwnd ${stats.cwnd} B, in flight ${stats.bytesInFlight} B`);
   * }, 1000);
   * socket.on('close', () => clearInterval(timer));
   * ```
   */
  stats(): ConnectionStats | undefined {
    return this.connection?.stats();
  }

  /**
   * `JSON.stringify(socket)` gives the peer's address and port with {@link Socket.stats}, for logs.
   *
   * @example
   * ```ts
   * socket.on('close', () => console.log(JSON.stringify(socket)));
   * ```
   */
  toJSON(): Partial<ConnectionStats> & {
    /** As {@link Socket.remoteAddress}. */
    remoteAddress: string | undefined;
    /** As {@link Socket.remotePort}. */
    remotePort: number | undefined;
  } {
    return { remoteAddress: this.remoteAddress, remotePort: this.remotePort, ...this.stats() };
  }

  /**
   * As `net.Socket#setTimeout`: emits `'timeout'` after `ms` milliseconds in which the peer's
   * data did not arrive and the application wrote nothing, and again after each further `ms` of
   * such inactivity. The socket is not closed:
   * do that in the listener if you wish. µTP's own {@link ConnectionConfig.idleTimeout} (180 s
   * without a packet from the peer, keepalives included) is separate and does close.
   *
   * @param ms Milliseconds; `0` disables the timeout.
   * @param callback Added as a one-time `'timeout'` listener.
   * @throws `RangeError` with code `ERR_OUT_OF_RANGE` if `ms` is negative or not a finite number.
   *
   * @example
   * ```ts
   * socket.setTimeout(10_000, () => socket.destroy(new Error('peer idle for 10 s')));
   * ```
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw Object.assign(new RangeError(`timeout must be a non-negative number, got ${String(ms)}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    if (callback) this.once('timeout', callback);
    this.idleTimeout = ms;
    this.touch();
    if (ms === 0 && this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    } else if (ms > 0 && !this.idleTimer) {
      this.armIdleTimer(ms);
    }
    return this;
  }

  /**
   * As `net.Socket#setNoDelay`: `true` (the default argument) sends small writes at once;
   * `false`, the initial state, holds a partial packet while an earlier partial packet is
   * unacknowledged so that small writes coalesce into full packets (Nagle, as libutp does).
   *
   * @example
   * ```ts
   * socket.setNoDelay(); // an interactive protocol: each small write leaves at once
   * ```
   */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.connection?.setNoDelay(noDelay);
    this.driver?.scheduleFlush();
    return this;
  }

  /**
   * Accepted for `net` compatibility and does nothing: µTP sends its own keepalive after
   * {@link ConnectionConfig.keepaliveInterval} without sending, whatever you pass.
   *
   * @example
   * ```ts
   * socket.setKeepAlive(true, 60_000); // no effect, as explained above
   * ```
   */
  setKeepAlive(_enable = false, _initialDelay = 0): this {
    return this;
  }

  /**
   * As `net.Socket#ref`: lets the UDP socket under this connection keep the process alive again.
   * That UDP socket is shared with other connections: this refs it for all of them.
   *
   * @example
   * ```ts
   * socket.unref(); // do not wait for this transfer on exit...
   * socket.ref(); // ...changed our mind
   * ```
   */
  ref(): this {
    this.driver?.socket.ref();
    return this;
  }

  /**
   * As `net.Socket#unref`: the UDP socket under this connection no longer keeps the process
   * alive. That UDP socket is shared with other connections: this unrefs it for all of them.
   * Call it once connected (before that the connection may not have its UDP socket yet).
   *
   * @example
   * ```ts
   * socket.on('connect', () => socket.unref());
   * ```
   */
  unref(): this {
    this.driver?.socket.unref();
    return this;
  }

  private touch(): void {
    if (this.idleTimeout > 0) this.lastActivity = performance.now();
  }

  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.idleTimeout === 0 || this.destroyed) return;
      const idle = performance.now() - this.lastActivity;
      if (idle >= this.idleTimeout) {
        this.touch();
        this.emit('timeout');
      }
      this.armIdleTimer(Math.max(1, this.idleTimeout - (performance.now() - this.lastActivity)));
    }, ms);
    this.idleTimer.unref();
  }

  // ---------------------------------------------------------------- core -> stream

  /** @internal */
  onCoreEvent(event: EndpointEvent): void {
    switch (event.type) {
      case 'connect':
        this.connecting = false;
        this.touch();
        this.emit('connect');
        this.emit('ready');
        return;
      case 'data': {
        this.touch();
        // A burst's packets as one chunk: one push and one 'data' per burst instead of per packet.
        // What an application does per chunk (a pipe's write, a parser's call) then runs once per
        // burst: a receiver piped to a file stream used x0.68 the CPU per GiB. The copy is not
        // free: a receiver that only counts bytes pays 4-5% more (see docs/performance-state.md).
        const pieces = event.pieces;
        this.push(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
        event.connection.setApplicationBuffered(this.readableLength);
        return;
      }
      case 'end':
        this.push(null);
        // As net does: with nothing buffered, 'end' fires even if the application never reads,
        // so a socket that only writes still closes.
        this.read(0);
        return;
      case 'written':
        this.releaseWrite();
        return;
      case 'finish':
        this.releaseFinal();
        return;
      case 'close':
        if (event.error) this.destroy(event.error);
        else if (!this.destroyed) {
          this.push(null);
          this.releaseWrite();
          this.releaseFinal();
        }
        return;
      case 'drain':
      case 'connection':
      case 'removed':
        return;
    }
  }

  private releaseWrite(): void {
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback?.();
  }

  private releaseFinal(): void {
    const callback = this.pendingFinal;
    this.pendingFinal = undefined;
    callback?.();
  }

  // ---------------------------------------------------------------- stream -> core

  /** @internal The `stream.Duplex` implementation. */
  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const connection = this.connection;
    if (!connection || !this.driver) {
      this.deferred = () => this._write(chunk, encoding, callback);
      return;
    }
    this.touch();
    if (connection.state === 'closed') return callback(writeAfterClose());
    if (chunk.length === 0) return callback();
    // The connection reads `chunk` until it is packetized: call back on 'written', not now.
    this.pendingWrite = callback;
    connection.write(chunk);
    this.driver.scheduleFlush();
  }

  /** @internal The `stream.Duplex` implementation. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const connection = this.connection;
    if (!connection || !this.driver) {
      this.deferred = () => this._writev(chunks, callback);
      return;
    }
    this.touch();
    if (connection.state === 'closed') return callback(writeAfterClose());
    this.pendingWrite = callback;
    for (const { chunk } of chunks) connection.write(chunk);
    if (connection.writableLength === 0) return this.releaseWrite(); // all empty
    this.driver.scheduleFlush();
  }

  /** @internal The `stream.Duplex` implementation. */
  override _final(callback: (error?: Error | null) => void): void {
    if (!this.connection || !this.driver) {
      this.deferred = () => this._final(callback);
      return;
    }
    // 'finish' waits until the peer acknowledged everything, FIN included (net's promise that
    // the bytes were handed on); a connection that closes first releases it too.
    if (this.connection.state === 'closed') return callback();
    this.pendingFinal = callback;
    this.connection.end();
    this.driver.scheduleFlush();
  }

  /**
   * @internal As `stream.Readable#read`, and then tells the connection what is left unread. Readable calls
   * _read before it takes the chunk it returns out of the buffer, and not again until the next
   * push, so _read alone reports the bytes being read as still held: a chunk as large as the
   * window (a burst, or a hole filled behind a full reorder buffer, is one chunk) left the window
   * closed after the application had read everything, until the peer's zero-window probe an RTO
   * later. Every read goes through here: the flowing mode's ('data', pipe) and async iteration's.
   */
  override read(size?: number): any {
    const chunk: unknown = super.read(size);
    const connection = this.connection;
    if (connection !== undefined && connection.setApplicationBuffered(this.readableLength)) this.driver?.scheduleFlush();
    return chunk;
  }

  /** @internal The `stream.Duplex` implementation. */
  override _read(): void {
    if (!this.connection || !this.driver) return;
    // What is left unread is reported by read() once it took its chunk (Readable calls _read only
    // from read(), before that): reported here too, it was the count with that chunk still in.
    this.driver.scheduleFlush();
  }

  /** @internal The `stream.Duplex` implementation. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.deferred = undefined;
    if (this.connection && this.driver && this.connection.context === this) {
      this.connection.abort(this.driver.now());
      this.connection.context = undefined;
      this.driver.scheduleFlush();
    }
    this.releaseWrite();
    this.releaseFinal();
    const tracker = this.tracker;
    this.tracker = undefined;
    tracker?.release(this);
    callback(error);
  }
}

/** Whoever counts live sockets (a SharedSocket). */
export interface SocketTracker {
  release(socket: Socket): void;
}

/** A write on a connection that already closed (both directions finished): net says EPIPE. */
function writeAfterClose(): Error {
  return Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
}
