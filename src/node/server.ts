import { EventEmitter } from 'node:events';
import { UtpError } from '../protocol/errors.js';
import { udpTypeFor, validateHost, validatePort } from './args.js';
import { SharedSocket, type SharedSocketOptions } from './shared-socket.js';
import type { Socket } from './socket.js';

export type ServerOptions = Omit<SharedSocketOptions, 'type'>;

/**
 * A µTP server shaped like `net.Server`: `listen`, `address`, `close`, `maxConnections`,
 * `ref`/`unref`, events 'listening', 'connection', 'close', 'error' (EADDRINUSE included).
 * `close()` stops accepting at once and emits 'close' when the open connections are gone.
 */
export class Server extends EventEmitter {
  private shared: SharedSocket | undefined;
  private readonly options: ServerOptions;
  private maxConnectionsValue = Infinity;
  private unrefed = false;

  constructor(options: ServerOptions = {}, onConnection?: (socket: Socket) => void) {
    super();
    this.options = options;
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.shared !== undefined;
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

  close(callback?: (error?: Error) => void): this {
    const shared = this.shared;
    if (!shared) {
      if (callback) {
        const error = new UtpError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
        process.nextTick(() => callback(error));
      }
      return this;
    }
    if (callback) this.once('close', callback);
    shared.close();
    return this;
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
