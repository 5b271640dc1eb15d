/**
 * Forged µTP datagrams for the adversarial tests, built byte by byte (not with the library's
 * encoder, which pads SACKs and would hide odd lengths): any type, any SACK mask length 1..255,
 * extra extensions, any field value.
 */
import { HEADER_SIZE } from '../../src/protocol/packet.js';

export interface ForgedFields {
  /** 0..4 are µTP types; larger values make the datagram "not µTP". */
  type: number;
  connectionId: number;
  timestamp: number;
  timestampDifference: number;
  windowSize: number;
  seq: number;
  ack: number;
  /** Raw SACK mask, any length 1..255 (unpadded). */
  sack?: Uint8Array | undefined;
  /** libtorrent's close reason extension (type 3), after the SACK. */
  closeReason?: number | undefined;
  payload?: Uint8Array | undefined;
}

export function forge(f: ForgedFields): Uint8Array {
  const sack = f.sack;
  const extLen = (sack ? 2 + sack.length : 0) + (f.closeReason !== undefined ? 6 : 0);
  const payload = f.payload ?? new Uint8Array(0);
  const out = new Uint8Array(HEADER_SIZE + extLen + payload.length);
  out[0] = ((f.type & 0x0f) << 4) | 1;
  out[1] = sack ? 1 : f.closeReason !== undefined ? 3 : 0;
  put16(out, 2, f.connectionId);
  put32(out, 4, f.timestamp);
  put32(out, 8, f.timestampDifference);
  put32(out, 12, f.windowSize);
  put16(out, 16, f.seq);
  put16(out, 18, f.ack);
  let pos = HEADER_SIZE;
  if (sack) {
    out[pos] = f.closeReason !== undefined ? 3 : 0;
    out[pos + 1] = sack.length;
    out.set(sack, pos + 2);
    pos += 2 + sack.length;
  }
  if (f.closeReason !== undefined) {
    out[pos] = 0;
    out[pos + 1] = 4;
    put16(out, pos + 4, f.closeReason);
    pos += 6;
  }
  out.set(payload, pos);
  return out;
}

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

export function get16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

/** Payload bytes no genuine stream contains (the genuine streams are seeded random; 0xEE runs are marked). */
export function marker(length: number): Uint8Array {
  return new Uint8Array(length).fill(0xee);
}
