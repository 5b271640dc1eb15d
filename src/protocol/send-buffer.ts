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
  /** Payload bytes. */
  size: number;
  /**
   * Holds the payload at `payloadAt`: the first transmission's datagram (header before it), or
   * the payload alone (FIN, re-split packets). No view of it per packet: a typed array is dear
   * to make (see datagram-pool.ts) and only resends read the bytes again (payloadOf).
   */
  bytes: Uint8Array;
  payloadAt: number;
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
   * While `bytes` is a datagram that goes back to the pool: who still needs it (this send buffer
   * until the packet is acknowledged, the OS until the driver releases that transmission); the
   * last one frees it. 0 when it is never freed (a driver that does not release, a payload alone).
   */
  holds: number;
}

/** No bytes: a FIN's payload, and what a packet holds once its datagram went back to the pool. */
export const NO_BYTES = new Uint8Array(0);

/** `out`'s payload (a view: for resends and re-splits, not the first transmission). */
export function payloadOf(out: OutPacket): Uint8Array {
  const { bytes, payloadAt, size } = out;
  return payloadAt === 0 && bytes.length === size ? bytes : bytes.subarray(payloadAt, payloadAt + size);
}

/** One holder of `out`'s datagram is done with it; the last one hands it back to the pool. */
export function dropHold(out: OutPacket): void {
  if (out.holds === 0 || --out.holds > 0) return;
  freeDatagram(out.bytes);
  // Nothing may read it any more: a stray read gets no bytes (a stream cut short, which the reuse
  // tests would see), never another datagram's.
  out.bytes = NO_BYTES;
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
