/**
 * 32-bit microsecond timestamps as carried in the header. Clocks are arbitrary and wrap:
 * all arithmetic is modulo 2^32.
 */

/** Milliseconds (the driver's clock) to the wire's 32-bit microsecond timestamp. */
export function timestampMicros(nowMs: number): number {
  return Math.floor(nowMs * 1000) >>> 0;
}

/**
 * timestamp_difference: our clock at receipt minus the sender's timestamp, mod 2^32.
 * This is the one-way delay plus the (arbitrary) offset between the two clocks.
 */
export function timestampDifference(receivedAtMicros: number, sentTimestamp: number): number {
  return (receivedAtMicros - sentTimestamp) >>> 0;
}

/**
 * An incoming timestamp_difference to use as a delay sample, or undefined when the peer has none
 * yet (0), or sent INT_MAX (an old uTorrent bug; treat as none).
 */
export function delaySample(echoedDifference: number): number | undefined {
  if (echoedDifference === 0 || echoedDifference === 0x7fffffff) return undefined;
  return echoedDifference;
}

/** Signed difference b - a of two 32-bit timestamps, in [-2^31, 2^31). */
export function timestampDelta(a: number, b: number): number {
  return (b - a) | 0;
}

/**
 * 0 for a numeric field that later holds fractional values (times from performance.now(), RTTs).
 * V8 gives a field first set to the integer 0 an integer representation; the first fractional
 * value then deprecates that shape and every object made before it migrates, one by one, at its
 * next access. 10,000 connects at once migrated ten fields of every connection end that way
 * (`node --trace-migration`); initialized with -0, a double, none migrate (the handshakes alone
 * went from 4,577 to 5,190 per second, medians of 5 interleaved runs). -0 equals 0 in every
 * comparison and sum here; `Connection.stats()` adds 0 so that users never see it.
 */
export const DOUBLE_ZERO = -0;
