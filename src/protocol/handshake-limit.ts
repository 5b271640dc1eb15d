import type { Connection } from './connection.js';

/**
 * SYNs in flight from one endpoint to one remote (address and port) at most; further connects to
 * it wait, in order, and their SYN leaves when an earlier handshake ends (connected or failed).
 *
 * Why: a server holds `maxUnconfirmed` (256 by default) half-open connections before it evicts
 * and falls back to SYN cookies, and its socket buffer holds a few thousand datagrams. 10,000
 * connects from one process sent 10,000 SYNs in one flush, then 30,000 DATA packets: 60,000-90,000
 * datagrams died in full socket buffers and ~9,700 connections were evicted and rescued by
 * cookies, and the retransmission timeouts that followed set the pace (issue 9). Below the
 * server's unconfirmed limit, nothing is evicted, and the burst a server must buffer is bounded.
 * Connects to different remotes (a BitTorrent client's peers) do not wait for each other: a
 * dead peer's 7 s of SYN retries hold up only connects to that same peer.
 */
export const MAX_HANDSHAKES_PER_REMOTE = 128;

interface RemoteSlots {
  /** Connections whose SYN went out and whose handshake has not ended. */
  active: Set<Connection>;
  /** Connections whose SYN waits, oldest first (from `head`). */
  waiting: Connection[];
  head: number;
}

export class HandshakeLimit {
  /** address -> port -> slots; only remotes with a handshake active or waiting. */
  private readonly byRemote = new Map<string, Map<number, RemoteSlots>>();
  /** Every active connection, for a cheap "was it handshaking?" per packet. */
  private readonly active = new Set<Connection>();

  constructor(private readonly max = MAX_HANDSHAKES_PER_REMOTE) {}

  /** A connection in syn-sent whose SYN has not been sent: true when it may send it now (it holds a slot then). */
  admit(connection: Connection): boolean {
    const { address, port } = connection.remote;
    let ports = this.byRemote.get(address);
    if (!ports) this.byRemote.set(address, (ports = new Map()));
    let slots = ports.get(port);
    if (!slots) ports.set(port, (slots = { active: new Set(), waiting: [], head: 0 }));
    if (slots.active.size < this.max) {
      slots.active.add(connection);
      this.active.add(connection);
      return true;
    }
    slots.waiting.push(connection);
    return false;
  }

  /**
   * Called whenever `connection` may have left syn-sent (after a packet, a timeout, on removal).
   * When its handshake ended, frees its slot and appends to `started` the waiting connections that
   * take it (their SYN is the caller's to send), skipping those that were aborted while waiting.
   */
  update(connection: Connection, started: Connection[]): void {
    if (this.active.size === 0) return;
    // A waiting connection that was aborted holds no slot: it is skipped when its turn comes.
    if (connection.state === 'syn-sent' || !this.active.has(connection)) return;
    this.active.delete(connection);
    const { address, port } = connection.remote;
    const ports = this.byRemote.get(address)!;
    const slots = ports.get(port)!;
    slots.active.delete(connection);
    while (slots.active.size < this.max && slots.head < slots.waiting.length) {
      const next = slots.waiting[slots.head]!;
      slots.waiting[slots.head++] = undefined as unknown as Connection;
      if (next.state !== 'syn-sent') continue; // aborted while it waited
      slots.active.add(next);
      this.active.add(next);
      started.push(next);
    }
    if (slots.head === slots.waiting.length) {
      slots.waiting.length = 0;
      slots.head = 0;
    } else if (slots.head >= 1024 && slots.head * 2 >= slots.waiting.length) {
      slots.waiting.splice(0, slots.head);
      slots.head = 0;
    }
    if (slots.active.size === 0 && slots.waiting.length === 0) {
      ports.delete(port);
      if (ports.size === 0) this.byRemote.delete(address);
    }
  }
}
