import { Ledbat, type LedbatOptions } from './ledbat.js';

/** RTTs after slow start before the first slowdown is due (LEDBAT++ s4.4): then at the next epoch. */
const INITIAL_SLOWDOWN_AFTER = 2;
/** The first slowdown holds the window at its floor this many RTTs (LEDBAT++). */
const INITIAL_HOLD_RTTS = 2;
/**
 * Packets acknowledged after our flight drained to the floor: by then samples of the drained
 * queue came back. Packets, not ACKs: a receiver that acks several packets at once (ours at high
 * rates, see ack-policy.ts; libutp and libtorrent once per burst read) would otherwise hold the
 * floor for longer, as the drain's last packets share one ACK.
 */
const ACKS_AFTER_DRAIN = 3;
/** The window a slowdown holds (packets; LEDBAT++). */
const FLOOR_PACKETS = 2;
/** Windows (packets) too small to leave a queue behind are not slowed down. */
const MIN_SLOWDOWN_PACKETS = 4;
/** Slowdowns take at most about 1 / (1 + this) of the time (LEDBAT++: 9). */
const SLOWDOWN_INTERVAL = 9;
/** The shortest period between slowdowns (ms); periods are this times a power of two. */
const EPOCH_UNIT = 1000;
/** Share of the window before a slowdown that slow start regains: the fairness step. */
const REGAIN_TO = 0.7;
/** Share of that regained window slow start resumes from (not 2 packets: the link would idle). */
const REGAIN_FROM = 0.25;
/**
 * A slowdown and its regain take a few RTTs of a backlogged sender (at most two held, under two
 * doublings back to 70%; up to ~8 smoothed RTTs in the fairness scenarios). One that took longer
 * was held back by its application, and nine times all of it would put the next re-measurement of
 * the base off for many minutes: the period counts at most this many RTTs of it.
 */
const MAX_SLOWDOWN_RTTS = 16;
/** A slowdown this many RTTs past its epoch is missed, not late: the next epoch takes it. */
const LATE_RTTS = 2;
/** Growth below the target speeds up by this many times the base gain per RTT spent there. */
const GAIN_RAMP = 2;

export interface LedbatPlusPlusOptions extends LedbatOptions {
  /**
   * `now + epochOffset` is the wall clock (Unix ms): slowdowns fall on common instants of it, so
   * that flows of other processes on the host (and of hosts whose clocks agree) drain a shared
   * queue together. 0 in the simulator, whose clock is shared.
   */
  epochOffset?: number;
}

type Phase = 'start' | 'normal' | 'slowdown' | 'regain';

/**
 * LEDBAT that is fair to itself (docs/ledbat-fairness.md): RFC 6817 LEDBAT on µTP's one-way delay
 * and 100 ms target, plus, all on the sender (no wire change):
 *
 * - LEDBAT++'s periodic slowdowns (draft-irtf-iccrg-ledbat-plus-plus s4.4): the window drops to
 *   two packets until the queue has drained and samples of the empty path came back, then slow
 *   start regains it. Every flow's base delay (a minimum) is re-measured on an empty path, so a
 *   flow that started against another's standing queue does not take that queue for the path
 *   (the latecomer advantage) and no base drifts up. Unlike LEDBAT++, slowdowns fall on common
 *   instants of the wall clock (multiples of a power-of-two number of seconds, at least nine
 *   times a slowdown's duration): flows that slowed down one by one never saw an empty queue
 *   when others kept theirs standing (four flows through a 5 Mbit/s link kept 20 ms).
 * - Slow start regains 70% of the window before the slowdown, not all of it: a multiplicative
 *   decrease at every slowdown. With the equal additive increase of every flow, that makes windows
 *   converge (AIMD); LEDBAT's own decrease only acts above the target, where flows hardly go.
 * - The additive increase below the target ramps up with the time spent there (GAIN_RAMP), so a
 *   window cut by 30% at 50 Mbit/s regains the target within a slowdown period instead of tens of
 *   seconds at libutp's fixed 3000 bytes per RTT; the scaling by the distance to the target still
 *   stops it there.
 * - LEDBAT++'s earlier slow-start exit (3/4 of the target). Above the target it sheds half the
 *   excess per RTT, as classic LEDBAT here does: LEDBAT++'s whole excess (s4.2) with the ramp made
 *   a small window on a slow link (six packets at 50 kB/s) swing between 20 and 220 ms.
 */
export class LedbatPlusPlus extends Ledbat {
  private phase: Phase = 'start';
  private nextSlowdownAt = Infinity;
  /** When the last slowdown began (ms; -Infinity before the first). */
  private slowdownStart = -Infinity;
  private duration = 0;
  private holdUntil = 0;
  private saved = 0;
  private slowedBefore = false;
  /** Packets acked since our flight fell under the floor in this slowdown; -1 before. */
  private acksAfterDrain = -1;
  private readonly epochOffset: number;

  constructor(packetSize: number, options: LedbatPlusPlusOptions = {}) {
    super(packetSize, { slowStartExit: 0.75, gainRamp: GAIN_RAMP, ...options });
    // Not a number (a broken clock source): epochs of the core clock, rather than none at all.
    const epochOffset = options.epochOffset ?? 0;
    this.epochOffset = Number.isFinite(epochOffset) ? epochOffset : 0;
  }

  override onAck(ackedBytes: number, delaySample: number | undefined, flightBefore: number, rtt: number, now: number, ackRtt = rtt): void {
    if (this.phase === 'slowdown') {
      this.ackRtt = ackRtt;
      if (delaySample !== undefined) this.addDelaySample(delaySample, now);
      if (this.acksAfterDrain >= 0) this.acksAfterDrain += Math.max(1, Math.round(ackedBytes / this.packetSize));
      else if (flightBefore - ackedBytes < this.window) this.acksAfterDrain = 0;
      // The first slowdown holds LEDBAT++'s two RTTs: a latecomer's comes while the incumbents
      // still shrink from its slow start, and their queue must have gone too.
      const drained = this.slowedBefore && this.acksAfterDrain >= ACKS_AFTER_DRAIN;
      if (now < this.holdUntil && !drained) return;
      this.slowedBefore = true;
      this.phase = 'regain';
      this.slowStart = true;
      this.slowStartThreshold = Math.max(REGAIN_TO * this.saved, FLOOR_PACKETS * this.packetSize);
      this.window = Math.max(this.window, REGAIN_FROM * this.slowStartThreshold);
    }
    super.onAck(ackedBytes, delaySample, flightBefore, rtt, now, ackRtt);
    if (this.slowStart) return;
    if (this.phase === 'start') {
      this.phase = 'normal';
      this.nextSlowdownAt = this.nextEpoch(now + INITIAL_SLOWDOWN_AFTER * rtt, INITIAL_SLOWDOWN_AFTER * rtt);
    } else if (this.phase === 'regain') {
      this.phase = 'normal';
      const took = now - this.slowdownStart;
      this.duration = rtt > 0 ? Math.min(took, MAX_SLOWDOWN_RTTS * rtt) : took;
      this.nextSlowdownAt = this.nextEpoch(now, this.duration);
    } else if (now >= this.nextSlowdownAt) {
      const small = this.window < MIN_SLOWDOWN_PACKETS * this.packetSize;
      const missed = rtt > 0 && now - this.nextSlowdownAt > LATE_RTTS * rtt;
      if (small || missed) {
        // Skipped (a small window) or missed (a slow start after idle held it past its instant):
        // left due, it would come whenever that ended, at no common instant, when the other
        // flows' queues still stand.
        this.nextSlowdownAt = this.nextEpoch(now, this.duration);
        return;
      }
      this.phase = 'slowdown';
      this.saved = this.window;
      this.window = FLOOR_PACKETS * this.packetSize;
      this.slowdownStart = now;
      this.holdUntil = now + INITIAL_HOLD_RTTS * rtt;
      this.acksAfterDrain = -1;
    }
  }

  override onLoss(sentAt: number, now: number): boolean {
    const cut = super.onLoss(sentAt, now);
    // A loss while held at the floor: the window to regain is what the loss leaves of it.
    if (cut && this.phase === 'slowdown') this.saved /= 2;
    return cut;
  }

  override onSpuriousLoss(): void {
    // An undo would restore a window from before the slowdown into the middle of it.
    if (this.phase === 'slowdown') return;
    if (this.beforeCut !== undefined && this.lastCut < this.slowdownStart) {
      // The mistaken cut came before the last slowdown, which saved the cut window: what the cut
      // took back is 70% of the window before it, as the slowdown's regain, not all of it at once.
      const regainTo = REGAIN_TO * this.beforeCut;
      if (this.phase === 'regain') this.slowStartThreshold = Math.max(this.slowStartThreshold, regainTo);
      else this.window = Math.max(this.window, regainTo);
      this.beforeCut = undefined;
      return;
    }
    super.onSpuriousLoss();
  }

  override onIdle(periods: number, now: number): void {
    if (this.phase === 'slowdown' || this.phase === 'regain') {
      // The sender went quiet mid-slowdown: decay what it had before, and slow down at the next
      // epoch as usual.
      if (this.phase === 'slowdown') this.window = this.saved;
      this.phase = 'normal';
      this.nextSlowdownAt = this.nextEpoch(now, this.duration);
    }
    super.onIdle(periods, now);
  }

  override onTimeout(now: number): void {
    // The flight at a slowdown's start is the whole window before it, so the timer may fire while
    // the window sits at the floor: halve the window the path carried, not the floor (which left
    // a two-packet slow-start target and a linear climb from there).
    if (this.phase === 'slowdown') this.window = this.saved;
    super.onTimeout(now);
    this.phase = 'start';
    this.nextSlowdownAt = Infinity;
  }

  /** The first epoch after `after` whose period (a power of two of EPOCH_UNIT) spans SLOWDOWN_INTERVAL durations. */
  private nextEpoch(after: number, duration: number): number {
    let period = EPOCH_UNIT;
    while (period < SLOWDOWN_INTERVAL * duration) period *= 2;
    const wall = after + this.epochOffset;
    return (Math.floor(wall / period) + 1) * period - this.epochOffset;
  }
}
