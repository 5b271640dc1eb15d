import { seqAdd } from './seq.js';

/**
 * Reorder buffer for DATA that arrived ahead of a hole. Bounded twice: by reach (how far past
 * ack_nr we accept) and by bytes (what we advertised, checked by the caller), so an out-of-order
 * flood cannot grow it. A map keyed by seq_nr, created on the first out-of-order packet: an
 * in-order or idle connection holds no map at all (an empty Map is ~180 bytes, issue 9).
 */
export class RecvBuffer {
  private held: Map<number, Uint8Array> | undefined = undefined;
  /** Payload bytes held out of order. */
  bytes = 0;
  /** Packets held out of order. */
  count = 0;
  /** Furthest seq_nr held, as a distance past ack_nr (0 when empty). */
  private furthest = 0;

  constructor(readonly capacity = 1024) {}

  /** Largest distance past ack_nr that can be stored. */
  get reach(): number {
    return this.capacity - 1;
  }

  has(seq: number): boolean {
    return this.held !== undefined && this.held.has(seq);
  }

  /** Stores a payload `distance` (>= 2) packets past ack_nr. Returns false for a duplicate. */
  insert(seq: number, distance: number, payload: Uint8Array): boolean {
    this.held ??= new Map();
    if (this.held.has(seq)) return false;
    this.held.set(seq, payload);
    this.bytes += payload.length;
    this.count++;
    if (distance > this.furthest) this.furthest = distance;
    return true;
  }

  /** Removes the payload at `seq` if held. */
  take(seq: number): Uint8Array | undefined {
    if (this.count === 0 || this.held === undefined) return undefined;
    const payload = this.held.get(seq);
    if (payload === undefined) return undefined;
    this.held.delete(seq);
    this.bytes -= payload.length;
    this.count--;
    if (this.count === 0) {
      this.furthest = 0;
      // Drained: let the map go, so a connection that once saw reordering is small again.
      this.held = undefined;
    }
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
    if (this.count === 0 || this.furthest < 2 || this.held === undefined) return undefined;
    const bits = Math.min(this.furthest - 1, maxBytes * 8);
    const mask = new Uint8Array((Math.ceil(bits / 8) + 3) & ~3);
    for (let i = 0; i < bits; i++) {
      if (this.held.has(seqAdd(ackNr, 2 + i))) mask[i >> 3]! |= 1 << (i & 7);
    }
    return mask;
  }
}
