import type { ConnectionConfig } from '../config.js';

/**
 * The congestion controller interface. The connection tells it what happened (acks with delay
 * samples, losses, timeouts) and asks how many bytes may be in flight. LEDBAT and the fixed window
 * used by tests plug into the same place.
 */
export interface CongestionController {
  /** Bytes allowed in flight now. */
  readonly window: number;
  /** Growing exponentially (the pacer then lets the window double per RTT). */
  readonly inSlowStart?: boolean;
  /**
   * `ackedBytes` were newly acknowledged. `delaySample` is the peer's echoed
   * timestamp_difference (one-way delay plus clock offset, µs) or undefined; `flightBefore` is
   * the bytes in flight before this ack; `rtt` the smoothed RTT (ms); `now` in ms; `ackRtt` the
   * RTT of the newest packet this ack covers (ms; Infinity when it covers none but resends): a
   * one-way queueing delay above it means the base delay drifted.
   */
  onAck(ackedBytes: number, delaySample: number | undefined, flightBefore: number, rtt: number, now: number, ackRtt?: number): void;
  /**
   * A packet was declared lost by fast retransmit; `sentAt` is when it was (last) sent. Returns
   * whether the window was cut: a cut starts a recovery episode that `onSpuriousLoss` may undo.
   */
  onLoss(sentAt: number, now: number): boolean;
  /**
   * Every packet declared lost since the last cut was acknowledged before its resend: the cut was
   * a mistake (reordering, not loss). Never called while one of them is unaccounted for.
   */
  onSpuriousLoss?(now: number): void;
  /**
   * The sender had nothing in flight for `periods` (>= 1) retransmission timeouts and is about to
   * send again: the window no longer reflects the path (RFC 7661 s4.3; libtorrent decays it by
   * 2/3 per timeout), and sent at once it would be one line-rate burst.
   */
  onIdle?(periods: number, now: number): void;
  /** The retransmission timer fired. */
  onTimeout(now: number): void;
  /** Our timestamp_difference for a packet from the peer (the reverse path), for clock drift. */
  onPeerDelaySample?(sample: number, now: number): void;
  /** Delay-based controllers report what they see. */
  stats?(): CongestionStats;
}

export interface CongestionStats {
  /** Current queueing delay estimate (ms). */
  queuingDelay: number;
  /** Base delay (ms, includes the arbitrary clock offset between the peers). */
  baseDelay: number;
  slowStart: boolean;
}

/**
 * Makes the controller of one connection, from that connection's configuration. `epochOffset`
 * turns the core's clock into the wall clock (`now + epochOffset` = Unix ms; 0 in the simulator).
 */
export type CongestionControllerFactory = (config: ConnectionConfig, epochOffset: number) => CongestionController;
