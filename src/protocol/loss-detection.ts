import type { CongestionController } from './congestion/controller.js';
import type { ConnectionTimers } from './connection-timers.js';
import { PacketType } from './packet.js';
import type { RttEstimator } from './rtt.js';
import type { OutPacket, SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff } from './seq.js';
import type { ConnectionCounters } from './stats.js';
import { DOUBLE_ZERO } from './time.js';

/** SACKed packets above a hole that declare it lost (BEP 29, libutp, libtorrent). */
const SACK_LOSS_THRESHOLD = 3;
/** The loss threshold grows with the reordering we observe, up to this many packets. */
const MAX_REORDER_THRESHOLD = 32;
const DUP_ACK_THRESHOLD = 3;
/**
 * Round trips after which the reorder threshold falls back to the reordering seen during them
 * (halving at most per period): a path that reordered once must not keep SACK loss detection
 * off for small windows for the rest of the connection (RACK ages its reordering window too,
 * RFC 8985 s6.2).
 */
const REORDER_DECAY_RTTS = 8;
/** Floor of the tail-loss timer (ms): below it, scheduling noise would look like loss. */
export const MIN_TAIL_LOSS_DELAY = 20;
/**
 * While our input is backlogged, the probe's answer is awaited at most this many tail-loss delays
 * after it went out (3 times its usual 2): 120 ms at the 20 ms floor, where the issue 9 gauge read
 * its ACKs up to 65 ms late. Bounds what a flood of datagrams keeping the backlog mark set can do.
 */
const MAX_PROBE_WAIT_BACKLOGGED = 6;

/** What the detector may do to the connection's send-side bookkeeping. */
export interface LossHost {
  /** Marks `out` for resend: it leaves the bytes in flight and goes out before new data. */
  markLost(out: OutPacket): void;
  /** Packets were marked for resend outside a flush: flush soon. */
  requestFlush(): void;
  /** Retransmits `out` now, whatever the window (a tail-loss probe): it stays in flight. */
  sendProbe(out: OutPacket, now: number): void;
  /** Until then datagrams are probably waiting unread in our socket (see Endpoint.inputBacklogUntil). */
  readonly inputBacklogUntil: number;
}

/**
 * Decides which packets in flight are lost: SACK holes (3 packets acked above, more while the
 * path reorders), 3 duplicate STATE acks, a tail-loss probe when the ACK clock stops with data in
 * flight (RACK-TLP) and the retransmission timeout. It tells the congestion controller about
 * losses, and undoes a cut only when every packet declared lost since proved spurious.
 *
 * Calling contract: owned by one `Connection`, which calls, always with the current time:
 * - `onDelivered(out)` for every packet the peer newly acknowledges (cumulatively or selectively),
 *   before the connection does its own bookkeeping for it (`out.needsResend` still set when it
 *   was declared lost), with `sacked` saying which kind of ack it was;
 * - `afterCumulativeAck()` once the cumulative ack_nr of a packet was applied, before its SACK;
 * - `onSelectiveAck(...)` once a SACK's bits were applied, `onAckNr(...)` last for every valid
 *   packet carrying an ack_nr (duplicate acks, the probe's answer, the reorder threshold's decay),
 *   `onProgress` when an ack acknowledged something, `onTransmit` for every DATA/FIN transmission;
 * - `onTailLossTimer` / `onRetransmitTimeout` when those deadlines pass.
 * It mutates only its own fields, the `tailLoss` deadline of the timers, packets' `lostIn`, the
 * loss counters and the controller; packets are marked for resend through `LossHost.markLost`.
 * The only packet it makes the connection send is the tail-loss probe (`LossHost.sendProbe`);
 * when the probe reveals losses it asks for a flush (`LossHost.requestFlush`).
 */
export class LossDetector {
  /** Consecutive duplicate STATE acks of the same ack_nr. */
  dupAcks = 0;
  /** The ack_nr of the last valid, non-stale packet: duplicate acks repeat it. */
  lastAckReceived: number;
  /** Highest seq_nr selectively acked so far (undefined when none is above ack_nr). */
  private highestSacked: number | undefined = undefined;
  /**
   * Packets that must be acked above a hole before it counts as lost. Starts at 3 (BEP 29) and
   * rises to the reordering distance actually seen: a packet sent once and acked after later
   * ones were SACKed arrived out of order, not lost. Decays back (see REORDER_DECAY_RTTS).
   */
  reorderThreshold = SACK_LOSS_THRESHOLD;
  /** Largest reordering distance (packets) seen in the current decay period, and when it began. */
  private reorderSeen = 0;
  private reorderPeriodStart = DOUBLE_ZERO;
  /** Latest (last-)transmission time of any packet the peer acknowledged: delivery order evidence. */
  private latestDeliveredSentAt = -Infinity;
  /** The tail-loss timer may be armed: once per period of ACK progress. */
  private tailLossArmed = true;
  /**
   * The recovery episode of the controller's last cut (numbered from 1) and how many packets
   * declared lost in it are not yet proven spurious. The cut may be undone only once that count
   * is back to 0: a packet declared lost and then resent can never be proven (its ACK may be the
   * resend's), so one real loss among reordered packets keeps the cut.
   */
  private episode = 0;
  private unproven = 0;
  private undoable = false;
  /** The packet the last tail-loss probe resent, while it awaits its ACK (RFC 8985 s7). */
  private probeSeq: number | undefined = undefined;
  private probeSentAt = DOUBLE_ZERO;
  /**
   * What became of the probe so far: its packet was acknowledged ('answered': what was sent
   * before it and is still missing is lost); or not yet, and ACKs have acknowledged other packets
   * since it went out ('progress': the ACK clock still runs, its ACKs are late) or none have
   * ('waiting').
   */
  private probeState: 'waiting' | 'progress' | 'answered' = 'waiting';

  constructor(
    private readonly sendBuffer: SendBuffer,
    private readonly rtt: RttEstimator,
    private readonly cc: CongestionController,
    private readonly counters: ConnectionCounters,
    private readonly timers: ConnectionTimers,
    private readonly host: LossHost,
    lastAckReceived: number,
  ) {
    this.lastAckReceived = lastAckReceived;
  }

  /** The peer has `out` now (first acknowledgement of it). */
  onDelivered(out: OutPacket, sacked: boolean, now: number): void {
    if (out.sentAt > this.latestDeliveredSentAt) this.latestDeliveredSentAt = out.sentAt;
    if (out.seq === this.probeSeq) this.probeState = 'answered';
    if (out.transmissions === 1) {
      const behind = this.highestSacked === undefined ? 0 : seqDiff(out.seq, this.highestSacked);
      if (behind > this.reorderSeen) this.reorderSeen = behind;
      if (behind >= this.reorderThreshold) this.reorderThreshold = Math.min(behind + 1, MAX_REORDER_THRESHOLD);
      // Declared lost, yet here it is, never resent: it was only reordered.
      if (out.needsResend && out.lostIn === this.episode && this.undoable && --this.unproven === 0) {
        this.undoable = false;
        this.cc.onSpuriousLoss?.(now);
      }
    }
    if (sacked && (this.highestSacked === undefined || seqDiff(this.highestSacked, out.seq) > 0)) this.highestSacked = out.seq;
  }

  afterCumulativeAck(): void {
    if (this.highestSacked !== undefined && seqDiff(this.highestSacked, this.sendBuffer.oldest) > 0) this.highestSacked = undefined;
  }

  /**
   * A SACK whose `bits` (from ack_nr + 2) were applied, `sackedTotal` of them set for packets in
   * flight: a packet with at least the reorder threshold of packets acked above it is lost.
   * Resends at most `maxResends` per ack (libutp 4, libtorrent 5).
   */
  onSelectiveAck(ack: number, bits: number, sackedTotal: number, maxResends: number, now: number): void {
    const threshold = this.reorderThreshold;
    if (sackedTotal < threshold) return;
    let sackedAbove = sackedTotal;
    let resends = 0;
    for (let i = -1; i < bits && sackedAbove >= threshold; i++) {
      const out = this.sendBuffer.get(seqAdd(ack, 2 + i));
      if (!out) continue;
      if (out.sacked) {
        sackedAbove--;
        continue;
      }
      if (!this.mayDeclareLost(out)) continue;
      this.declareLost(out, now);
      if (++resends >= maxResends) break;
    }
  }

  /**
   * Every valid packet's ack_nr, after its acks were applied. `stale`: below the ack_nr already
   * seen (reordered); `ackedSomething`: it moved ack_nr; `ackedBytes`: newly acked payload.
   * Duplicate acks count only on STATE: DATA in a two-way transfer repeats ack_nr legitimately.
   */
  onAckNr(type: PacketType, ack: number, stale: boolean, ackedSomething: boolean, ackedBytes: number, now: number): void {
    if (ackedSomething) {
      this.dupAcks = 0;
    } else if (!stale && type === PacketType.State && ack === this.lastAckReceived && this.sendBuffer.count > 0 && ackedBytes === 0) {
      if (++this.dupAcks === DUP_ACK_THRESHOLD) {
        const oldest = this.sendBuffer.get(this.sendBuffer.oldest);
        if (oldest && !oldest.sacked && this.mayDeclareLost(oldest)) this.declareLost(oldest, now);
      }
    }
    if (!stale) this.lastAckReceived = ack;
    if (this.probeSeq !== undefined) this.settleProbe(now);
    if (now - this.reorderPeriodStart >= REORDER_DECAY_RTTS * Math.max(this.rtt.rtt, MIN_TAIL_LOSS_DELAY)) this.decayReorderThreshold(now);
  }

  private decayReorderThreshold(now: number): void {
    const floor = Math.max(SACK_LOSS_THRESHOLD, this.reorderSeen + 1, this.reorderThreshold >> 1);
    if (floor < this.reorderThreshold) this.reorderThreshold = floor;
    this.reorderSeen = 0;
    this.reorderPeriodStart = now;
  }

  /**
   * RACK for the probe (RFC 8985 s7.4): once the probe's packet is acknowledged, the packets sent
   * before it and still missing were lost (the tail of a burst): one loss event for all of them.
   * Forgotten once it left the send buffer without that (everything before it arrived).
   */
  private settleProbe(now: number): void {
    const probe = this.sendBuffer.get(this.probeSeq!);
    if (probe !== undefined && this.probeState !== 'answered') return;
    this.probeSeq = undefined;
    this.probeState = 'waiting';
    let oldestSent = Infinity;
    let lost = 0;
    for (let i = 0, seq = this.sendBuffer.oldest; i < this.sendBuffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = this.sendBuffer.get(seq)!;
      if (out.sacked || out.needsResend || out.sentAt >= this.probeSentAt) continue;
      if (out.sentAt < oldestSent) oldestSent = out.sentAt;
      lost++;
    }
    if (lost === 0) return;
    this.onLoss(oldestSent, now);
    for (let i = 0, seq = this.sendBuffer.oldest; i < this.sendBuffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = this.sendBuffer.get(seq)!;
      if (out.sacked || out.needsResend || out.sentAt >= this.probeSentAt) continue;
      this.markLost(out);
      this.counters.fastRetransmits++;
    }
    this.host.requestFlush();
  }

  /** An ack acknowledged something: the ACK clock runs, so the tail-loss timer starts over. */
  onProgress(now: number): void {
    if (this.probeSeq !== undefined && this.probeState === 'waiting') this.probeState = 'progress';
    this.tailLossArmed = true;
    this.timers.clear('tailLoss');
    // A zero-byte FIN counts too: a receiver drops a FIN that overtook the last DATA, and the
    // tail-loss timer resends it sooner than the RTO.
    if (this.sendBuffer.count > 0) this.armTailLoss(now);
  }

  /** A DATA or FIN packet was (re)transmitted. */
  onTransmit(now: number): void {
    if (this.timers.tailLoss === Infinity) this.armTailLoss(now);
  }

  /**
   * The ACK clock stopped for a couple of RTTs with data in flight: either the tail of a burst
   * was lost (nothing above it arrived to trigger SACK or duplicate ACKs) or the ACKs are only
   * late (a receiver's GC pause, a delay spike). Resend ONE packet, the newest outstanding, to
   * tell them apart (RFC 8985 s7): its ACK either covers everything (late, nothing lost) or shows
   * what is missing below it (see settleProbe). Nothing is declared lost and the window is not
   * cut until then. If the probe too goes unanswered for twice as long, with no ACK progress
   * since, what was sent before it is presumed lost (before the RTO's 500 ms floor: a shallow
   * queue drops probes too). If ACKs did progress meanwhile, the path is alive and its ACKs are
   * late, so the timer sends a new probe instead: a busy sender reads its ACKs late (libuv reads
   * 32 datagrams per socket per event-loop iteration; at 64 connections on the issue 9 gauge its
   * ACKs waited 41 ms in the socket, median), and presuming the flight lost then declared up to
   * 12,820 delivered packets lost per 128 MiB. For the same reason nothing is presumed while the
   * host says datagrams wait unread in our socket (`inputBacklogUntil`): the timer looks again later,
   * up to MAX_PROBE_WAIT_BACKLOGGED tail-loss delays after the probe (the RTO still fires on time).
   */
  onTailLossTimer(now: number): void {
    this.timers.clear('tailLoss');
    this.tailLossArmed = false;
    if (this.probeSeq !== undefined && this.probeState !== 'progress') {
      const delay = this.tailLossDelay();
      // The probe's ACK may be among the datagrams we have not read yet: look again later, but
      // not forever. Anyone who can reach our port keeps the mark set (the driver counts every
      // datagram read, junk and spoofed sources included), and an endless deferral would leave
      // every tail loss to the RTO: 500 ms at least and the window collapsed to one packet.
      const latest = this.probeSentAt + MAX_PROBE_WAIT_BACKLOGGED * delay;
      if (now < this.host.inputBacklogUntil && now < latest) {
        const at = Math.min(now + delay, latest);
        if (at < this.timers.rto) this.timers.arm('tailLoss', at);
        return;
      }
      this.probeState = 'answered';
      this.settleProbe(now);
      return;
    }
    for (let i = this.sendBuffer.count - 1; i >= 0; i--) {
      const out = this.sendBuffer.get(seqAdd(this.sendBuffer.oldest, i))!;
      if (out.sacked || out.needsResend) continue;
      this.probeSeq = out.seq;
      this.probeSentAt = now;
      this.probeState = 'waiting';
      this.host.sendProbe(out, now);
      const wait = 2 * this.tailLossDelay();
      if (now + wait < this.timers.rto) this.timers.arm('tailLoss', now + wait);
      return;
    }
  }

  /** The retransmission timer fired: everything in flight is presumed lost (the controller was told). */
  onRetransmitTimeout(): void {
    this.timers.clear('tailLoss');
    this.tailLossArmed = false;
    this.probeSeq = undefined;
    this.undoable = false; // the controller forgot the cut (a timeout is never undone)
    for (let i = 0, seq = this.sendBuffer.oldest; i < this.sendBuffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = this.sendBuffer.get(seq)!;
      if (!out.sacked && !out.needsResend) this.host.markLost(out);
    }
  }

  /**
   * Whether loss evidence may (re)declare this unacked packet lost: not when already marked, nor
   * when resent after the newest packet known delivered, as its resend may still be on the way
   * (RACK's rule, RFC 8985).
   */
  private mayDeclareLost(out: OutPacket): boolean {
    return !out.needsResend && (out.transmissions === 1 || out.sentAt < this.latestDeliveredSentAt);
  }

  /** Fast-retransmit decision (SACK or duplicate acks): resend it and tell the controller. */
  private declareLost(out: OutPacket, now: number): void {
    this.onLoss(out.sentAt, now);
    this.markLost(out);
    this.counters.fastRetransmits++;
  }

  /** Tells the controller; a cut starts a new recovery episode. */
  private onLoss(sentAt: number, now: number): void {
    if (!this.cc.onLoss(sentAt, now)) return;
    this.episode++;
    this.unproven = 0;
    this.undoable = true;
  }

  /** Marks a packet lost in the current episode (which it may prove spurious). */
  private markLost(out: OutPacket): void {
    this.host.markLost(out);
    out.lostIn = this.episode;
    this.unproven++;
  }

  /** How long without ACK progress means the tail was lost: two RTTs plus variance, 20 ms at least. */
  private tailLossDelay(): number {
    const r = this.rtt;
    return Math.max(2 * r.rtt + 4 * r.rttVar, MIN_TAIL_LOSS_DELAY);
  }

  private armTailLoss(now: number): void {
    if (!this.tailLossArmed || !this.rtt.hasSample) return;
    const delay = this.tailLossDelay();
    if (delay >= this.rtt.rto) return; // the RTO comes first anyway
    this.timers.arm('tailLoss', now + delay);
  }
}
