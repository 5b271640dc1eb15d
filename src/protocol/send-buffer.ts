import { PacketType } from './packet.js';
import { SEQ_MASK, seqAdd, seqDiff } from './seq.js';

/** A DATA or FIN packet we sent and the peer has not acknowledged yet. */
export interface OutPacket {
  seq: number;
  type: PacketType.Data | PacketType.Fin;
  payload: Uint8Array;
  /** Last transmission time (ms). */
  sentAt: number;
  transmissions: number;
  /** Marked for resend by a timeout or fast retransmit; sent before new data. */
  needsResend: boolean;
  /** Acknowledged selectively: no longer in flight, but ack_nr has not passed it. */
  sacked: boolean;
}

/**
 * In-flight packets by seq_nr, from the oldest unacknowledged to the next to send.
 * A power-of-two ring indexed by seq_nr; capacity bounds packets in flight.
 */
export class SendBuffer {
  private readonly slots: (OutPacket | undefined)[];
  private readonly mask: number;
  /** Oldest unacknowledged seq_nr. */
  oldest: number;
  /** Packets between `oldest` and the next seq_nr, sacked or not. */
  count = 0;

  constructor(firstSeq: number, readonly capacity = 4096) {
    this.slots = new Array<OutPacket | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.oldest = firstSeq & SEQ_MASK;
  }

  get full(): boolean {
    return this.count >= this.capacity - 1;
  }

  /** Sequence number after the newest packet. */
  get next(): number {
    return seqAdd(this.oldest, this.count);
  }

  push(packet: OutPacket): void {
    this.slots[packet.seq & this.mask] = packet;
    this.count++;
  }

  get(seq: number): OutPacket | undefined {
    const d = seqDiff(this.oldest, seq);
    if (d < 0 || d >= this.count) return undefined;
    return this.slots[seq & this.mask];
  }

  /** Removes and returns the oldest packet. */
  shift(): OutPacket | undefined {
    if (this.count === 0) return undefined;
    const index = this.oldest & this.mask;
    const packet = this.slots[index];
    this.slots[index] = undefined;
    this.oldest = seqAdd(this.oldest, 1);
    this.count--;
    return packet;
  }
}
