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
 * "Receiving" is counted while the input is backlogged, per epoch of EPOCH_MS (the current one
 * and the one before), and weighted by what each connection got in it: one that got at least half
 * the mean of the epoch before (of those that got FULL_RECEIVER_MIN_BYTES, and that much at least)
 * counts as one receiver, one that got less as that fraction of one. Counted as one each, anyone
 * could open thousands of connections, send a byte of DATA on each every 100 ms and cut every
 * real download on the socket to two packets per RTT for the price of a few kB/s (its own junk,
 * or the downloads themselves, keep the socket backlogged). Weighted, a fake receiver costs its
 * sender FULL_RECEIVER_MIN_BYTES per epoch at least and half what the real ones get, so that many
 * of them cost about as much as the real traffic: a flood that would hurt it anyway. (Weighted
 * against the buffer instead, its size over the last epoch's count, the count shrank to nothing
 * wherever the buffer holds more than an epoch's input, and grew back slowly after one connection
 * had it to itself.) One map entry per connection that got DATA in the current epoch (no field on
 * an idle connection, whose memory issue 9 bounds at 3 KiB), dropped when the connection is removed.
 */

/** Length of one counting epoch (ms). */
export const EPOCH_MS = 100;
/**
 * Bytes in an epoch that make a connection a whole receiver at the least (a few packets): when
 * nobody received in the epoch before, the connections that start together (64 downloads at once)
 * count at once.
 */
export const FULL_RECEIVER_MIN_BYTES = 6000;

export class ReceiveShare {
  /** Payload bytes the socket's kernel receive buffer holds (set by the driver; Infinity: unknown). */
  capacity = Infinity;
  private epochStart = -Infinity;
  /** DATA payload bytes each connection got in the current epoch. */
  private readonly received = new Map<object, number>();
  /** Bytes in the current epoch that count a connection as one whole receiver. */
  private fullAt = FULL_RECEIVER_MIN_BYTES;
  /** Receivers (weighted) in the current epoch, and in the one before. */
  private current = 0;
  private previous = 0;
  /**
   * Payload bytes of the connections that got FULL_RECEIVER_MIN_BYTES at least in the current
   * epoch, and how many they are (for the mean): connections sending empty DATA do not drag it down.
   */
  private bytes = 0;
  private connections = 0;

  /** `connection` got DATA carrying `bytes` of payload now. */
  noteData(connection: object, bytes: number, now: number): void {
    this.roll(now);
    const before = this.received.get(connection) ?? 0;
    const after = before + bytes;
    this.received.set(connection, after);
    if (after >= FULL_RECEIVER_MIN_BYTES) {
      if (before < FULL_RECEIVER_MIN_BYTES) {
        this.connections++;
        this.bytes += after;
      } else {
        this.bytes += bytes;
      }
    }
    const fullAt = this.fullAt;
    this.current += Math.min(1, after / fullAt) - Math.min(1, before / fullAt);
  }

  /**
   * `connection` is gone (Endpoint.remove): drop the reference now, not at the next roll, which
   * waits for DATA on the socket (a quiet socket kept its last epoch's closed connections, their
   * buffers and application sockets). What it got this epoch still counts.
   */
  forget(connection: object): void {
    this.received.delete(connection);
  }

  /** What each receiving connection may advertise while the input is backlogged (bytes). */
  share(now: number): number {
    this.roll(now);
    return this.capacity / Math.max(1, this.current, this.previous);
  }

  private roll(now: number): void {
    if (now - this.epochStart < EPOCH_MS) return;
    // An epoch (or more) went by: what the last one counted is the previous; after a longer gap, none.
    const recent = now - this.epochStart < 2 * EPOCH_MS;
    this.previous = recent ? this.current : 0;
    const mean = recent && this.connections > 0 ? this.bytes / this.connections : 0;
    this.fullAt = Math.max(FULL_RECEIVER_MIN_BYTES, mean / 2);
    this.received.clear();
    this.current = 0;
    this.bytes = 0;
    this.connections = 0;
    this.epochStart = now;
  }
}
