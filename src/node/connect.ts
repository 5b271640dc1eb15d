import { isIP } from 'node:net';
import { UtpError } from '../protocol/errors.js';
import { validateHost, validatePort } from './args.js';
import { SharedSocket, type SharedSocketOptions } from './shared-socket.js';
import type { Socket } from './socket.js';

export interface ConnectOptions extends Omit<SharedSocketOptions, 'type'> {
  port: number;
  host?: string;
  /** As net.connect: calls `socket.setTimeout(timeout)` ('timeout' after that long idle). */
  timeout?: number;
  /**
   * Destroys the socket with an AbortError (`code: 'ABORT_ERR'`, `cause`: the signal's reason)
   * when aborted, connecting or connected, as net.connect does. A connect deadline is
   * `signal: AbortSignal.timeout(ms)`.
   */
  signal?: AbortSignal;
}

/**
 * Outgoing connections made with `connect()` (and utp-native's `utp.connect`) share UDP sockets
 * per address family and half-open setting (many connections on one port, unlike utp-native's
 * socket per connection): one for the first peer (IP literal and port) connected to, whose dgram
 * socket is connect()ed to that peer (cheaper sends, see UdpDriver.connectToSolePeer), and one
 * for every other peer. A socket closes by itself when its last connection is gone, so it never
 * keeps the process alive on its own.
 */
const pool = new Map<string, SharedSocket>();
const solePeerPool = new Map<string, { socket: SharedSocket; peer: string }>();

function newPooledSocket(type: 'udp4' | 'udp6', allowHalfOpen: boolean, onClose: (socket: SharedSocket) => void): SharedSocket {
  const created = new SharedSocket({ type, allowHalfOpen });
  created.closeWhenIdle();
  created.on('error', () => {
    // Socket-level errors (a failed bind) reach each waiting connection as its own error.
  });
  created.on('close', () => onClose(created));
  return created;
}

/**
 * @internal The pooled socket for outgoing connections of this type and allowHalfOpen; with
 * `peer`, the sole-peer socket when it is free or already that peer's.
 */
export function pooledSocket(type: 'udp4' | 'udp6', allowHalfOpen = false, peer?: { host: string; port: number }): SharedSocket {
  const key = `${type}/${allowHalfOpen}`;
  // Only an IP literal names one remote for sure (a name may resolve elsewhere next time): a
  // connected socket's peer can never change, since disconnecting gives up its port (Linux
  // unhashes a socket whose port it chose at bind).
  if (peer && isIP(peer.host) !== 0) {
    const peerKey = `${peer.host}|${peer.port}`;
    const sole = solePeerPool.get(key);
    if (sole && !sole.socket.closing && sole.peer === peerKey) return sole.socket;
    if (!sole || sole.socket.closing) {
      const created = newPooledSocket(type, allowHalfOpen, (closed) => {
        if (solePeerPool.get(key)?.socket === closed) solePeerPool.delete(key);
      });
      created.connectToSolePeer();
      solePeerPool.set(key, { socket: created, peer: peerKey });
      return created;
    }
  }
  let shared = pool.get(key);
  if (!shared || shared.closing) {
    shared = newPooledSocket(type, allowHalfOpen, (closed) => {
      if (pool.get(key) === closed) pool.delete(key);
    });
    pool.set(key, shared);
  }
  return shared;
}

export function connect(options: ConnectOptions, connectListener?: () => void): Socket;
export function connect(port: number, host?: string, connectListener?: () => void): Socket;
export function connect(
  portOrOptions: number | ConnectOptions,
  host?: string | (() => void),
  connectListener?: () => void,
): Socket {
  let options: ConnectOptions;
  if (typeof portOrOptions === 'object' && portOrOptions !== null) {
    options = portOrOptions;
    if (typeof host === 'function') connectListener = host;
  } else {
    if (typeof host === 'function') [connectListener, host] = [host, undefined];
    options = host === undefined ? { port: portOrOptions } : { port: portOrOptions, host };
  }
  const port = validatePort(options.port, false);
  const target = validateHost(options.host) ?? '127.0.0.1';
  const { port: _port, host: _host, timeout, signal, ...socketOptions } = options;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))) {
    throw new UtpError('ERR_OUT_OF_RANGE', `timeout must be a non-negative number, got ${String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new UtpError('ERR_INVALID_ARG_TYPE', 'signal must be an AbortSignal');
  }
  const type = isIP(target) === 6 ? 'udp6' : 'udp4';
  const hasOwnOptions = Object.keys(socketOptions).length > 0;
  // Per-connection tunables need a socket of their own; plain connects share the pool's.
  const shared = hasOwnOptions ? new SharedSocket({ ...socketOptions, type }) : pooledSocket(type, false, { host: target, port });
  if (hasOwnOptions) {
    shared.closeWhenIdle();
    shared.connectToSolePeer(); // its one connection's peer is its only one
  }
  const socket = shared.connect(port, target);
  if (timeout !== undefined) socket.setTimeout(timeout);
  if (signal) abortWith(signal, socket);
  if (connectListener) socket.once('connect', connectListener);
  return socket;
}

function abortWith(signal: AbortSignal, socket: Socket): void {
  const abort = (): void => {
    socket.destroy(Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' }));
  };
  if (signal.aborted) return void process.nextTick(abort);
  signal.addEventListener('abort', abort, { once: true });
  socket.once('close', () => signal.removeEventListener('abort', abort));
}
