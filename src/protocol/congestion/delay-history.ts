/**
 * Minimum one-way delay over a history of one-minute buckets (RFC 6817 §3.4.2), as libutp and
 * libtorrent keep it. Samples are timestamp_difference values: one-way delay plus an arbitrary
 * clock offset, modulo 2^32, so every comparison is a wrapping one.
 */

/** a is before b in wrapping 32-bit order. */
export function wrappingLess(a: number, b: number): boolean {
  return ((b - a) | 0) > 0;
}

export class DelayHistory {
  /**
   * Oldest first. Replaced by an exact-size copy once a bucket (a minute), not pushed to: push
   * grows an array to 17 slots for one sample, ~70 bytes per history per idle connection (issue 9).
   */
  private buckets: number[] = [];
  private bucketStart = -Infinity;
  /** Minimum over the history; undefined until the first sample. */
  base: number | undefined = undefined;

  constructor(
    private readonly bucketCount = 13,
    private readonly bucketMs = 60_000,
  ) {}

  add(sample: number, now: number): void {
    if (this.base === undefined || wrappingLess(sample, this.base)) this.base = sample;
    if (now - this.bucketStart >= this.bucketMs || this.buckets.length === 0) {
      this.bucketStart = now;
      const kept = this.buckets.length >= this.bucketCount ? this.buckets.slice(1) : this.buckets;
      this.buckets = kept.concat(sample);
      this.recompute();
      return;
    }
    const last = this.buckets.length - 1;
    if (wrappingLess(sample, this.buckets[last]!)) this.buckets[last] = sample;
  }

  /** Moves the whole history by `offset` µs (clock-drift compensation). */
  shift(offset: number): void {
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i] = (this.buckets[i]! + offset) >>> 0;
    if (this.base !== undefined) this.base = (this.base + offset) >>> 0;
  }

  private recompute(): void {
    let base = this.buckets[0]!;
    for (const b of this.buckets) if (wrappingLess(b, base)) base = b;
    this.base = base;
  }
}
