/**
 * microtp: µTP (BEP 29) for Node.js.
 *
 * `createServer` / `connect` follow Node's `net`; `createSocket` is a shared UDP socket that
 * carries µTP connections both ways plus any other datagrams (DHT, trackers).
 */
import { connect, type ConnectOptions } from './node/connect.js';
import { Server, type ServerOptions } from './node/server.js';
import { SharedSocket, type SharedSocketOptions } from './node/shared-socket.js';
import type { Socket } from './node/socket.js';

export function createServer(options?: ServerOptions | ((socket: Socket) => void), onConnection?: (socket: Socket) => void): Server {
  if (typeof options === 'function') return new Server({}, options);
  return new Server(options ?? {}, onConnection);
}

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
} from './trace/channels.js';
