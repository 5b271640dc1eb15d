/**
 * Spreads a window's packets over the round trip instead of sending them back to back: a burst
 * at line rate overflows a shallow bottleneck queue even when the window fits the path (the
 * "straw": a one-packet queue lost ~45% of packets to bursts). The rate is the window per
 * smoothed RTT times a gain, as Linux TCP paces (2x in slow start so the window can still
 * double, 1.25x after so the ACK clock, not the pacer, sets the pace).
 *
 * Calling contract: owned by one `Connection`. Before sending a DATA packet it asks
 * `delay(now)`: 0 means send now, else the connection stops sending, sets its `paceAt` to
 * `now + delay` and hands itself to the host (`ConnectionHost.pace`), which resumes it then.
 * After each paced packet it calls `sent(...)`. No timers or clocks here; no allocation per
 * packet.
 */

/**
 * A late wake-up (Node's timers are 1 ms coarse, and late under load) catches up on what fell due
 * up to this far back (ms); idle time beyond it is not banked as a burst.
 */
const MAX_LAG = 2;
const SLOW_START_GAIN = 2;
const GAIN = 1.25;

export class Pacer {
  /** When the last paced packet's slot began (ms), and its size: the next one is due a gap later. */
  private lastAt = -Infinity;
  private lastBytes = 0;

  /**
   * How long (ms) until the next packet may leave under a window of `window` bytes per `rtt` ms:
   * 0 = now (and always without an RTT sample). The gap after the last packet is computed with
   * the window of now, not of when that packet left: a window that just grew (the regain after a
   * LEDBAT++ slowdown, from two packets to a quarter of the old window) is not held to the two-
   * packet pace of the last send (that held a drained link idle for 30 ms).
   */
  delay(now: number, window: number, rtt: number, slowStart: boolean): number {
    const due = this.due(window, rtt, slowStart);
    return due > now ? due - now : 0;
  }

  /**
   * `bytes` left now. Its slot runs from when it was due, so a late wake-up sends what fell due
   * meanwhile, but never banks more than MAX_LAG of idle time as a burst. A window smaller than
   * the packet (the connection sends one packet whatever the window when nothing is in flight,
   * e.g. a resend into a peer window of a few bytes) still means one packet per RTT: at
   * bytes / window, a 10-byte window held the next packet back for 68 RTTs after it reopened.
   */
  sent(bytes: number, now: number, window: number, rtt: number, slowStart: boolean): void {
    const due = this.due(window, rtt, slowStart);
    this.lastAt = due > now - MAX_LAG ? due : now - MAX_LAG;
    this.lastBytes = bytes;
  }

  private due(window: number, rtt: number, slowStart: boolean): number {
    if (rtt <= 0 || window <= 0) return -Infinity;
    const bytes = this.lastBytes;
    return this.lastAt + (bytes * rtt) / ((slowStart ? SLOW_START_GAIN : GAIN) * (window > bytes ? window : bytes));
  }
}
