/**
 * The share of its socket's kernel receive buffer a connection may advertise while that socket's
 * input is backlogged (issue 9).
 *
 * Each connection advertises its own receive window (1 MiB by default), and LEDBAT fills the
 * path's queue up to its 100 ms target. When the bottleneck is our own process (it reads the
 * socket slower than datagrams come: Endpoint.inputBacklogUntil), that queue is the socket's
 * kernel buffer, and 64 windows of 1 MiB do not fit in it: the gauge's receiver (8 MiB buffer,
 * ~5 MB of payload, ~70 ms at that rate) dropped thousands of datagrams in a third of its runs at
 * 64 connections, every drop a loss that halved a window and drew immediate ACKs. So while the
 * input is backlogged, the connections receiving on the socket advertise at most its payload
 * capacity divided among them. Otherwise nothing changes: a receiver that keeps up (the network is
 * the bottleneck) advertises its full window, whatever the kernel buffer (208 KiB by default).
 *
 * "Receiving" is counted per epoch of EPOCH_MS: the connections that got DATA in the current or
 * the previous epoch while the input was backlogged, in a set emptied each epoch (one lookup per
 * DATA packet then, and no field on an idle connection, whose memory issue 9 bounds at 3 KiB).
 */

/** Length of one counting epoch (ms). */
export const EPOCH_MS = 100;

export class ReceiveShare {
  /** Payload bytes the socket's kernel receive buffer holds (set by the driver; Infinity: unknown). */
  capacity = Infinity;
  private epochStart = -Infinity;
  /** Connections that got DATA in the current epoch, and how many did in the one before. */
  private readonly current = new Set<object>();
  private previous = 0;

  /** `connection` got DATA now. */
  noteData(connection: object, now: number): void {
    this.roll(now);
    this.current.add(connection);
  }

  /** What each receiving connection may advertise while the input is backlogged (bytes). */
  share(now: number): number {
    this.roll(now);
    return this.capacity / Math.max(1, this.current.size, this.previous);
  }

  private roll(now: number): void {
    if (now - this.epochStart < EPOCH_MS) return;
    // An epoch (or more) went by: what the last one counted is the previous; after a longer gap, none.
    this.previous = now - this.epochStart < 2 * EPOCH_MS ? this.current.size : 0;
    this.current.clear();
    this.epochStart = now;
  }
}
