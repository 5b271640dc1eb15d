import { freeDatagram } from './datagram-pool.js';
import { PacketType } from './packet.js';
import { SEQ_MASK, seqAdd, seqDiff } from './seq.js';

/** Slots allocated at the first push (none before: an idle connection holds no ring at all). */
const INITIAL_SLOTS = 16;

/** The ring of every send buffer that never held a packet: shared, never written (push grows first). */
const NO_SLOTS: (OutPacket | undefined)[] = [];

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
  /** The loss detector's recovery episode it was last declared lost in (0: never). */
  lostIn: number;
  /**
   * The buffer of its first transmission, which `payload` is a view of, while it may go back to
   * the datagram pool: `holds` counts who still needs it (this send buffer until the packet is
   * acknowledged, the OS until the driver releases that transmission); the last one frees it.
   * 0 when it is never freed (a driver that does not release, a packet built by a re-split).
   */
  datagram: Uint8Array | undefined;
  holds: number;
}

/** One holder of `out`'s first datagram is done with it; the last one hands it back to the pool. */
export function dropHold(out: OutPacket): void {
  if (out.holds === 0 || --out.holds > 0) return;
  freeDatagram(out.datagram!);
  out.datagram = undefined;
}

/**
 * In-flight packets by seq_nr, from the oldest unacknowledged to the next to send.
 * A power-of-two ring indexed by seq_nr, allocated at the first push and doubled as the window
 * needs it, up to `capacity`, which bounds packets in flight. Until then it is an empty array:
 * 64 eager slots were ~560 bytes, an eighth of an idle connection end (issue 9).
 */
export class SendBuffer {
  private slots: (OutPacket | undefined)[] = NO_SLOTS;
  private mask = 0;
  /** Oldest unacknowledged seq_nr. */
  oldest: number;
  /** Packets between `oldest` and the next seq_nr, sacked or not. */
  count = 0;

  constructor(firstSeq: number, readonly capacity = 4096) {
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
    if (this.count + 1 >= this.slots.length) this.grow();
    this.slots[packet.seq & this.mask] = packet;
    this.count++;
  }

  private grow(): void {
    const old = this.slots;
    const size = old.length === 0 ? Math.min(INITIAL_SLOTS, this.capacity) : old.length * 2;
    this.slots = new Array<OutPacket | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (let i = 0, seq = this.oldest; i < this.count; i++, seq = seqAdd(seq, 1)) {
      this.slots[seq & this.mask] = old[seq & (old.length - 1)];
    }
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

  /** Removes and returns the newest packet (re-splitting packets the OS refused as too large). */
  pop(): OutPacket | undefined {
    if (this.count === 0) return undefined;
    const index = seqAdd(this.oldest, this.count - 1) & this.mask;
    const packet = this.slots[index];
    this.slots[index] = undefined;
    this.count--;
    return packet;
  }
}
