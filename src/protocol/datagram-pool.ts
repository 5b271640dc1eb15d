/**
 * Buffers for outgoing datagrams: reused once the OS and the connection are done with them
 * (`freeDatagram`), else carved from shared 16 KiB slabs as Node's Buffer pool does.
 *
 * Why reuse: a typed array is dear to make on Node 20 (about 0.8 µs for `new Uint8Array(1400)`,
 * 0.25 µs carved from a slab, plus zeroing the slab and sweeping its ArrayBuffer later). In a bulk
 * sender's profile (issue 9) the carving was 4% of its time, the slab's memset 2.8% and V8's
 * ArrayBuffer sweeper 0.7%; a reused buffer costs a Map lookup and an array pop.
 *
 * Who may free what: a datagram is free once nothing reads it any more: the driver's send
 * completed (the OS copied it) and, for a DATA packet's first transmission, whose payload the
 * packet keeps for resends, the packet was acknowledged too (OutPacket.holds). A buffer that is
 * never freed is simply garbage collected: not freeing is always safe, freeing early never is.
 *
 * A reused buffer still holds the bytes of an earlier datagram, possibly another connection's:
 * every writer must write all of its bytes (encodeHeaderInto writes every header and extension
 * byte, the payload copy the rest). test/protocol/datagram-reuse.test.ts poisons freed buffers
 * and checks every datagram on the wire against its own decoding.
 */
const SLAB_SIZE = 16 * 1024;
/**
 * Free buffers kept at most, all sizes together. A sender's steady state needs about one ACK's
 * worth (the packets an ACK frees are cut again at the flush it triggers); a cumulative ACK after
 * a recovery frees more at once, and those beyond the bound are left to the garbage collector.
 * Reached, the pool starts over empty, so that sizes no longer sent (a smaller packetSize after
 * EMSGSIZE, a finished connection's) do not keep it full. The bound is also what free buffers can
 * keep alive: each may pin its whole 16 KiB slab (a 20-byte STATE as much as a full DATA), so
 * 4 MiB at worst (the review of the change kept 16.7 MB alive with 1,023 small ones under the
 * first bound of 1,024).
 */
const MAX_FREE = 256;
/** Bytes of free buffers kept at most (larger datagrams, up to 64 KiB, are allocated by themselves). */
const MAX_FREE_BYTES = 1024 * 1024;

let slab = new ArrayBuffer(SLAB_SIZE);
let used = 0;
/** Free buffers by their exact length (a datagram is sent whole: a view per size, not per send). */
const free = new Map<number, Uint8Array[]>();
let freeCount = 0;
let freeBytes = 0;
/** Buffers handed out by allocDatagram: reused, and made new (for tests: poolStats). */
let reused = 0;
let made = 0;

/** A buffer of exactly `size` bytes whose contents are arbitrary: the caller writes every byte. */
export function allocDatagram(size: number): Uint8Array {
  const reusable = free.get(size);
  if (reusable !== undefined && reusable.length > 0) {
    freeCount--;
    freeBytes -= size;
    reused++;
    return reusable.pop()!;
  }
  made++;
  if (size > SLAB_SIZE / 4) return new Uint8Array(size);
  if (used + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    used = 0;
  }
  const out = new Uint8Array(slab, used, size);
  used += size;
  return out;
}

/** Hands `datagram` back for reuse: the caller guarantees nothing reads or writes it any more. */
export function freeDatagram(datagram: Uint8Array): void {
  if (poison !== undefined) datagram.fill(poison);
  const size = datagram.length;
  if (freeCount >= MAX_FREE || freeBytes + size > MAX_FREE_BYTES) {
    free.clear();
    freeCount = 0;
    freeBytes = 0;
  }
  let list = free.get(size);
  if (list === undefined) free.set(size, (list = []));
  list.push(datagram);
  freeCount++;
  freeBytes += size;
}

/** @internal Test hook: freed buffers are filled with this byte (undefined: left as they are). */
let poison: number | undefined;

/** @internal Test hook (see `poison`). */
export function poisonFreedDatagrams(value: number | undefined): void {
  poison = value;
}

/** @internal Test hook: buffers waiting for reuse, and how many allocDatagram reused and made so far. */
export function poolStats(): { free: number; reused: number; made: number } {
  return { free: freeCount, reused, made };
}
