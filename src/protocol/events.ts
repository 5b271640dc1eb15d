import type { Connection } from './connection.js';
import type { UtpError } from './errors.js';
import type { OutPacket } from './send-buffer.js';

/** Where a peer is. The core treats it as opaque apart from demultiplexing. */
export interface Remote {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** A datagram to send: header, extensions and payload in one buffer (one iovec for the OS). */
export interface Transmit {
  remote: Remote;
  data: Uint8Array;
  /**
   * The connection that sent it (absent for endpoint replies such as RESETs to unknown
   * connections), so that a driver can report a send error to it (`Connection.onSendError`).
   */
  connection?: Connection | undefined;
  /**
   * The packet whose first transmission this is: its payload stays in `data` for resends, so the
   * buffer is free for reuse only once the packet is acknowledged too (OutPacket.holds).
   */
  packet?: OutPacket | undefined;
}

/** What the core tells its driver, in order. */
export type EndpointEvent =
  /** An incoming connection was confirmed by the initiator: hand it to the application. */
  | { type: 'connection'; connection: Connection }
  /** Our outgoing connection was accepted. */
  | { type: 'connect'; connection: Connection }
  /**
   * In-order bytes for the application: `pieces` in order (packet payloads, never empty). All
   * that one burst of input delivers in order to a connection is one event (Connection.deliver
   * appends to it while it is the newest event queued), so a driver hands its stream one chunk
   * per burst rather than one per packet: a Node Readable's push and its 'data' listeners cost
   * per chunk. A list rather than one Uint8Array: the core does not copy payloads (they are
   * views of the received datagrams), and the consumer joins them once, as it needs (the Node
   * Socket with Buffer.concat). The name differs from a single `data` so that the compiler
   * finds every consumer that must read all the pieces.
   */
  | { type: 'data'; connection: Connection; pieces: Uint8Array[] }
  /** The peer acknowledged everything we wrote and our FIN: net's 'finish'. */
  | { type: 'finish'; connection: Connection }
  /** The peer finished sending (its FIN and everything before it arrived). */
  | { type: 'end'; connection: Connection }
  /** The send queue fell below the send buffer size: the application may write more. */
  | { type: 'drain'; connection: Connection }
  /**
   * Nothing queued by write() refers to the application's buffers any more (packetized, i.e.
   * copied): it may reuse them. net's write callback.
   */
  | { type: 'written'; connection: Connection }
  /** The connection is over: gracefully (no error) or with ECONNRESET, ECONNREFUSED, ETIMEDOUT. */
  | { type: 'close'; connection: Connection; error: UtpError | undefined }
  /**
   * The endpoint forgot an announced connection: after 'close', and after any linger (a
   * connection finishing its FIN exchange in the background, or re-acking the peer's FIN).
   */
  | { type: 'removed'; connection: Connection };
