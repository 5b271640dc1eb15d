/**
 * Bytes the application wrote and the connection has not packetized yet. Packets are cut from
 * it as views into the written chunks when one chunk holds the whole packet (no copy), and
 * copied together only when a packet spans chunks.
 */
export class WriteQueue {
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  /** Bytes queued. */
  length = 0;

  push(data: Uint8Array): void {
    this.chunks.push(data);
    this.length += data.length;
  }

  /** Takes the next `size` (<= length) bytes. */
  take(size: number): Uint8Array {
    this.length -= size;
    const first = this.chunks[this.head]!;
    if (first.length - this.offset >= size) {
      const view = first.subarray(this.offset, this.offset + size);
      this.offset += size;
      if (this.offset === first.length) this.nextChunk();
      return view;
    }
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.chunks[this.head]!;
      const n = Math.min(size - filled, chunk.length - this.offset);
      out.set(chunk.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      if (this.offset === chunk.length) this.nextChunk();
    }
    return out;
  }

  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.offset = 0;
    this.length = 0;
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
