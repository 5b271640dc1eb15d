/** Seeded randomness and byte helpers for deterministic tests. */

/** mulberry32: a small, fast, seeded PRNG. Returns uniformly random unsigned 32-bit integers. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A float in [0, 1) from a u32 source. */
export function unit(random: () => number): number {
  return random() / 4294967296;
}

/** FNV-1a of a string, to derive independent PRNG streams from one seed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `length` bytes of seeded pseudo-random data (the same seed always gives the same bytes). */
export function seededBytes(seed: number, length: number): Uint8Array {
  const random = mulberry32(seed);
  const out = new Uint8Array(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const r = random();
    out[i] = r & 0xff;
    out[i + 1] = (r >>> 8) & 0xff;
    out[i + 2] = (r >>> 16) & 0xff;
    out[i + 3] = r >>> 24;
  }
  if (i < length) {
    const r = random();
    for (let k = 0; i < length; i++, k++) out[i] = (r >>> (8 * k)) & 0xff;
  }
  return out;
}

/** Whether two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Index of the first differing byte, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
