/**
 * 16-bit wrapping sequence arithmetic (BEP 29 seq_nr / ack_nr).
 * Every comparison of sequence numbers goes through here: plain `<` is wrong at the wrap.
 */

export const SEQ_MASK = 0xffff;

/** (a + n) mod 2^16 */
export function seqAdd(a: number, n: number): number {
  return (a + n) & SEQ_MASK;
}

/** Signed distance from `a` to `b` in [-32768, 32767]: positive when b is after a. */
export function seqDiff(a: number, b: number): number {
  return (((b - a) & SEQ_MASK) << 16) >> 16;
}

/** a is strictly before b (modulo 2^16). */
export function seqLess(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}
