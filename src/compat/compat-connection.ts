import { Socket } from '../node/socket.js';

/**
 * utp-native's connection extras on a microtp Socket. Added to the instance (the same three
 * function objects for every connection: no closures) rather than by subclassing, because the
 * SharedSocket creates its Sockets itself; the `import` API's Socket stays net-like.
 */
export interface ConnectionExtras {
  /**
   * utp-native: whether each received packet is delivered at once (true) or batched into 64 KiB
   * reads (its own code ignored the argument and always batched). microtp always delivers data as
   * it arrives, so the closest real knob is the sending side: interactive turns Nagle's
   * coalescing of small writes off (setNoDelay(true)), false turns it back on (the default).
   */
  setInteractive(interactive: boolean): CompatConnection;
  /**
   * utp-native: a hint that `size` bytes are coming, to batch reads until then. A no-op:
   * microtp does not hold received data back (Node's stream buffering already batches for
   * consumers that read in bulk). Kept so callers run unchanged.
   */
  setContentSize(size: number): CompatConnection;
  /**
   * utp-native: the minimum size of a delivered read (libutp's receive batching), NOT the size
   * of packets on the wire. A no-op for the same reason as setContentSize; mapping it onto
   * microtp's wire packet size would be wrong (utp-native callers pass 65536).
   */
  setPacketSize(size: number): CompatConnection;
}

export type CompatConnection = Socket & ConnectionExtras;

const extras: ConnectionExtras = {
  setInteractive(this: CompatConnection, interactive: boolean) {
    return this.setNoDelay(interactive !== false) as CompatConnection;
  },
  setContentSize(this: CompatConnection, _size: number) {
    return this;
  },
  setPacketSize(this: CompatConnection, _size: number) {
    return this;
  },
};

const remoteAddress = Object.getOwnPropertyDescriptor(Socket.prototype, 'remoteAddress')!.get!;
const remotePort = Object.getOwnPropertyDescriptor(Socket.prototype, 'remotePort')!.get!;

/**
 * Makes `socket` a utp-native connection. For an outgoing one, `requested` is what the caller
 * asked for: utp-native sets remoteAddress/remotePort at once, and callers such as webtorrent
 * drop a connection whose remoteAddress is missing, while microtp knows them only once the
 * connection exists (after bind and name resolution). Until then they report what was asked.
 */
export function asConnection(socket: Socket, requested?: { port: number; host: string }): CompatConnection {
  const connection = Object.assign(socket, extras);
  if (requested) {
    Object.defineProperty(connection, 'remoteAddress', {
      configurable: true,
      enumerable: true,
      get: () => (remoteAddress.call(connection) as string | undefined) ?? requested.host,
    });
    Object.defineProperty(connection, 'remotePort', {
      configurable: true,
      enumerable: true,
      get: () => (remotePort.call(connection) as number | undefined) ?? requested.port,
    });
  }
  return connection;
}

/** A connection that fails at once (bad port from the network, socket closed): 'error' then 'close'. */
export function failedConnection(error: Error, allowHalfOpen: boolean): Socket {
  const socket = new Socket({ allowHalfOpen });
  process.nextTick(() => socket.destroy(error));
  return socket;
}
