import { Duplex } from 'node:stream';
import type { Connection } from '../protocol/connection.js';
import type { EndpointEvent } from '../protocol/events.js';
import type { ConnectionStats } from '../protocol/stats.js';
import type { ConnectionOwner, UdpDriver } from './udp-driver.js';

export interface SocketOptions {
  /** Keep the writable side open after the peer ends (net semantics). Default false. */
  allowHalfOpen?: boolean;
  /** @internal write() returns false beyond this many unsent bytes (the send buffer size). */
  writableHighWaterMark?: number;
}

/**
 * A µTP connection as a `stream.Duplex`, shaped like `net.Socket`: 'connect', remote/local
 * address getters, `setTimeout`, `end`, `destroy`, backpressure through `write()` and 'drain'.
 * Errors carry `code` (ECONNREFUSED, ECONNRESET, ETIMEDOUT) and arrive as 'error' on this socket.
 * As with net: after write()'s callback the buffer is the application's again, and 'finish' means
 * the peer acknowledged everything written (our FIN included).
 */
export class Socket extends Duplex implements ConnectionOwner {
  /** True until 'connect' (outgoing sockets). */
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
   * Told once this socket is gone, so it stops counting it (the SharedSocket that made it). An
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

  get remoteAddress(): string | undefined {
    return this.connection?.remote.address;
  }
  get remotePort(): number | undefined {
    return this.connection?.remote.port;
  }
  get remoteFamily(): string | undefined {
    return this.connection?.remote.family;
  }
  get localAddress(): string | undefined {
    return this.localInfo()?.address;
  }
  get localPort(): number | undefined {
    return this.localInfo()?.port;
  }
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

  address(): { address: string; port: number; family: string } | Record<string, never> {
    return this.localInfo() ?? {};
  }

  /** Connection statistics: rtt, rto, cwnd, bytes in flight, counters... */
  stats(): ConnectionStats | undefined {
    return this.connection?.stats();
  }

  toJSON(): Partial<ConnectionStats> & { remoteAddress: string | undefined; remotePort: number | undefined } {
    return { remoteAddress: this.remoteAddress, remotePort: this.remotePort, ...this.stats() };
  }

  /** Like net.Socket#setTimeout: 'timeout' after `ms` without activity; 0 disables. */
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

  /** Turns Nagle's coalescing of small writes off (true, the default argument) or on, as net. */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.connection?.setNoDelay(noDelay);
    this.driver?.scheduleFlush();
    return this;
  }

  /** Accepted for net compatibility: µTP keeps the connection alive with its own keepalives. */
  setKeepAlive(_enable = false, _initialDelay = 0): this {
    return this;
  }

  ref(): this {
    this.driver?.socket.ref();
    return this;
  }

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
      case 'data':
        this.touch();
        this.push(event.data);
        event.connection.setApplicationBuffered(this.readableLength);
        return;
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

  override _read(): void {
    if (!this.connection || !this.driver) return;
    this.connection.setApplicationBuffered(this.readableLength);
    this.driver.scheduleFlush();
  }

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
