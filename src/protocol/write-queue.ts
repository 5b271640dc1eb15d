/**
 * Bytes the application wrote and the connection has not packetized yet.
 *
 * Ownership (net's promise: once write()'s callback ran, the buffer is the application's again):
 * the queue holds the application's own chunks, without copying, only until they are packetized.
 * `takeInto` copies each packet's payload out of them into the datagram buffer the packet is sent
 * (and resent) from, so nothing in flight points into application memory. `borrowed` tells
 * whether any queued byte still lives in an application buffer; `adopt` copies a small remainder
 * (less than a packet, held back by Nagle or the window) so the application need not wait for
 * an ACK to get its buffer back.
 */
/** The chunk list of every queue that was never written to: shared, never pushed to (see push). */
const NO_CHUNKS: Uint8Array[] = [];

export class WriteQueue {
  /** NO_CHUNKS until the first write: an idle connection's queue holds no array of its own (issue 9). */
  private chunks: Uint8Array[] = NO_CHUNKS;
  private head = 0;
  private offset = 0;
  /** Bytes queued. */
  length = 0;
  /** Some queued bytes are still views of the application's buffers. */
  borrowed = false;

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(data);
    this.length += data.length;
    this.borrowed = true;
  }

  /** Copies the next `size` (<= length) bytes into `out` at `at` and drops them from the queue. */
  takeInto(out: Uint8Array, at: number, size: number): void {
    this.length -= size;
    let filled = 0;
    while (filled < size) {
      const chunk = this.chunks[this.head]!;
      const n = Math.min(size - filled, chunk.length - this.offset);
      // A plain view, not chunk.subarray(): on a Buffer that builds a FastBuffer (species), ~25% dearer.
      out.set(n === chunk.length ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset + this.offset, n), at + filled);
      filled += n;
      this.offset += n;
      if (this.offset === chunk.length) this.nextChunk();
    }
    if (this.length === 0) this.borrowed = false;
  }

  /** Replaces what is queued by one copy of it: no application buffer is referenced afterwards. */
  adopt(): void {
    if (!this.borrowed) return;
    const copy = new Uint8Array(this.length);
    const size = this.length;
    this.takeInto(copy, 0, size);
    this.clear();
    if (size > 0) {
      if (this.chunks === NO_CHUNKS) this.chunks = [];
      this.chunks.push(copy);
      this.length = size;
    }
    this.borrowed = false;
  }

  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.offset = 0;
    this.length = 0;
    this.borrowed = false;
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
