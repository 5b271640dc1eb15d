import { Ledbat, type LedbatOptions } from './ledbat.js';

/** RTTs the initial slowdown waits after slow start ends (LEDBAT++ s4.4). */
const INITIAL_SLOWDOWN_AFTER = 2;
/** RTTs a slowdown holds the window at its floor: long enough for the queue to drain. */
const SLOWDOWN_RTTS = 2;
/** The next slowdown comes this many times its duration later: at most ~10% of the time slowed. */
const SLOWDOWN_INTERVAL = 9;
/** Share of the window before the slowdown that slow start resumes from. */
const REGAIN_FROM = 0.25;
/** Windows (in packets) too small to leave a queue behind are not slowed down. */
const MIN_SLOWDOWN_PACKETS = 4;

type Phase = 'start' | 'normal' | 'slowdown' | 'regain';

/**
 * PROTOTYPE (not the default; see docs/ledbat-fairness.md): LEDBAT with LEDBAT++'s periodic
 * slowdowns (draft-irtf-iccrg-ledbat-plus-plus s4.4), its earlier slow-start exit (3/4 of the
 * target) and a full multiplicative decrease above the target (s4.2), on µTP's one-way delay and
 * 100 ms target, sender-only (no wire change).
 *
 * Why it helps a latecomer and the incumbent both: every flow regularly drops its window to two
 * packets for two RTTs, so the queue it built drains and its base delay (a minimum) is measured
 * on an empty path; a latecomer's first slowdown comes two RTTs after its slow start, while the
 * incumbents' multiplicative decrease (the overshoot is far above their target) has shrunk their
 * share of the queue. Proportional decrease makes windows converge instead of moving in parallel.
 * A slowdown costs at most ~10% of the time at a reduced window (less: the queue keeps the link
 * busy while it drains).
 */
export class LedbatPlusPlus extends Ledbat {
  private phase: Phase = 'start';
  private nextSlowdownAt = Infinity;
  private slowdownStart = 0;
  private holdUntil = 0;
  private saved = 0;

  constructor(packetSize: number, options: LedbatOptions = {}) {
    super(packetSize, { slowStartExit: 0.75, decreaseAbove: 1, decreaseFactor: 1, ...options });
  }

  override onAck(ackedBytes: number, delaySample: number | undefined, flightBefore: number, rtt: number, now: number): void {
    if (this.phase === 'slowdown') {
      if (now < this.holdUntil) {
        if (delaySample !== undefined) this.addDelaySample(delaySample, now);
        return;
      }
      // The queue had its chance to drain: slow start back to the window before the slowdown.
      this.phase = 'regain';
      this.slowStart = true;
      this.slowStartThreshold = this.saved;
      this.window = Math.max(this.window, REGAIN_FROM * this.saved);
    }
    super.onAck(ackedBytes, delaySample, flightBefore, rtt, now);
    if (this.slowStart) return;
    if (this.phase === 'start') {
      this.phase = 'normal';
      this.nextSlowdownAt = now + INITIAL_SLOWDOWN_AFTER * rtt;
    } else if (this.phase === 'regain') {
      this.phase = 'normal';
      this.nextSlowdownAt = now + SLOWDOWN_INTERVAL * (now - this.slowdownStart);
    } else if (now >= this.nextSlowdownAt && this.window >= MIN_SLOWDOWN_PACKETS * this.packetSize) {
      this.phase = 'slowdown';
      this.saved = this.window;
      this.window = 2 * this.packetSize;
      this.slowdownStart = now;
      this.holdUntil = now + SLOWDOWN_RTTS * rtt;
    }
  }

  override onTimeout(now: number): void {
    super.onTimeout(now);
    this.phase = 'start';
    this.nextSlowdownAt = Infinity;
  }
}
