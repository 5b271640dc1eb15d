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
 * Free buffers kept at most, all sizes together: a default window's worth of full packets (1 MiB
 * in 1394-byte datagrams is 752) and some. Reached, the pool starts over empty, so that sizes no
 * longer sent (a smaller packetSize after EMSGSIZE, a finished connection's) do not keep it full.
 * Not less: with 256 the reuse gained nothing (gauge, 8 interleaved runs of 512 MiB each: x1.02
 * MiB/s and sender CPU x1.03 against no reuse, where 1,024 gave x1.11 and x0.94), presumably as a
 * fast flow frees more than 256 between two cuts and each overflow empties the pool. What it
 * bounds besides: each free buffer may keep its whole 16 KiB slab alive, 16 MiB at worst; buffers
 * freed together (the packets one ACK covers) come from the same slabs, but the change's review
 * kept 16.7 MB alive with 1,023 small free buffers freed among DATA buffers that were not.
 */
const MAX_FREE = 1024;
/** Bytes of free buffers kept at most (larger datagrams, up to 64 KiB, are allocated by themselves). */
const MAX_FREE_BYTES = 2 * 1024 * 1024;

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
