/**
 * microtp: µTP (BEP 29) for Node.js, the module you get with `import ... from 'microtp'`.
 *
 * {@link createServer} and {@link connect} follow Node's `net`: a {@link Server} hands you each
 * incoming connection as a {@link Socket}, a `stream.Duplex` like `net.Socket`.
 * {@link createSocket} makes a {@link SharedSocket}: one UDP port that carries µTP connections
 * both ways plus any other datagrams (DHT, trackers). Errors carry a `code` ({@link UtpErrorCode}).
 *
 * `require('microtp')` and `microtp/utp-native` give utp-native's callable API instead:
 * see the {@link "microtp/utp-native" | microtp/utp-native} module.
 *
 * @example An echo server and a client
 * ```ts
 * import { createServer, connect } from 'microtp';
 *
 * const server = createServer((socket) => socket.pipe(socket));
 * server.listen(6881, () => {
 *   const client = connect(6881, '127.0.0.1');
 *   client.on('data', (data) => console.log(data.toString())); // "hello"
 *   client.on('error', (error) => console.error(error)); // see UtpErrorCode
 *   client.end('hello');
 * });
 * ```
 *
 * @module microtp
 */
import { connect, type ConnectOptions } from './node/connect.js';
import { Server, type ServerOptions } from './node/server.js';
import { SharedSocket, type SharedSocketOptions } from './node/shared-socket.js';
import type { Socket } from './node/socket.js';

/**
 * Makes a µTP {@link Server}, as `net.createServer` makes a TCP one. It accepts nothing until
 * {@link Server.listen} is called.
 *
 * @param options Per-connection tunables and `allowHalfOpen` ({@link ServerOptions}), or the
 *   connection listener itself.
 * @param onConnection Added as a listener of the server's `'connection'` event: called with each
 *   incoming connection once the initiator confirmed it.
 * @returns The server, not listening yet.
 * @throws {@link UtpError} `ERR_INVALID_ARG_VALUE` for an unknown `congestionControl`.
 *
 * @example
 * ```ts
 * import { createServer } from 'microtp';
 *
 * const server = createServer({ allowHalfOpen: true }, (socket) => {
 *   console.log('connection from', socket.remoteAddress, socket.remotePort);
 *   socket.pipe(socket); // echo, ending our side once the peer ended
 * });
 * server.listen(6881);
 * ```
 */
export function createServer(options?: ServerOptions | ((socket: Socket) => void), onConnection?: (socket: Socket) => void): Server {
  if (typeof options === 'function') return new Server({}, options);
  return new Server(options ?? {}, onConnection);
}

/**
 * Makes a {@link SharedSocket}: one UDP socket for µTP connections in both directions and any
 * other datagrams (DHT, tracker, STUN) on the same port, as BitTorrent clients use one port.
 *
 * @param options `'udp4'` or `'udp6'`, or {@link SharedSocketOptions} (`type` defaults to
 *   `'udp4'`; a `udp6` socket sends packets of at most 1232 bytes unless `packetSize` says otherwise).
 * @returns The socket, unbound: call {@link SharedSocket.listen} to accept connections, or just
 *   {@link SharedSocket.connect} / {@link SharedSocket.send}, which bind an ephemeral port first.
 * @throws {@link UtpError} `ERR_INVALID_ARG_VALUE` for a `type` other than `'udp4'` or `'udp6'`.
 *
 * @example
 * ```ts
 * import { createSocket } from 'microtp';
 *
 * const socket = createSocket('udp4');
 * socket.on('connection', (stream) => stream.pipe(stream)); // incoming µTP
 * socket.on('message', (data, rinfo) => {
 *   // anything that is not µTP for this socket: DHT, trackers, STUN
 * });
 * socket.listen(6881, () => {
 *   const out = socket.connect(51413, '127.0.0.1'); // outgoing µTP from port 6881
 *   out.on('error', (error) => console.error(error));
 *   socket.send(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'), 6882, '127.0.0.1'); // a DHT ping
 * });
 * ```
 */
export function createSocket(options: SharedSocketOptions | 'udp4' | 'udp6' = {}): SharedSocket {
  return new SharedSocket(typeof options === 'string' ? { type: options } : options);
}

export { connect, Server, SharedSocket };
export { connect as createConnection };
export type { ConnectOptions, ServerOptions, SharedSocketOptions };
export { Socket } from './node/socket.js';
export type { SocketOptions } from './node/socket.js';
export { UtpError, type UtpErrorCode } from './protocol/errors.js';
export type { ConnectionStats } from './protocol/stats.js';
export type { EndpointConfig, ConnectionConfig, CongestionControlName } from './protocol/config.js';
export { channels as traceChannels } from './trace/channels.js';
export type {
  ChannelName,
  TracedConnection,
  TraceMessage,
  StateMessage,
  PacketMessage,
  PacketSentMessage,
  PacketReceivedMessage,
  MetricsMessage,
  LossMessage,
  RetransmitMessage,
  TimeoutMessage,
  WindowMessage,
  PacketTypeName,
} from './trace/channels.js';
export type { PacketVerdict } from './protocol/tracer.js';
export type { ConnectionState } from './protocol/connection.js';
