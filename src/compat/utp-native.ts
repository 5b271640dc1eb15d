/**
 * utp-native's API backed by microtp, for `npm install utp-native@npm:microtp`: the callable
 * `utp([options])` (a socket), `utp.createServer([options], [onconnection])` and
 * `utp.connect(port, [host], [options])`. `require('microtp')` returns this function (see
 * require.cts); the `import` API of microtp stays net-like (src/index.ts).
 */
import { udpTypeFor } from '../node/args.js';
import { pooledSocket } from '../node/connect.js';
import { asConnection, connectTarget, failedConnection, type CompatConnection } from './compat-connection.js';
import { UtpNativeSocket, type UtpNativeOptions } from './compat-socket.js';

export interface Utp {
  (options?: UtpNativeOptions | null): UtpNativeSocket;
  new (options?: UtpNativeOptions | null): UtpNativeSocket;
  createServer(options?: UtpNativeOptions | null, onconnection?: (connection: CompatConnection) => void): UtpNativeSocket;
  createServer(onconnection?: (connection: CompatConnection) => void): UtpNativeSocket;
  connect(port: number, host?: string | null, options?: UtpNativeOptions | null): CompatConnection;
}

/** `utp(options)` and `new utp(options)` both give a socket (utp-native's constructor allowed both). */
function utpFunction(options?: UtpNativeOptions | null): UtpNativeSocket {
  return new UtpNativeSocket(options);
}
// `socket instanceof utp` holds, as it did with utp-native's constructor.
utpFunction.prototype = UtpNativeSocket.prototype;

function createServer(
  options?: UtpNativeOptions | null | ((connection: CompatConnection) => void),
  onconnection?: (connection: CompatConnection) => void,
): UtpNativeSocket {
  if (typeof options === 'function') [onconnection, options] = [options, null];
  const server = new UtpNativeSocket(options);
  if (onconnection) server.on('connection', onconnection);
  return server;
}

function connect(port: number, host?: string | null, options?: UtpNativeOptions | null): CompatConnection {
  const allowHalfOpen = options?.allowHalfOpen !== false;
  const target = connectTarget(port, host);
  if (target instanceof Error) return asConnection(failedConnection(target, allowHalfOpen));
  // connect()'s pooled UDP sockets (per address family and allowHalfOpen: one connected to the
  // first peer, one for the others), shared with the import API's connect() (utp-native made a
  // socket per connection); each closes once its last connection is gone.
  return asConnection(pooledSocket(udpTypeFor(target.host), allowHalfOpen, target).connect(target.port, target.host), target);
}

export const utp: Utp = Object.assign(utpFunction as unknown as Utp, { createServer, connect });
export default utp;
export { UtpNativeSocket };
export type { CompatConnection, UtpNativeOptions };
