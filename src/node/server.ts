import { EventEmitter, on } from 'node:events';
import { checkCongestionControl } from '../protocol/congestion/select.js';
import { UtpError } from '../protocol/errors.js';
import { udpTypeFor, validateBufferSize, validateHost, validatePort } from './args.js';
import { SharedSocket, type SharedSocketOptions } from './shared-socket.js';
import type { Socket } from './socket.js';

export type ServerOptions = Omit<SharedSocketOptions, 'type'>;

/**
 * A µTP server shaped like `net.Server`: `listen`, `address`, `close`, `maxConnections`,
 * `ref`/`unref`, events 'listening', 'connection', 'close', 'error' (EADDRINUSE included).
 * `close()` stops accepting at once and emits 'close' when the open connections are gone.
 * Beyond net: `connect()` opens outgoing connections from the listening port (as BitTorrent
 * clients do, so peers see one port), and the UDP buffer sizes can be raised.
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

  constructor(options: ServerOptions = {}, onConnection?: (socket: Socket) => void) {
    super();
    if (options.congestionControl !== undefined) checkCongestionControl(options.congestionControl);
    this.options = options;
    if (onConnection) this.on('connection', onConnection);
  }

  /** As net: false from close() on (connections may still be finishing). */
  get listening(): boolean {
    return this.shared !== undefined && !this.closeCalled;
  }

  get maxConnections(): number {
    return this.maxConnectionsValue;
  }
  set maxConnections(n: number) {
    this.maxConnectionsValue = n;
    if (this.shared) this.shared.maxConnections = n;
  }

  listen(port?: number, host?: string, callback?: () => void): this;
  listen(port?: number, callback?: () => void): this;
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

  address(): { address: string; family: string; port: number } | null {
    if (!this.shared) return null;
    try {
      return this.shared.address();
    } catch {
      return null;
    }
  }

  /** Open connections accepted by this server. */
  getConnections(callback: (error: Error | null, count: number) => void): this {
    const count = this.shared?.connections ?? 0;
    process.nextTick(() => callback(null, count));
    return this;
  }

  /**
   * Opens an outgoing µTP connection from the server's own UDP port (call after listen(); before
   * 'listening' it waits for the bind). The connection counts as one of the server's: close()
   * waits for it too.
   */
  connect(port: number, host?: string, connectListener?: () => void): Socket {
    if (typeof host === 'function') [connectListener, host] = [host, undefined];
    const socket = this.runningSocket().connect(port, host);
    if (connectListener) socket.once('connect', connectListener);
    return socket;
  }

  /**
   * Asks for a UDP receive buffer of at least `bytes` (before listen() too: applied at bind).
   * Never shrinks it below what microtp sized for its receive window; the kernel caps it at
   * net.core.rmem_max.
   */
  setRecvBufferSize(bytes: number): this {
    // Kept for the sockets of later listen() calls too.
    this.bufferRequests.recv = validateBufferSize(bytes);
    this.shared?.setRecvBufferSize(bytes);
    return this;
  }

  /** Asks for a UDP send buffer of at least `bytes` (as setRecvBufferSize). */
  setSendBufferSize(bytes: number): this {
    this.bufferRequests.send = validateBufferSize(bytes);
    this.shared?.setSendBufferSize(bytes);
    return this;
  }

  /** The UDP receive buffer's size as the kernel reports it (once listen() was called). */
  getRecvBufferSize(): number {
    return this.runningSocket().getRecvBufferSize();
  }

  /** The UDP send buffer's size as the kernel reports it (once listen() was called). */
  getSendBufferSize(): number {
    return this.runningSocket().getSendBufferSize();
  }

  private runningSocket(): SharedSocket {
    if (!this.shared || this.closeCalled) throw new UtpError('ERR_SERVER_NOT_RUNNING', 'Server is not running: call listen() first.');
    return this.shared;
  }

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
   * (the loop ends) or emits 'error' (the loop throws it). Connections that arrive while the loop
   * body runs wait in order; those accepted before the loop started were 'connection' events only.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Socket, void, undefined> {
    for await (const [socket] of on(this, 'connection', { close: ['close'] }) as AsyncIterable<[Socket]>) yield socket;
  }

  ref(): this {
    this.unrefed = false;
    this.shared?.ref();
    return this;
  }

  unref(): this {
    this.unrefed = true;
    this.shared?.unref();
    return this;
  }
}
