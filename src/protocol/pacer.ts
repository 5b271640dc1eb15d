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
  /** When the next packet may leave (ms). */
  private nextAt = -Infinity;

  /** How long (ms) until the next packet may leave: 0 = now. */
  delay(now: number): number {
    return this.nextAt > now ? this.nextAt - now : 0;
  }

  /**
   * `bytes` left now under a window of `window` bytes per `rtt` ms (no pacing without an RTT
   * sample). The schedule runs from when this packet was due, so a late wake-up sends what fell
   * due meanwhile, but never banks more than MAX_LAG of idle time as a burst. A window smaller
   * than the packet (the connection sends one packet whatever the window when nothing is in
   * flight, e.g. a resend into a peer window of a few bytes) still means one packet per RTT: at
   * bytes / window, a 10-byte window held the next packet back for 68 RTTs after it reopened.
   */
  sent(bytes: number, now: number, window: number, rtt: number, slowStart: boolean): void {
    if (rtt <= 0 || window <= 0) return;
    const start = this.nextAt > now - MAX_LAG ? this.nextAt : now - MAX_LAG;
    this.nextAt = start + (bytes * rtt) / ((slowStart ? SLOW_START_GAIN : GAIN) * (window > bytes ? window : bytes));
  }
}
