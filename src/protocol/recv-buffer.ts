import { seqAdd } from './seq.js';

/**
 * Reorder buffer for DATA that arrived ahead of a hole. Bounded twice: by slots (how far past
 * ack_nr we accept) and by bytes (what we advertised), so an out-of-order flood cannot grow it.
 */
export class RecvBuffer {
  private readonly slots: (Uint8Array | undefined)[];
  private readonly mask: number;
  /** Payload bytes held out of order. */
  bytes = 0;
  /** Packets held out of order. */
  count = 0;
  /** Furthest seq_nr held, as a distance past ack_nr (0 when empty). */
  private furthest = 0;

  constructor(readonly capacity = 1024) {
    this.slots = new Array<Uint8Array | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
  }

  /** Largest distance past ack_nr that can be stored. */
  get reach(): number {
    return this.capacity - 1;
  }

  has(seq: number): boolean {
    return this.slots[seq & this.mask] !== undefined;
  }

  /** Stores a payload `distance` (>= 2) packets past ack_nr. Returns false for a duplicate. */
  insert(seq: number, distance: number, payload: Uint8Array): boolean {
    const index = seq & this.mask;
    if (this.slots[index] !== undefined) return false;
    this.slots[index] = payload;
    this.bytes += payload.length;
    this.count++;
    if (distance > this.furthest) this.furthest = distance;
    return true;
  }

  /** Removes the payload at `seq` if held. */
  take(seq: number): Uint8Array | undefined {
    const index = seq & this.mask;
    const payload = this.slots[index];
    if (payload === undefined) return undefined;
    this.slots[index] = undefined;
    this.bytes -= payload.length;
    this.count--;
    if (this.count === 0) this.furthest = 0;
    return payload;
  }

  /** ack_nr moved forward by `n`: distances shrink. */
  advanced(n: number): void {
    this.furthest = Math.max(0, this.furthest - n);
  }

  /**
   * Selective ACK bitmask relative to `ackNr` (bit i = ackNr + 2 + i), at most `maxBytes` long,
   * or undefined when nothing is held out of order.
   */
  selectiveAck(ackNr: number, maxBytes: number): Uint8Array | undefined {
    if (this.count === 0 || this.furthest < 2) return undefined;
    const bits = Math.min(this.furthest - 1, maxBytes * 8);
    const mask = new Uint8Array((Math.ceil(bits / 8) + 3) & ~3);
    for (let i = 0; i < bits; i++) {
      if (this.slots[seqAdd(ackNr, 2 + i) & this.mask] !== undefined) mask[i >> 3]! |= 1 << (i & 7);
    }
    return mask;
  }
}
