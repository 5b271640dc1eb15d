import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { UtpError } from '../protocol/errors.js';
import { decodePacket } from '../protocol/packet.js';
import { udpTypeFor, validateBufferSize, validatePort } from '../node/args.js';
import type { Socket } from '../node/socket.js';
import { asConnection, connectTarget, failedConnection, type CompatConnection } from './compat-connection.js';
import { SharedSocket } from '../node/shared-socket.js';

export interface UtpNativeOptions {
  /** Keep the writable side open after the peer ended. utp-native's default: true. */
  allowHalfOpen?: boolean;
}

export type SendCallback = (error: Error | null, bytes?: number) => void;

/** The datagram source as utp-native reports it: exactly these three fields (dgram adds `size`). */
export interface MessageInfo {
  address: string;
  family: string;
  port: number;
}

/**
 * utp-native's socket (what `utp()` and `utp.createServer()` return) on top of one microtp
 * SharedSocket: µTP connections both ways plus other datagrams on one UDP port.
 *
 * As utp-native: a socket accepts no connection until listen() (firewall(true) by default);
 * `connections` lists incoming and outgoing connections; maxConnections (0 = no limit) counts
 * them all; close() waits for them. The SharedSocket is made at the first bind (explicit, or
 * implied by listen, connect or send), with the address family of the bind address: IPv6 works.
 *
 * Events: 'listening', 'connection' (connection), 'message' (Buffer, rinfo), 'error', 'close'.
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

  constructor(options?: UtpNativeOptions | null) {
    super();
    this.allowHalfOpen = options?.allowHalfOpen !== false;
  }

  /** Incoming connections are refused while this many connections are open; 0: no limit. */
  get maxConnections(): number {
    return this.maxConnectionsValue;
  }
  set maxConnections(n: number) {
    this.maxConnectionsValue = Number(n) > 0 ? Number(n) : 0;
    this.updateAcceptance();
  }

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

  /** Binds (unless bound) and accepts connections: listen() unfirewalls, as in utp-native. */
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

  /** Opens a µTP connection from this socket's port (binding it first if needed). */
  connect(port: number, host?: string | null): CompatConnection {
    if (this.closingFlag) return this.track(failedConnection(closedError('connect'), this.allowHalfOpen));
    const target = connectTarget(port, host);
    if (target instanceof Error) return this.track(failedConnection(target, this.allowHalfOpen));
    if (!this.shared) this.bind(0, isIP(target.host) === 6 ? '::' : null);
    return this.track(this.shared!.connect(target.port, target.host), target);
  }

  /**
   * Sends a datagram that is not µTP (DHT, tracker). Never throws: this runs inside message
   * handlers with addresses from the network. Errors go to `callback`, else to 'error'; after
   * close() only to `callback` (utp-native drops them silently; a late DHT reply is routine).
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

  address(): { address: string; family: string; port: number } {
    if (!this.shared?.isBound || this.closingFlag) throw new UtpError('ERR_SOCKET_NOT_BOUND', 'Socket not bound');
    return this.shared.address();
  }

  /** Stops accepting; 'close' once the connections are gone. Twice is fine (utp-native too). */
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

  /** true: refuse incoming connections (the state before listen()); false: accept them. */
  firewall(yes: boolean): void {
    this.firewalled = Boolean(yes);
    this.updateAcceptance();
  }

  setTTL(ttl: number): void {
    if (this.closingFlag) return;
    if (this.shared?.isBound) this.shared.udpSocket.setTTL(ttl);
    else this.ttl = ttl;
  }

  setSendBufferSize(n: number): number {
    if (this.closingFlag) return 0;
    this.sendBufferSize = validateBufferSize(n);
    this.shared?.setSendBufferSize(n);
    return this.getSendBufferSize();
  }

  setRecvBufferSize(n: number): number {
    if (this.closingFlag) return 0;
    this.recvBufferSize = validateBufferSize(n);
    this.shared?.setRecvBufferSize(n);
    return this.getRecvBufferSize();
  }

  getSendBufferSize(): number {
    if (this.closingFlag) return 0;
    return this.shared ? this.shared.getSendBufferSize() : (this.sendBufferSize ?? 0);
  }

  getRecvBufferSize(): number {
    if (this.closingFlag) return 0;
    return this.shared ? this.shared.getRecvBufferSize() : (this.recvBufferSize ?? 0);
  }

  ref(): this {
    this.refed = true;
    this.shared?.ref();
    return this;
  }

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
