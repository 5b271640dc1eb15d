/**
 * One connection's deadlines, in one table (quinn's model): the endpoint needs only the earliest
 * of them, and the driver a single OS timer for the whole endpoint.
 *
 * Calling contract: owned by one `Connection`, which sets and clears deadlines (ms, the same clock
 * as every `now` it is given; Infinity = not armed) through `arm`/`clear` and reads `next` from
 * its `nextDeadline`. `LossDetector` owns `tailLoss` and arms it here. Arming a deadline asks the
 * host to wake at it (it may be earlier than the endpoint's current wake-up); clearing one never
 * does anything else: the endpoint re-keys the connection from `next` after it runs its timeouts
 * or flushes it (a key may be early, never late: see Endpoint's wake-up heap). What
 * happens when a deadline passes is the connection's (`Connection.handleTimeout`). Nothing here
 * reads a clock. The pacer's release time is not here (`Connection.paceAt`, announced through
 * `ConnectionHost.pace`): it changes once per packet and is no deadline to run.
 */

export type TimerName = 'rto' | 'tailLoss' | 'probe' | 'confirm' | 'reset' | 'expires' | 'ack';

export interface TimerHost<Owner> {
  /** `owner`'s next deadline may be earlier than the endpoint's wake-up for it. */
  wake(owner: Owner, deadline: number): void;
}

export class ConnectionTimers<Owner = unknown> {
  /** Retransmission timeout (or, in syn-sent, the SYN's). */
  rto = Infinity;
  /** Tail-loss probe: the ACK clock stopped with data in flight (see LossDetector). */
  tailLoss = Infinity;
  /** Push one packet into a window the peer closed, in case its reopening ACK was lost. */
  probe = Infinity;
  /** Initiator only: repeat the confirming STATE while the acceptor stays silent. */
  confirm = Infinity;
  /** A RESET that fit came in: reset unless the peer proves alive by then. */
  reset = Infinity;
  /** syn-recv and closed: when the connection is forgotten. */
  expires = Infinity;
  /** In-order DATA waits for its ACK until then (see AckPolicy). */
  ack = Infinity;

  constructor(
    private readonly host: TimerHost<Owner>,
    private readonly owner: Owner,
  ) {}

  /** Sets `name` to `at` and asks the host to wake by then. */
  arm(name: TimerName, at: number): void {
    this.set(name, at);
    if (at !== Infinity) this.host.wake(this.owner, at);
  }

  clear(name: TimerName): void {
    this.set(name, Infinity);
  }

  /**
   * A switch, not `this[name] = at`: a keyed store whose key varies goes megamorphic (1.2% of a
   * receiver's busy time for the clears of every packet); inlined with a constant name, the
   * switch folds to one field store.
   */
  private set(name: TimerName, at: number): void {
    switch (name) {
      case 'rto':
        this.rto = at;
        return;
      case 'tailLoss':
        this.tailLoss = at;
        return;
      case 'probe':
        this.probe = at;
        return;
      case 'confirm':
        this.confirm = at;
        return;
      case 'reset':
        this.reset = at;
        return;
      case 'expires':
        this.expires = at;
        return;
      case 'ack':
        this.ack = at;
        return;
      default: {
        // A new TimerName without a case here would be dropped silently (it happened once):
        // make it a compile error.
        const unhandled: never = name;
        throw new Error(`unknown timer ${String(unhandled)}`);
      }
    }
  }

  /**
   * The earliest deadline of a connected (or connecting) connection. `keepaliveAt` and `idleAt`
   * (Infinity when disabled or not connected) are derived from the last send and receive times,
   * which the connection keeps.
   */
  next(keepaliveAt: number, idleAt: number): number {
    return Math.min(this.rto, this.tailLoss, this.probe, this.confirm, this.reset, this.ack, keepaliveAt, idleAt);
  }
}
