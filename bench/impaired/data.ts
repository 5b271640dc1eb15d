// The bytes a transfer carries: a seeded pseudo-random stream, cut into
// CHUNK-sized pieces that can each be generated on their own, so the sender,
// the receiver (byte-by-byte check) and run.ts (SHA-256 of a prefix) all know
// it without shipping it around.
import { createHash } from 'node:crypto';
import { mulberry32, subSeed } from './link.js';

export const CHUNK = 64 * 1024;

/** Chunk `k` (CHUNK bytes) of the stream of `seed`. */
export function chunk(seed: number, k: number): Buffer {
  const r = mulberry32(subSeed(seed, 0xda7a, k));
  const words = new Uint32Array(CHUNK / 4);
  for (let i = 0; i < words.length; i++) words[i] = r();
  return Buffer.from(words.buffer);
}

/** SHA-256 (hex) of the first `bytes` bytes of the stream of `seed`. */
export function prefixSha256(seed: number, bytes: number): string {
  const h = createHash('sha256');
  for (let k = 0; k * CHUNK < bytes; k++) {
    const c = chunk(seed, k);
    h.update(bytes - k * CHUNK < CHUNK ? c.subarray(0, bytes - k * CHUNK) : c);
  }
  return h.digest('hex');
}

/** Checks a stream against the expected one as it arrives, keeping a running SHA-256. */
export class StreamChecker {
  bytes = 0;
  /** Offset of the first byte that differs from the expected stream, if any. */
  firstMismatch: number | undefined;
  private readonly hash = createHash('sha256');
  private expected: Buffer | undefined;
  private expectedIndex = -1;

  constructor(private readonly seed: number) {}

  update(data: Uint8Array): void {
    this.hash.update(data);
    let pos = 0;
    while (pos < data.length) {
      const k = Math.floor(this.bytes / CHUNK);
      if (k !== this.expectedIndex) {
        this.expected = chunk(this.seed, k);
        this.expectedIndex = k;
      }
      const off = this.bytes - k * CHUNK;
      const n = Math.min(CHUNK - off, data.length - pos);
      if (this.firstMismatch === undefined) {
        const got = data.subarray(pos, pos + n);
        const want = this.expected!.subarray(off, off + n);
        if (Buffer.compare(got, want) !== 0) {
          let i = 0;
          while (got[i] === want[i]) i++;
          this.firstMismatch = this.bytes + i;
        }
      }
      this.bytes += n;
      pos += n;
    }
  }

  /** SHA-256 (hex) of everything so far (the checker stays usable). */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
