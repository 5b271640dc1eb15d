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
 * Outgoing connections made with `connect()` (and utp-native's `utp.connect`) share one UDP
 * socket per address family and half-open setting (many connections on one port, unlike
 * utp-native's socket per connection). The socket closes by itself when its last connection is
 * gone, so it never keeps the process alive on its own.
 */
const pool = new Map<string, SharedSocket>();

/** @internal The pooled socket for outgoing connections of this type and allowHalfOpen. */
export function pooledSocket(type: 'udp4' | 'udp6', allowHalfOpen = false): SharedSocket {
  const key = `${type}/${allowHalfOpen}`;
  let shared = pool.get(key);
  if (!shared || shared.closing) {
    const created = new SharedSocket({ type, allowHalfOpen });
    created.closeWhenIdle();
    created.on('error', () => {
      // Socket-level errors (a failed bind) reach each waiting connection as its own error.
    });
    created.on('close', () => {
      if (pool.get(key) === created) pool.delete(key);
    });
    pool.set(key, (shared = created));
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
  const shared = hasOwnOptions ? new SharedSocket({ ...socketOptions, type }) : pooledSocket(type);
  if (hasOwnOptions) shared.closeWhenIdle();
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
