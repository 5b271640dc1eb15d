/**
 * The congestion controller interface. The connection tells it what happened (acks with delay
 * samples, losses, timeouts) and asks how many bytes may be in flight. LEDBAT and the fixed window
 * used by tests plug into the same place.
 */
export interface CongestionController {
  /** Bytes allowed in flight now. */
  readonly window: number;
  /**
   * `ackedBytes` were newly acknowledged. `delaySample` is the peer's echoed
   * timestamp_difference (one-way delay plus clock offset, µs) or undefined; `flightBefore` is
   * the bytes in flight before this ack; `now` in ms.
   */
  onAck(ackedBytes: number, delaySample: number | undefined, flightBefore: number, rtt: number, now: number): void;
  /** A packet was declared lost by fast retransmit; `sentAt` is when it was (last) sent. */
  onLoss(sentAt: number, now: number): void;
  /** The retransmission timer fired. */
  onTimeout(now: number): void;
}

export type CongestionControllerFactory = (packetSize: number) => CongestionController;
