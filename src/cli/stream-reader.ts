/**
 * Reads a stream in pieces: a line, then exactly n bytes, then to the end. Used for the
 * framed protocols of `send`/`recv` and `bench`. It never destroys the stream when the peer
 * ends its side, so the half-open socket can still answer (the receiver's sha256 reply).
 */
import type { Readable } from 'node:stream';

export class StreamReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;

  constructor(stream: Readable) {
    this.chunks = stream.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.pending) {
      const chunk = this.pending;
      this.pending = undefined;
      return chunk;
    }
    const result = await this.chunks.next();
    return result.done ? undefined : result.value;
  }

  /**
   * The next line without its '\n'; undefined at the end of the stream. Throws if the line is
   * longer than `max` bytes or the stream ends in the middle of it.
   */
  async readLine(max: number): Promise<string | undefined> {
    let line = Buffer.alloc(0);
    for (;;) {
      const chunk = await this.next();
      if (!chunk) {
        if (line.length === 0) return undefined;
        throw new Error('the stream ended in the middle of a line');
      }
      const newline = chunk.indexOf(0x0a);
      const upto = newline < 0 ? chunk : chunk.subarray(0, newline);
      line = Buffer.concat([line, upto]);
      if (line.length > max) throw new Error(`a line longer than ${max} bytes`);
      if (newline >= 0) {
        if (newline + 1 < chunk.length) this.pending = chunk.subarray(newline + 1);
        return line.toString('utf8');
      }
    }
  }

  /** Exactly `n` bytes, as chunks; throws if the stream ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const chunk = await this.next();
      if (!chunk) throw new Error(`the stream ended ${left} bytes early`);
      if (chunk.length > left) {
        this.pending = chunk.subarray(left);
        yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  }

  /** True at the end of the stream; false (keeping the data) if more follows. */
  async atEnd(): Promise<boolean> {
    const chunk = await this.next();
    if (!chunk) return true;
    this.pending = chunk;
    return false;
  }
}
