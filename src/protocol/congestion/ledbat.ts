import type { CongestionController, CongestionStats } from './controller.js';
import { DelayHistory } from './delay-history.js';
import { DOUBLE_ZERO } from '../time.js';

/** Window growth at most this many bytes per RTT (libutp, libtorrent). */
const MAX_GAIN_PER_RTT = 3000;
/** A ramped gain is at most this many times the base gain (a bound, rarely reached). */
const MAX_RAMP = 32;
/** What the window keeps per idle RTO (libtorrent). */
const IDLE_DECAY = 2 / 3;
/** Halve at most once per this many ms. */
const LOSS_CUT_INTERVAL = 100;
/** Samples the current delay is the minimum of (filters out delayed-ACK noise). */
const CURRENT_DELAY_SAMPLES = 3;
/** Slow start ends once the queueing delay reaches this share of the target (libutp 0.9). */
const SLOW_START_EXIT = 0.9;
/** Above this multiple of the target, the window also shrinks multiplicatively. */
const FAR_ABOVE_TARGET = 1.05;
/** Largest clock-drift correction applied at once (µs), as libutp. */
const MAX_DRIFT_STEP = 10_000;
/** The fastest two clocks drift apart (µs per ms: 1000 ppm, far beyond any real crystal's). */
const MAX_DRIFT_RATE = 1;

export interface LedbatOptions {
  /** Target queueing delay in ms (default 100). */
  targetDelay?: number;
  /** Upper bound of the window in bytes (the receive window usually binds first). */
  maxWindow?: number;
  /** Slow start ends at this share of the target (default 0.9, libutp). */
  slowStartExit?: number;
  /** Above this multiple of the target the window shrinks multiplicatively (default 1.05). */
  decreaseAbove?: number;
  /** Share of the excess over the target shed per RTT there (default 0.5). */
  decreaseFactor?: number;
  /**
   * Below the target, the 3000-byte gain per RTT grows by this many times itself for every RTT
   * since the delay was last at the target (default 0: a constant gain, as libutp).
   */
  gainRamp?: number;
}

/**
 * LEDBAT (RFC 6817) as libutp and libtorrent deploy it: queueing delay is the minimum of the last
 * few one-way delay samples minus the base delay (minimum over one-minute buckets); the window
 * grows by at most 3000 bytes per RTT scaled by (target - delay) / target and by the share of the
 * window acknowledged, and shrinks the same way above the target. Slow start doubles per RTT
 * until the delay nears the target or a loss. Loss halves (once per 100 ms, only for packets sent
 * after the previous cut); a timeout drops to one packet and restarts slow start.
 */
export class Ledbat implements CongestionController {
  window: number;
  protected readonly target: number;
  private readonly maxWindow: number;
  private readonly slowStartExit: number;
  private readonly decreaseAbove: number;
  private readonly decreaseFactor: number;
  private readonly gainRamp: number;
  /** When an ACK last found the window full (ms), for the gain ramp. */
  private windowLimitedAt = DOUBLE_ZERO;
  /** When the delay was last at or above the target (ms), for the gain ramp. */
  private lastAtTarget = DOUBLE_ZERO;
  protected slowStart = true;
  protected slowStartThreshold = Infinity;
  protected lastCut = -Infinity;
  /** The window before the last loss cut, while that cut may still be undone. */
  protected beforeCut: number | undefined = undefined;
  private readonly ourHistory = new DelayHistory();
  private readonly theirHistory = new DelayHistory();
  /** When the reverse path's base last changed (ms): drift is bounded by the time since. */
  private theirBaseSince = DOUBLE_ZERO;
  private readonly recent: number[] = [];
  protected queuingDelay = 0;
  /** The RTT of the packet the current delay sample belongs to (ms), for the drift check. */
  protected ackRtt = Infinity;

  constructor(
    protected readonly packetSize: number,
    options: LedbatOptions = {},
  ) {
    this.target = (options.targetDelay ?? 100) * 1000;
    this.maxWindow = options.maxWindow ?? 16 * 1024 * 1024;
    this.slowStartExit = options.slowStartExit ?? SLOW_START_EXIT;
    this.decreaseAbove = options.decreaseAbove ?? FAR_ABOVE_TARGET;
    this.decreaseFactor = options.decreaseFactor ?? 0.5;
    this.gainRamp = options.gainRamp ?? 0;
    this.window = 2 * packetSize;
  }

  get inSlowStart(): boolean {
    return this.slowStart;
  }

  onAck(ackedBytes: number, delaySample: number | undefined, flightBefore: number, rtt: number, now: number, ackRtt = rtt): void {
    this.ackRtt = ackRtt;
    if (delaySample !== undefined) this.addDelaySample(delaySample, now);
    // An application-limited sender earns no growth: the window was not what held it back.
    const windowLimited = flightBefore + this.packetSize >= this.window;
    const offTarget = this.target - this.queuingDelay;
    if (this.slowStart) {
      this.lastAtTarget = now;
      if (this.queuingDelay > this.slowStartExit * this.target) {
        this.slowStart = false;
        this.slowStartThreshold = this.window;
      } else {
        if (windowLimited) this.window += ackedBytes;
        if (this.window >= this.slowStartThreshold) this.slowStart = false;
        this.clamp();
        return;
      }
    }
    const share = Math.min(ackedBytes, this.window) / this.window;
    // Only time spent window-limited below the target ramps the gain up: a sender that was held
    // back by its application for a minute must not come back with a minute's worth of ramp. A
    // real sender is a packet or a few short of its window on a few ACKs in a hundred (ACKs
    // batched, the pacer): only an RTT without being window-limited counts as held back.
    if (windowLimited) this.windowLimitedAt = now;
    if (offTarget <= 0 || now - this.windowLimitedAt > rtt) this.lastAtTarget = now;
    let gainPerRtt = MAX_GAIN_PER_RTT;
    if (this.gainRamp > 0 && rtt > 0) {
      // The same for every flow (it depends on time, not on the window): an equal additive
      // increase, which with a proportional decrease makes windows converge.
      gainPerRtt *= Math.min(MAX_RAMP, 1 + (this.gainRamp * (now - this.lastAtTarget)) / rtt);
    }
    let gain = (gainPerRtt * offTarget * share) / this.target;
    if (gain > 0 && !windowLimited) return;
    if (this.queuingDelay > this.decreaseAbove * this.target) {
      // Far above the target (a slow-start overshoot, or a TCP flow filling the queue): the
      // linear decrease would take many RTTs, so shed half the excess per RTT instead.
      gain = Math.min(gain, -this.decreaseFactor * this.window * (1 - this.target / this.queuingDelay) * share);
    }
    this.window += gain;
    this.clamp();
  }

  /** Our own timestamp_difference for a packet from the peer: the reverse path, for clock drift. */
  onPeerDelaySample(sample: number, now: number): void {
    const before = this.theirHistory.base;
    this.theirHistory.add(sample, now);
    const after = this.theirHistory.base;
    // Their samples are our clock minus theirs; ours are theirs minus ours. Their base falling
    // means our clock runs slow relative to theirs, so our samples creep up and our stale base
    // would read as queueing: raise our base by the same amount (libutp, libtorrent).
    if (before === undefined || after === undefined || before === after) {
      if (before === undefined) this.theirBaseSince = now;
      return;
    }
    const fall = (before - after) | 0;
    if (fall > 0 && fall <= MAX_DRIFT_STEP) {
      // Clocks drift by at most MAX_DRIFT_RATE: a larger fall is the reverse path's own delay
      // going down (a first sample that waited in the peer's event loop, a reverse queue that
      // drained), not drift. Taken whole, it raised a correct base by up to 10 ms, and then
      // every queue read that much too short.
      this.ourHistory.shift(Math.min(fall, Math.ceil((now - this.theirBaseSince) * MAX_DRIFT_RATE)));
    }
    this.theirBaseSince = now;
  }

  onLoss(sentAt: number, now: number): boolean {
    if (sentAt < this.lastCut || now - this.lastCut < LOSS_CUT_INTERVAL) return false;
    this.lastCut = now;
    this.lastAtTarget = now;
    this.beforeCut = this.window;
    this.window = Math.max(this.packetSize, this.window / 2);
    this.slowStart = false;
    this.slowStartThreshold = this.window;
    return true;
  }

  onSpuriousLoss(): void {
    // Reordering, not loss: restore the window the mistaken cut took (as TCP's Eifel undo does).
    if (this.beforeCut === undefined) return;
    this.window = Math.max(this.window, this.beforeCut);
    this.beforeCut = undefined;
  }

  onIdle(periods: number, _now?: number): void {
    const before = this.window;
    this.window = Math.max(2 * this.packetSize, before * IDLE_DECAY ** periods);
    if (this.window >= before) return;
    // Slow start back towards (3/4 of) the old window: the path likely still carries it, but the
    // delay must confirm it first (RFC 7661 keeps ssthresh >= 3/4 of the old cwnd the same way).
    // A decay before that slow start got anywhere keeps its target (as Linux's tcp_cwnd_restart
    // keeps max(ssthresh, 3/4 cwnd)): a few bytes written now and then while idle decay the
    // window once per write, and 3/4 of each decayed window would leave the restart a linear
    // climb from two packets.
    const restarting = this.slowStart && this.slowStartThreshold !== Infinity;
    this.beforeCut = undefined;
    this.slowStart = true;
    this.slowStartThreshold = restarting ? Math.max(this.slowStartThreshold, 0.75 * before) : 0.75 * before;
  }

  onTimeout(now: number): void {
    this.lastCut = now;
    this.beforeCut = undefined;
    this.slowStartThreshold = Math.max(2 * this.packetSize, this.window / 2);
    this.window = this.packetSize;
    this.slowStart = true;
  }

  stats(): CongestionStats {
    return {
      queuingDelay: this.queuingDelay / 1000,
      baseDelay: this.ourHistory.base === undefined ? 0 : this.ourHistory.base / 1000,
      slowStart: this.slowStart,
    };
  }

  protected addDelaySample(sample: number, now: number): void {
    this.ourHistory.add(sample, now);
    this.recent.push(sample);
    if (this.recent.length > CURRENT_DELAY_SAMPLES) this.recent.shift();
    let current = this.recent[0]!;
    for (const s of this.recent) if (((s - current) | 0) < 0) current = s;
    let delay = (current - this.ourHistory.base!) | 0;
    // A one-way queueing delay above the RTT of the same packet is impossible: the base has
    // drifted (libutp compares with that packet's RTT; a smoothed RTT lags a queue that builds
    // within a few RTTs, after a slowdown say, and the check would then raise a correct base).
    const rttMicros = this.ackRtt === Infinity ? 0 : Math.floor(this.ackRtt * 1000);
    if (rttMicros > 0 && delay > rttMicros) {
      this.ourHistory.shift(delay - rttMicros);
      delay = rttMicros;
    }
    this.queuingDelay = Math.max(0, delay);
  }

  private clamp(): void {
    if (this.window < this.packetSize) this.window = this.packetSize;
    if (this.window > this.maxWindow) this.window = this.maxWindow;
  }
}
