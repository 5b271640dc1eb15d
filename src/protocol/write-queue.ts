/**
 * Bytes the application wrote and the connection has not packetized yet.
 *
 * Ownership (net's promise: once write()'s callback ran, the buffer is the application's again):
 * the queue holds the application's own chunks, without copying, only until they are packetized.
 * `takeInto` copies each packet's payload out of them into the datagram buffer the packet is sent
 * (and resent) from, so nothing in flight points into application memory. `borrowed` tells
 * whether any queued byte still lives in an application buffer; `adopt` copies those bytes (a
 * remainder held back by Nagle or the window) so the application need not wait for an ACK to get
 * its buffer back. The queue is always owned copies first, then the application's chunks in
 * write order (adopt puts its copy last; push appends), so the borrowed bytes are its tail.
 */
/** The chunk list of every queue that was never written to: shared, never pushed to (see push). */
const NO_CHUNKS: Uint8Array[] = [];

/**
 * `length` bytes of `chunk` from `from`. A plain view, not chunk.subarray(): on a Buffer that
 * builds a FastBuffer (species), ~25% dearer.
 */
function view(chunk: Uint8Array, from: number, length: number): Uint8Array {
  return new Uint8Array(chunk.buffer, chunk.byteOffset + from, length);
}

export class WriteQueue {
  /** NO_CHUNKS until the first write: an idle connection's queue holds no array of its own (issue 9). */
  private chunks: Uint8Array[] = NO_CHUNKS;
  private head = 0;
  private offset = 0;
  /** Bytes queued. */
  length = 0;
  /** Queued bytes still in the application's buffers: the queue's tail (see the class comment). */
  private borrowedBytes = 0;

  /** Some queued bytes are still views of the application's buffers. */
  get borrowed(): boolean {
    return this.borrowedBytes > 0;
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(data);
    this.length += data.length;
    this.borrowedBytes += data.length;
  }

  /** Copies the next `size` (<= length) bytes into `out` at `at` and drops them from the queue. */
  takeInto(out: Uint8Array, at: number, size: number): void {
    const owned = this.length - this.borrowedBytes;
    if (size > owned) this.borrowedBytes -= size - owned;
    this.length -= size;
    let filled = 0;
    while (filled < size) {
      const chunk = this.chunks[this.head]!;
      const n = Math.min(size - filled, chunk.length - this.offset);
      out.set(n === chunk.length ? chunk : view(chunk, this.offset, n), at + filled);
      filled += n;
      this.offset += n;
      if (this.offset === chunk.length) this.nextChunk();
    }
  }

  /**
   * Replaces the borrowed tail by one copy of it: no application buffer is referenced afterwards.
   * Bytes an earlier adopt copied stay where they are unless their copy is at most twice this one:
   * copying the whole queue, as adopt once did, copied a byte again at each write that arrived
   * while it waited for the window.
   */
  adopt(): void {
    let size = this.borrowedBytes;
    if (size === 0) return;
    // The first borrowed chunk: the tail starts at a chunk's start, or inside the head chunk.
    let first = this.chunks.length;
    for (let found = 0; found < size; ) found += this.untaken(--first);
    // An earlier copy at most twice the size of this one joins it: each copy is then more than
    // twice the next, so small writes adopted one by one make a few chunks, not one each, and a
    // byte is copied again only a logarithmic number of times.
    while (first > this.head && this.untaken(first - 1) <= 2 * size) size += this.untaken(--first);
    const copy = new Uint8Array(size);
    for (let i = first, filled = 0; i < this.chunks.length; i++) {
      const chunk = this.chunks[i]!;
      const n = this.untaken(i);
      copy.set(n === chunk.length ? chunk : view(chunk, chunk.length - n, n), filled);
      filled += n;
    }
    this.chunks.length = first;
    if (first === this.head) this.offset = 0;
    this.chunks.push(copy);
    this.borrowedBytes = 0;
    // Drop the chunks already taken: while the queue never runs dry (a Socket writes the next
    // chunk on 'written') they would otherwise stay referenced, buffers handed back included,
    // until nextChunk's splice at 1024 of them.
    if (this.head > 0) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Bytes of chunk `i` not taken yet: the head chunk's from `offset`, any later one whole. */
  private untaken(i: number): number {
    return this.chunks[i]!.length - (i === this.head ? this.offset : 0);
  }

  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.offset = 0;
    this.length = 0;
    this.borrowedBytes = 0;
  }

  private nextChunk(): void {
    this.offset = 0;
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      // Drop consumed chunks now and then rather than shifting the array per chunk.
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
  }
}
