/**
 * µTP packet codec (BEP 29), with the deployed peers' quirks (see shared PROTOCOL-NOTES).
 *
 *     0       4       8               16              24              32
 *     +-------+-------+---------------+---------------+---------------+
 *     | type  | ver   | extension     | connection_id                 |
 *     +-------+-------+---------------+---------------+---------------+
 *     | timestamp_microseconds                                        |
 *     +---------------+---------------+---------------+---------------+
 *     | timestamp_difference_microseconds                             |
 *     +---------------+---------------+---------------+---------------+
 *     | wnd_size                                                      |
 *     +---------------+---------------+---------------+---------------+
 *     | seq_nr                        | ack_nr                        |
 *     +---------------+---------------+---------------+---------------+
 *     then extensions: [next type u8][len u8][len bytes] ... until next type 0; then payload.
 *
 * Decoding never throws: a malformed datagram yields `undefined` so the caller counts and drops it.
 */

export enum PacketType {
  /** ST_DATA */ Data = 0,
  /** ST_FIN */ Fin = 1,
  /** ST_STATE */ State = 2,
  /** ST_RESET */ Reset = 3,
  /** ST_SYN */ Syn = 4,
}

export const HEADER_SIZE = 20;
export const VERSION = 1;

export enum Extension {
  None = 0,
  /** Selective ACK: bit i acks ack_nr + 2 + i. */
  SelectiveAck = 1,
  /** Legacy extension bits (8 bytes); skipped. */
  ExtensionBits = 2,
  /** libtorrent's close reason: 2 reserved bytes then a u16 reason. */
  CloseReason = 3,
}

/** The header and its extensions, as decoded or to be encoded. */
export interface HeaderFields {
  type: PacketType;
  connectionId: number;
  timestamp: number;
  timestampDifference: number;
  windowSize: number;
  seq: number;
  ack: number;
  /** Selective ACK bitmask: any length >= 1 when decoded; emitted padded to a multiple of 4. */
  selectiveAck?: Uint8Array | undefined;
  /** libtorrent close reason, when the extension is present. */
  closeReason?: number | undefined;
}

export interface Packet extends HeaderFields {
  payload: Uint8Array;
}

/**
 * Cheap pre-check used to tell µTP from other protocols on a shared port: type 0..4, version 1,
 * and not STUN. DHT and tracker messages start with 'd' (0x64: type 6, version 4) and fail it.
 */
export function looksLikeUtp(data: Uint8Array): boolean {
  if (data.length < HEADER_SIZE) return false;
  const b = data[0]!;
  return (b & 0x0f) === VERSION && b >> 4 <= PacketType.Syn && !looksLikeStun(data);
}

/** RFC 5389 magic cookie, bytes 4-7 of every STUN message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;

/**
 * A STUN message by RFC 7983's demultiplexing rules (first byte 0..3) and RFC 5389's header
 * (magic cookie at bytes 4-7, message length at bytes 2-3 = datagram length - 20, a multiple of
 * 4). A Binding response starts 0x0101, which would read as µTP DATA with a SACK extension; a
 * µTP packet passes all three checks only with a timestamp equal to the cookie and a connection
 * id equal to its own length - 20 (about 2^-46 for random packets).
 */
export function looksLikeStun(data: Uint8Array): boolean {
  if (data.length < HEADER_SIZE || data[0]! > 3) return false;
  const length = readU16(data, 2);
  return readU32(data, 4) === STUN_MAGIC_COOKIE && length === data.length - HEADER_SIZE && (length & 3) === 0;
}

// Big-endian reads and writes by hand: a DataView per packet costs more than the packet's fields.
function readU16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU16(b: Uint8Array, at: number, value: number): void {
  b[at] = (value >>> 8) & 0xff;
  b[at + 1] = value & 0xff;
}

function writeU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24;
  b[at + 1] = (value >>> 16) & 0xff;
  b[at + 2] = (value >>> 8) & 0xff;
  b[at + 3] = value & 0xff;
}

export function decodePacket(data: Uint8Array): Packet | undefined {
  if (!looksLikeUtp(data)) return undefined;
  const packet = emptyPacket();
  return decodePacketInto(data, packet) ? packet : undefined;
}

/** A Packet to decode into (every field present, so all scratch packets share one shape). */
export function emptyPacket(): Packet {
  return {
    type: PacketType.Data,
    connectionId: 0,
    timestamp: 0,
    timestampDifference: 0,
    windowSize: 0,
    seq: 0,
    ack: 0,
    selectiveAck: undefined,
    closeReason: undefined,
    payload: EMPTY_PAYLOAD,
  };
}

/** The payload of every packet without one (never written: it has no bytes). */
const EMPTY_PAYLOAD = new Uint8Array(0);

/**
 * decodePacket for the receive path: fills `out` (a scratch packet reused for every datagram)
 * instead of allocating one, and returns false for a malformed packet (`out` then holds garbage).
 * `data` must have passed looksLikeUtp. What `out` refers to stays valid after the next
 * datagram: `payload` and `selectiveAck` are views of `data` (dgram's Buffer is fresh per
 * datagram), and a packet without payload gets a shared empty one instead of a view.
 */
export function decodePacketInto(data: Uint8Array, out: Packet): boolean {
  let selectiveAck: Uint8Array | undefined;
  let closeReason: number | undefined;
  let next = data[1]!;
  let offset = HEADER_SIZE;
  while (next !== Extension.None) {
    if (offset + 2 > data.length) return false;
    const type = next;
    next = data[offset]!;
    const len = data[offset + 1]!;
    offset += 2;
    if (offset + len > data.length) return false;
    if (type === Extension.SelectiveAck) {
      if (len === 0) return false;
      selectiveAck = data.subarray(offset, offset + len);
    } else if (type === Extension.CloseReason && len >= 4) {
      closeReason = readU16(data, offset + 2);
    }
    // Unknown extensions (and the legacy extension bits) are skipped by length.
    offset += len;
  }
  out.type = (data[0]! >> 4) as PacketType;
  out.connectionId = readU16(data, 2);
  out.timestamp = readU32(data, 4);
  out.timestampDifference = readU32(data, 8);
  out.windowSize = readU32(data, 12);
  out.seq = readU16(data, 16);
  out.ack = readU16(data, 18);
  out.selectiveAck = selectiveAck;
  out.closeReason = closeReason;
  out.payload = offset < data.length ? data.subarray(offset) : EMPTY_PAYLOAD;
  return true;
}

/** Size of the header plus extensions that `encodeHeader` will write for these fields. */
export function headerSize(fields: HeaderFields): number {
  let size = HEADER_SIZE;
  if (fields.selectiveAck) size += 2 + paddedSackLength(fields.selectiveAck.length);
  if (fields.closeReason !== undefined) size += 6;
  return size;
}

function paddedSackLength(len: number): number {
  return Math.max(4, (len + 3) & ~3);
}

/**
 * Writes the header and extensions into `out` at `offset` and returns the bytes written.
 * The selective ACK goes first: libutp drops packets whose FIRST extension is >= 3.
 */
export function encodeHeaderInto(fields: HeaderFields, out: Uint8Array, offset = 0): number {
  const sack = fields.selectiveAck;
  const hasReason = fields.closeReason !== undefined;
  const first = sack ? Extension.SelectiveAck : hasReason ? Extension.CloseReason : Extension.None;
  out[offset] = (fields.type << 4) | VERSION;
  out[offset + 1] = first;
  writeU16(out, offset + 2, fields.connectionId);
  writeU32(out, offset + 4, fields.timestamp >>> 0);
  writeU32(out, offset + 8, fields.timestampDifference >>> 0);
  writeU32(out, offset + 12, fields.windowSize >>> 0);
  writeU16(out, offset + 16, fields.seq);
  writeU16(out, offset + 18, fields.ack);
  let pos = offset + HEADER_SIZE;
  if (sack) {
    const len = paddedSackLength(sack.length);
    out[pos] = hasReason ? Extension.CloseReason : Extension.None;
    out[pos + 1] = len;
    out.set(sack, pos + 2);
    out.fill(0, pos + 2 + sack.length, pos + 2 + len);
    pos += 2 + len;
  }
  if (hasReason) {
    out[pos] = Extension.None;
    out[pos + 1] = 4;
    out[pos + 2] = 0;
    out[pos + 3] = 0;
    out[pos + 4] = (fields.closeReason! >> 8) & 0xff;
    out[pos + 5] = fields.closeReason! & 0xff;
    pos += 6;
  }
  return pos - offset;
}

export function encodeHeader(fields: HeaderFields): Uint8Array {
  const out = new Uint8Array(headerSize(fields));
  encodeHeaderInto(fields, out);
  return out;
}

/** Header, extensions and payload in one buffer (tests and cold paths; the hot path sends header and payload as two iovecs). */
export function encodePacket(fields: HeaderFields, payload?: Uint8Array): Uint8Array {
  const size = headerSize(fields);
  const out = new Uint8Array(size + (payload?.length ?? 0));
  encodeHeaderInto(fields, out);
  if (payload) out.set(payload, size);
  return out;
}
