import { DOUBLE_ZERO } from './time.js';
/**
 * RTT / RTO estimator (RFC 6298 shape, as libutp and libtorrent use it):
 * rto = max(srtt + 4 * rttvar, floor), doubled per consecutive timeout.
 */
export class RttEstimator {
  /** Smoothed RTT (ms); 0 until the first sample. */
  rtt = DOUBLE_ZERO;
  rttVar = DOUBLE_ZERO;
  /** The newest sample (ms); 0 until the first. */
  latest = DOUBLE_ZERO;
  /**
   * The timer backed off more than once since the last sample: the smoothed RTT may no longer
   * describe the path (RFC 6298 s5 lets a sender clear it then; we keep it for the RTO and let
   * only what needs the current RTT, the pacer, wait for a fresh sample).
   */
  stale = false;
  private backoff = 1;

  constructor(private readonly initialRto: number, private readonly minRto: number, private readonly maxRto: number) {}

  get hasSample(): boolean {
    return this.rtt > 0;
  }

  /** Current retransmission timeout in ms, backoff included. */
  get rto(): number {
    const base = this.rtt > 0 ? Math.max(this.rtt + 4 * this.rttVar, this.minRto) : this.initialRto;
    return Math.min(base * this.backoff, this.maxRto);
  }

  /** A sample from a packet that was sent exactly once (Karn's rule is the caller's). */
  sample(rttMs: number): void {
    const r = Math.max(rttMs, 0.001);
    this.latest = r;
    this.stale = false;
    if (this.rtt === 0) {
      this.rtt = r;
      this.rttVar = r / 2;
    } else {
      this.rttVar += (Math.abs(this.rtt - r) - this.rttVar) / 4;
      this.rtt += (r - this.rtt) / 8;
    }
  }

  /** Progress was made: forget the backoff. */
  resetBackoff(): void {
    this.backoff = 1;
  }

  onTimeout(): void {
    this.backoff *= 2;
    if (this.backoff > 2) this.stale = true;
  }
}
