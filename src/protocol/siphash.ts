/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
 * whose outputs an attacker cannot predict or steer without the 128-bit key, which is what SYN
 * cookies need. Pure arithmetic on 32-bit halves (no BigInt on this path, no dependencies).
 */

/** A 128-bit key as four little-endian 32-bit words: k0 = words 0-1, k1 = words 2-3. */
export type SipKey = Uint32Array;

// Working state: v0..v3 as (lo, hi) pairs, reused (the core is single-threaded).
const v = new Uint32Array(8);

function add(a: number, b: number): void {
  const lo = (v[a]! + v[b]!) >>> 0;
  v[a + 1] = (v[a + 1]! + v[b + 1]! + (lo < v[a]! ? 1 : 0)) >>> 0;
  v[a] = lo;
}

function rotl(a: number, n: number): void {
  let lo = v[a]!;
  let hi = v[a + 1]!;
  if (n >= 32) {
    [lo, hi] = [hi, lo];
    n -= 32;
  }
  if (n > 0) {
    const l = ((lo << n) | (hi >>> (32 - n))) >>> 0;
    hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    lo = l;
  }
  v[a] = lo;
  v[a + 1] = hi;
}

function xor(a: number, b: number): void {
  v[a] = (v[a]! ^ v[b]!) >>> 0;
  v[a + 1] = (v[a + 1]! ^ v[b + 1]!) >>> 0;
}

// Indices of v0..v3 in `v`.
const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function sipRound(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl(V0, 32);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl(V2, 32);
}

function absorb(lo: number, hi: number): void {
  v[V3] = (v[V3]! ^ lo) >>> 0;
  v[V3 + 1] = (v[V3 + 1]! ^ hi) >>> 0;
  sipRound();
  sipRound();
  v[V0] = (v[V0]! ^ lo) >>> 0;
  v[V0 + 1] = (v[V0 + 1]! ^ hi) >>> 0;
}

function le32(m: Uint8Array, at: number): number {
  return (m[at]! | (m[at + 1]! << 8) | (m[at + 2]! << 16) | (m[at + 3]! << 24)) >>> 0;
}

/**
 * SipHash-2-4 of `message` under `key`; returns the 64-bit result as [low 32 bits, high 32 bits]
 * (the reference implementation's output bytes, read as a little-endian integer).
 */
export function sipHash24(key: SipKey, message: Uint8Array): [number, number] {
  const k0lo = key[0]!;
  const k0hi = key[1]!;
  const k1lo = key[2]!;
  const k1hi = key[3]!;
  // "somepseudorandomlygeneratedbytes"
  v[0] = (k0lo ^ 0x70736575) >>> 0;
  v[1] = (k0hi ^ 0x736f6d65) >>> 0;
  v[2] = (k1lo ^ 0x6e646f6d) >>> 0;
  v[3] = (k1hi ^ 0x646f7261) >>> 0;
  v[4] = (k0lo ^ 0x6e657261) >>> 0;
  v[5] = (k0hi ^ 0x6c796765) >>> 0;
  v[6] = (k1lo ^ 0x79746573) >>> 0;
  v[7] = (k1hi ^ 0x74656462) >>> 0;
  const length = message.length;
  const whole = length - (length % 8);
  for (let i = 0; i < whole; i += 8) absorb(le32(message, i), le32(message, i + 4));
  // Last block: the remaining bytes, and the length's low byte in the top byte.
  let lo = 0;
  let hi = (length & 0xff) << 24;
  for (let i = whole; i < length; i++) {
    const shift = 8 * (i - whole);
    if (shift < 32) lo |= message[i]! << shift;
    else hi |= message[i]! << (shift - 32);
  }
  absorb(lo >>> 0, hi >>> 0);
  v[V2] = (v[V2]! ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  return [(v[0]! ^ v[2]! ^ v[4]! ^ v[6]!) >>> 0, (v[1]! ^ v[3]! ^ v[5]! ^ v[7]!) >>> 0];
}

/** A key from the injected randomness (four uniformly random 32-bit draws). */
export function sipKey(random: () => number): SipKey {
  return Uint32Array.of(random(), random(), random(), random());
}
