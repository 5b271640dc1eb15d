/**
 * Receiver-side ACK frequency (issue 9): when an ACK for in-order DATA may wait.
 *
 * Without it the receiver acks every connection that received anything in a burst of datagrams
 * (the driver flushes once per burst, as libutp's utp_issue_deferred_acks and libtorrent's
 * m_deferred_ack do). One fast flow arrives in long bursts and gets one ACK per ~30 packets, but
 * 64 flows sharing one socket each get a packet or two per burst, so each was acked 0.34-0.69
 * times per DATA packet, and both ends paid a sendmsg and the JS around it for every ACK.
 *
 * The rule (RFC 9000 s13.2 with the ACK-frequency extension's threshold, and Chromium's "ack
 * decimation": ack every quarter of the flight, within a quarter RTT): in-order, full-size DATA
 * that leaves no hole is acked once `threshold()` packets wait, or `delay()` after the first of
 * them arrived (the connection's 'ack' deadline), whichever comes first. The delay is a quarter
 * RTT (at most MAX_ACK_DELAY) and the threshold is the packets the peer's rate brings within it
 * (at most MAX_ACK_THRESHOLD): a quarter of the flight the receiver sees, so at least four ACKs
 * per RTT still reach the sender and its window never waits on us for long. Below
 * MIN_ACK_THRESHOLD (slow start, a small or just-cut window, a lone packet after a pause, no
 * RTT estimate yet, moderate rates) nothing waits. One long gap between packets lowers the rate
 * at once, so a sender that slowed down (a loss, a LEDBAT++ slowdown) is acked promptly at its
 * next packet. Everything else is acked at the next flush as before (the connection decides):
 * out-of-order, duplicate or hole-filling DATA (SACK and loss recovery depend on prompt ACKs),
 * FIN and the DATA that completes the stream, a partial packet (the sender's queue ran dry: its
 * Nagle may be waiting for exactly this ACK), DATA dropped for want of room, a quarter of our
 * advertised window waiting (the sender may be held by our window), the handshake, keepalives,
 * a window reopening after the application read.
 *
 * The ACK that does go out carries the newest timestamp_difference (computed at each packet's
 * arrival, not at the ACK), so LEDBAT's delay samples are as fresh as before, only fewer; and
 * the ACK that the threshold triggers goes out in the same flush as the packet that completed
 * it, so the sender's RTT sample (from the youngest packet acked) is not inflated by the wait.
 *
 * The receiver learns the RTT without sending data, from the peer's timestamps: a packet's
 * timestamp_difference is the peer's clock when our last packet arrived minus that packet's
 * timestamp (our clock), and its own timestamp is the peer's clock when it left; so
 * `our clock now - timestamp + timestamp_difference` is the one-way delay of our last packet
 * plus that of this one, whatever the clocks' offset and however long the peer held on before
 * sending. Pure: no clock, no I/O.
 */

import { DOUBLE_ZERO } from './time.js';

/** Most in-order packets one ACK may cover (Chromium's ack decimation: 10). */
export const MAX_ACK_THRESHOLD = 10;
/**
 * Fewer packets than this expected within the delay: no wait at all. At moderate rates the gain
 * is small and LEDBAT++'s fairness is not: with a threshold of 2, four flows through the
 * simulated 10 Mbit/s bench bottleneck (each ~200 packets/s) ended with one at up to twice the
 * others' share (a slowdown that took longer put it on a period twice as long; Jain 0.75-0.87).
 */
export const MIN_ACK_THRESHOLD = 4;
/**
 * Longest an ACK waits, ms (QUIC's default max_ack_delay is 25): well under the sender's tail-loss
 * probe (at least 20 ms and two RTTs here) and far under libutp's and libtorrent's 500 ms RTO floor.
 */
export const MAX_ACK_DELAY = 10;
/**
 * The same limits while our own input is backlogged (the driver saw a read stop at libuv's 32
 * datagrams per event-loop iteration, Endpoint.inputBacklogUntil): we are the bottleneck, every
 * ACK costs both ends a syscall and the JavaScript around it, and ours go out late anyway. As a
 * kernel's GRO acks a coalesced burst once when its receiver is busy. QUIC's default
 * max_ack_delay is 25 ms; the wait is still a quarter RTT at most, well under the sender's
 * tail-loss delay. At 64 connections on the issue 9 gauge: 0.05-0.10 ACKs per packet instead of
 * 0.12-0.28, x1.30 the aggregate. Not the default: at 25 ms and 32 packets four LEDBAT flows
 * through a 10 Mbit/s bottleneck in the simulator ended at Jain 0.64 and LEDBAT++'s slowdowns
 * lost the link. Not further either: 64 packets or half an RTT gained x1.03-1.06 on the gauge,
 * but in the simulator a sender that does not pace (libutp and libtorrent have no pacer) then
 * sent 88 KB per ACK into a 64 KiB bottleneck queue (6 seeds at 20 MB/s: 4.5-5.1 s instead of
 * 1.85-2.1, drops ~470 instead of ~120), flows held by our window took 1.10-1.20x as long, and two
 * ACKs per RTT left the sender's 3-sample delay filter 1.5 RTT behind, so slow start overshot.
 */
export const BACKLOG_MAX_ACK_THRESHOLD = 32;
export const BACKLOG_MAX_ACK_DELAY = 25;
/** RTT samples above this (µs) are taken for garbage (a peer without timestamps, a clock jump). */
const MAX_RTT_SAMPLE_US = 10_000_000;

export class AckPolicy {
  /** In-order DATA packets (and their payload bytes) received since our ack_nr last went out. */
  private unacked = 0;
  private unackedBytes = 0;
  /** When the first of them arrived (ms). */
  private firstUnackedAt = DOUBLE_ZERO;
  /** Smoothed RTT from the peer's timestamps (ms; 0: no sample yet), and the latest sample. */
  private rtt = DOUBLE_ZERO;
  private latestRtt = DOUBLE_ZERO;
  /** When the last DATA arrived (ms; -Infinity: none yet). */
  private lastArrival = -Infinity;
  /** Smoothed time between DATA arrivals (ms): the inverse of the peer's rate. */
  private gap = Infinity;
  /** Largest DATA payload seen from the peer: smaller ones are partial packets. */
  private largest = 0;
  /** Our input was backlogged at the last DATA (the BACKLOG_ limits apply). */
  private backlogged = false;

  /** Largest DATA payload seen from the peer (0: none). */
  get largestPayload(): number {
    return this.largest;
  }

  /**
   * A valid packet from the peer: an RTT sample from its timestamps (see the file comment).
   * `nowMicros` is our clock as the wire carries it (32-bit µs).
   */
  onTimestamps(timestamp: number, timestampDifference: number, nowMicros: number): void {
    if (timestampDifference === 0 || timestampDifference === 0x7fffffff) return; // the peer has no sample yet
    const us = (nowMicros - timestamp + timestampDifference) | 0;
    if (us <= 0 || us > MAX_RTT_SAMPLE_US) return;
    const ms = us / 1000;
    this.rtt = this.rtt === 0 ? ms : this.rtt + (ms - this.rtt) / 8;
    this.latestRtt = ms;
  }

  /**
   * DATA arrived (any DATA: it measures the peer's rate). `deferrable`: it was in order, left no
   * hole and nothing else makes its ACK urgent; `window` is the receive window our last packet
   * advertised. Returns when its ACK is due: `now` (at this flush) or later (the connection's
   * 'ack' deadline; never later than one already set, which it keeps).
   */
  onData(payloadLength: number, deferrable: boolean, window: number, now: number, backlogged = false): number {
    this.backlogged = backlogged;
    const since = now - this.lastArrival;
    this.lastArrival = now;
    // Averaged over packets, not reset by one long gap: a flow sharing a link with many others
    // arrives in clumps, and resetting on every gap between clumps kept the threshold near 1
    // (16 flows through 20 MB/s in the simulator: 0.29 ACKs per packet instead of 0.1x). A
    // sender that slowed down (a cut window, a LEDBAT++ slowdown) still shows at once: one gap
    // of a few delays raises the average past the delay / MIN_ACK_THRESHOLD that ends waiting.
    this.gap = this.gap === Infinity ? since : this.gap + (since - this.gap) / 8;
    const full = payloadLength >= this.largest;
    if (payloadLength > this.largest) this.largest = payloadLength;
    if (this.unacked === 0) this.firstUnackedAt = now;
    this.unacked++;
    this.unackedBytes += payloadLength;
    if (!deferrable || !full) return now;
    if (this.unacked >= this.threshold()) return now;
    // The sender may be held by our window rather than its own: a quarter of it waiting is enough.
    if (4 * this.unackedBytes >= window) return now;
    return this.firstUnackedAt + this.delay();
  }

  /** A packet carrying our ack_nr went out: nothing waits any more. */
  onAckSent(): void {
    this.unacked = 0;
    this.unackedBytes = 0;
  }

  /**
   * In-order packets one ACK covers: as many as arrive at the peer's rate within the delay
   * (a quarter RTT: a quarter of its flight, so four ACKs per RTT), at most MAX_ACK_THRESHOLD;
   * 1 (no wait) below MIN_ACK_THRESHOLD.
   */
  private threshold(): number {
    const n = Math.min(this.backlogged ? BACKLOG_MAX_ACK_THRESHOLD : MAX_ACK_THRESHOLD, Math.floor(this.delay() / this.gap));
    // (gap is Infinity before a second packet: n = 0.)
    return n < MIN_ACK_THRESHOLD ? 1 : n;
  }

  /**
   * How long an ACK may wait: a quarter RTT, at most MAX_ACK_DELAY; 0 before an RTT sample. The
   * smoothed RTT lags a queue that just drained (a LEDBAT++ slowdown): on it, the regain's slow
   * start on the empty path waited ~10 ms per 3 ms round, so the latest sample bounds it too.
   */
  private delay(): number {
    return Math.min(this.backlogged ? BACKLOG_MAX_ACK_DELAY : MAX_ACK_DELAY, Math.min(this.rtt, this.latestRtt) / 4);
  }
}
