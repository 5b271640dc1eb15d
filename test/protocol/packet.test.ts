/**
 * Packet codec, sequence arithmetic and timestamps. The golden vectors are hex written by hand
 * from the BEP 29 header layout (type<<4|ver, extension, connection_id, timestamp_us,
 * timestamp_difference_us, wnd_size, seq_nr, ack_nr; all big-endian), not produced by the encoder.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodePacket,
  decodePacketInto,
  emptyPacket,
  encodeHeader,
  encodePacket,
  headerSize,
  looksLikeUtp,
  PacketType,
  type HeaderFields,
} from '../../src/protocol/packet.js';
import { seqAdd, seqDiff, seqLess } from '../../src/protocol/seq.js';
import { delaySample, timestampDelta, timestampDifference, timestampMicros } from '../../src/protocol/time.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { mulberry32 } from '../helpers/sim-network.js';

/** Hex with spaces allowed, to keep the fields readable. */
function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const COMMON = {
  connectionId: 0x1234,
  timestamp: 0x01020304,
  timestampDifference: 0x05060708,
  windowSize: 0x00100000,
  seq: 0x0001,
  ack: 0xfffe,
};

//                         t/v  ext  conn  timestamp timediff  wnd_size  seq  ack
const DATA_HI = hex('01 00 1234 01020304 05060708 00100000 0001 fffe 6869');
const FIN = hex('11 00 1234 01020304 05060708 00100000 0001 fffe');
const STATE = hex('21 00 1234 01020304 05060708 00100000 0001 fffe');
const RESET = hex('31 00 1234 01020304 05060708 00100000 0001 fffe');
const SYN = hex('41 00 1234 01020304 05060708 00100000 0001 fffe');

describe('packet codec: golden vectors for each type', () => {
  const cases: [string, PacketType, Uint8Array, Uint8Array][] = [
    ['DATA with payload "hi"', PacketType.Data, DATA_HI, hex('6869')],
    ['FIN', PacketType.Fin, FIN, new Uint8Array(0)],
    ['STATE', PacketType.State, STATE, new Uint8Array(0)],
    ['RESET', PacketType.Reset, RESET, new Uint8Array(0)],
    ['SYN', PacketType.Syn, SYN, new Uint8Array(0)],
  ];
  for (const [name, type, bytes, payload] of cases) {
    test(`${name} decodes field by field`, () => {
      const p = decodePacket(bytes);
      assert.ok(p);
      assert.equal(p.type, type);
      assert.equal(p.connectionId, COMMON.connectionId);
      assert.equal(p.timestamp, COMMON.timestamp);
      assert.equal(p.timestampDifference, COMMON.timestampDifference);
      assert.equal(p.windowSize, COMMON.windowSize);
      assert.equal(p.seq, COMMON.seq);
      assert.equal(p.ack, COMMON.ack);
      assert.equal(p.selectiveAck, undefined);
      assert.equal(p.closeReason, undefined);
      assert.deepEqual([...p.payload], [...payload]);
    });
    test(`${name} encodes to the same bytes`, () => {
      const encoded = encodePacket({ type, ...COMMON }, payload.length > 0 ? payload : undefined);
      assert.equal(toHex(encoded), toHex(bytes));
    });
  }

  test('full-range field values survive (u32 timestamps, u16 ids) and nothing is sign-extended', () => {
    const bytes = hex('01 00 ffff ffffffff fffffffe 80000000 ffff 8000');
    const p = decodePacket(bytes)!;
    assert.equal(p.connectionId, 0xffff);
    assert.equal(p.timestamp, 0xffffffff);
    assert.equal(p.timestampDifference, 0xfffffffe);
    assert.equal(p.windowSize, 0x80000000);
    assert.equal(p.seq, 0xffff);
    assert.equal(p.ack, 0x8000);
    const encoded = encodeHeader({
      type: PacketType.Data,
      connectionId: 0xffff,
      timestamp: 0xffffffff,
      timestampDifference: 0xfffffffe,
      windowSize: 0x80000000,
      seq: 0xffff,
      ack: 0x8000,
    });
    assert.equal(toHex(encoded), toHex(bytes));
  });

  test('encoder masks out-of-range numbers to their wire width', () => {
    const encoded = encodeHeader({ ...COMMON, type: PacketType.State, seq: 0x10001, ack: -2, connectionId: 0x11234 });
    assert.equal(toHex(encoded), toHex(STATE));
  });
});

describe('packet codec: extensions', () => {
  test('SACK is emitted padded to a multiple of 4 bytes (1 byte of mask -> len 4)', () => {
    const fields: HeaderFields = { type: PacketType.State, ...COMMON, selectiveAck: hex('05') };
    const expected = hex('21 01 1234 01020304 05060708 00100000 0001 fffe   00 04 05000000');
    assert.equal(headerSize(fields), expected.length);
    assert.equal(toHex(encodeHeader(fields)), toHex(expected));
  });

  test('SACK of 5 bytes is emitted as len 8', () => {
    const fields: HeaderFields = { type: PacketType.State, ...COMMON, selectiveAck: hex('0102030405') };
    const expected = hex('21 01 1234 01020304 05060708 00100000 0001 fffe   00 08 0102030405000000');
    assert.equal(toHex(encodeHeader(fields)), toHex(expected));
  });

  test('SACK of odd length 1 is accepted when decoding (libtorrent sends such)', () => {
    const p = decodePacket(hex('21 01 1234 01020304 05060708 00100000 0001 fffe   00 01 05'));
    assert.ok(p);
    assert.deepEqual([...p.selectiveAck!], [0x05]);
    assert.equal(p.payload.length, 0);
  });

  test('SACK of odd length 5 is accepted, and the payload after it is intact', () => {
    const p = decodePacket(hex('01 01 1234 01020304 05060708 00100000 0001 fffe   00 05 0102030405   aabb'));
    assert.ok(p);
    assert.deepEqual([...p.selectiveAck!], [1, 2, 3, 4, 5]);
    assert.deepEqual([...p.payload], [0xaa, 0xbb]);
  });

  test('unknown extension is skipped by its length, the chain continues to a SACK', () => {
    // first ext 0x7f (unknown, len 3) -> next 1 (SACK, len 4) -> end, then payload 'hi'.
    const p = decodePacket(hex('01 7f 1234 01020304 05060708 00100000 0001 fffe   01 03 aabbcc   00 04 01000000   6869'));
    assert.ok(p);
    assert.deepEqual([...p.selectiveAck!], [1, 0, 0, 0]);
    assert.deepEqual([...p.payload], [0x68, 0x69]);
  });

  test('legacy extension 2 (8 extension bits) is skipped', () => {
    const p = decodePacket(hex('41 02 1234 01020304 05060708 00100000 0001 fffe   00 08 0000000000000000'));
    assert.ok(p);
    assert.equal(p.type, PacketType.Syn);
    assert.equal(p.selectiveAck, undefined);
    assert.equal(p.payload.length, 0);
  });

  test('libtorrent close reason extension 3 is parsed (2 reserved bytes, then u16 reason)', () => {
    const p = decodePacket(hex('11 03 1234 01020304 05060708 00100000 0001 fffe   00 04 0000 000f'));
    assert.ok(p);
    assert.equal(p.type, PacketType.Fin);
    assert.equal(p.closeReason, 15);
  });

  test('close reason after a SACK is parsed too', () => {
    const p = decodePacket(hex('21 01 1234 01020304 05060708 00100000 0001 fffe   03 04 01000000   00 04 0000 1234'));
    assert.ok(p);
    assert.deepEqual([...p.selectiveAck!], [1, 0, 0, 0]);
    assert.equal(p.closeReason, 0x1234);
  });

  test('encoder puts SACK first and close reason second (libutp drops packets whose first extension is >= 3)', () => {
    const fields: HeaderFields = { type: PacketType.State, ...COMMON, selectiveAck: hex('01'), closeReason: 2 };
    const expected = hex('21 01 1234 01020304 05060708 00100000 0001 fffe   03 04 01000000   00 04 0000 0002');
    assert.equal(toHex(encodeHeader(fields)), toHex(expected));
  });
});

describe('packet codec: decoding into a reused scratch packet (the receive path)', () => {
  test('each datagram overwrites every field; what an earlier one handed out still holds its own bytes', () => {
    const scratch = emptyPacket();
    // DATA with a SACK, a close reason and a payload, then a bare STATE: nothing of the first may
    // show through the second, and the first's payload and SACK (kept by a connection) stay intact.
    const first = hex('01 01 1234 01020304 05060708 00100000 0001 fffe   03 04 05000000   00 04 0000 0007   aabbcc');
    assert.ok(decodePacketInto(first, scratch));
    const payload = scratch.payload;
    const sack = scratch.selectiveAck!;
    assert.equal(toHex(payload), 'aabbcc');
    assert.equal(scratch.closeReason, 7);
    assert.ok(decodePacketInto(hex('21 00 4321 0a0b0c0d 00000000 00000400 0002 0001'), scratch));
    assert.deepEqual(scratch, { ...decodePacket(hex('21 00 4321 0a0b0c0d 00000000 00000400 0002 0001'))!, payload: scratch.payload });
    assert.equal(scratch.selectiveAck, undefined);
    assert.equal(scratch.closeReason, undefined);
    assert.equal(scratch.payload.length, 0);
    assert.equal(toHex(payload), 'aabbcc');
    assert.deepEqual([...sack], [5, 0, 0, 0]);
  });
});

describe('packet codec: malformed input is rejected with undefined, never thrown', () => {
  const bad: [string, string][] = [
    ['truncated header (19 bytes)', '01 00 1234 01020304 05060708 00100000 0001 ff'],
    ['empty datagram', ''],
    ['extension announced but header ends', '21 01 1234 01020304 05060708 00100000 0001 fffe'],
    ['extension header cut after one byte', '21 01 1234 01020304 05060708 00100000 0001 fffe 00'],
    ['extension length past the end', '21 01 1234 01020304 05060708 00100000 0001 fffe   00 08 0102'],
    ['second extension length past the end', '21 02 1234 01020304 05060708 00100000 0001 fffe   01 00   00 04 01'],
    ['SACK of length 0', '21 01 1234 01020304 05060708 00100000 0001 fffe   00 00'],
    ['version 0', '20 00 1234 01020304 05060708 00100000 0001 fffe'],
    ['version 2', '22 00 1234 01020304 05060708 00100000 0001 fffe'],
    ['type 5', '51 00 1234 01020304 05060708 00100000 0001 fffe'],
    ['type 15', 'f1 00 1234 01020304 05060708 00100000 0001 fffe'],
  ];
  for (const [name, h] of bad) {
    test(name, () => {
      assert.equal(decodePacket(hex(h)), undefined);
    });
  }

  test('a bencoded DHT message (d1:ad2:id20:...) is not µTP', () => {
    const dht = new TextEncoder().encode('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
    assert.equal(looksLikeUtp(dht), false);
    assert.equal(decodePacket(dht), undefined);
    // The endpoint hands it back to the driver (false) instead of counting it as malformed.
    const endpoint = new Endpoint({ random: mulberry32(1) });
    assert.equal(endpoint.handleDatagram(dht, { address: '10.0.0.9', port: 1, family: 'IPv4' }, 0), false);
    assert.equal(endpoint.counters.malformed, 0);
    assert.equal(endpoint.transmits.length, 0);
  });

  test('looksLikeUtp accepts each of the five types at version 1', () => {
    for (const b of [0x01, 0x11, 0x21, 0x31, 0x41]) {
      const d = new Uint8Array(20);
      d[0] = b;
      assert.equal(looksLikeUtp(d), true, b.toString(16));
    }
  });

  test('20,000 random and mutated datagrams: decode never throws; the endpoint never throws or replies with more bytes', () => {
    const random = mulberry32(0xc0ffee);
    const endpoint = new Endpoint({ random: mulberry32(2) });
    endpoint.listening = true;
    const remote = { address: '10.9.9.9', port: 4000, family: 'IPv4' as const };
    const seeds = [DATA_HI, FIN, STATE, RESET, SYN, hex('21 01 1234 01020304 05060708 00100000 0001 fffe 00 04 05000000')];
    for (let i = 0; i < 20_000; i++) {
      let d: Uint8Array;
      if (i % 2 === 0) {
        d = new Uint8Array(random() % 64);
        for (let k = 0; k < d.length; k++) d[k] = random() & 0xff;
        if (d.length > 0 && i % 4 === 0) d[0] = ((random() % 5) << 4) | 1; // mostly plausible type/version
      } else {
        const base = seeds[i % seeds.length]!;
        d = new Uint8Array(base.length + (random() % 4));
        d.set(base);
        const flips = 1 + (random() % 4);
        for (let k = 0; k < flips; k++) d[random() % d.length] = random() & 0xff;
      }
      assert.doesNotThrow(() => decodePacket(d));
      const before = endpoint.transmits.length;
      assert.doesNotThrow(() => endpoint.handleDatagram(d, remote, i));
      for (const t of endpoint.transmits.slice(before)) {
        assert.ok(t.data.length <= Math.max(d.length, 20));
      }
      endpoint.handleTimeout(i);
      endpoint.flush(i);
      endpoint.transmits.length = 0;
      endpoint.events.length = 0;
    }
  });
});

describe('seq.ts: 16-bit wrapping arithmetic', () => {
  test('seqAdd wraps both ways', () => {
    assert.equal(seqAdd(0xffff, 1), 0);
    assert.equal(seqAdd(0xfffe, 5), 3);
    assert.equal(seqAdd(0, -1), 0xffff);
    assert.equal(seqAdd(2, -5), 0xfffd);
    assert.equal(seqAdd(0x1234, 0x10000), 0x1234);
  });

  test('seqDiff is the signed distance across the wrap', () => {
    assert.equal(seqDiff(0xfffe, 1), 3);
    assert.equal(seqDiff(1, 0xfffe), -3);
    assert.equal(seqDiff(0xffff, 0), 1);
    assert.equal(seqDiff(0, 0xffff), -1);
    assert.equal(seqDiff(5, 5), 0);
    assert.equal(seqDiff(0, 0x7fff), 32767);
    assert.equal(seqDiff(0, 0x8000), -32768);
    assert.equal(seqDiff(0x8000, 0), -32768);
  });

  test('seqLess orders across the wrap', () => {
    assert.equal(seqLess(0xffff, 0), true);
    assert.equal(seqLess(0, 0xffff), false);
    assert.equal(seqLess(0xfff0, 0x0010), true);
    assert.equal(seqLess(7, 7), false);
  });
});

describe('time.ts: 32-bit microsecond timestamps', () => {
  test('timestampMicros wraps modulo 2^32', () => {
    assert.equal(timestampMicros(0), 0);
    assert.equal(timestampMicros(1.5), 1500);
    assert.equal(timestampMicros(4_294_967.296), 0); // exactly 2^32 µs
    assert.equal(timestampMicros(4_294_968), 704);
    assert.equal(timestampMicros(0.0004), 0); // floors sub-µs
  });

  test('timestampDifference is modular: a receive clock that wrapped still gives the small delay', () => {
    assert.equal(timestampDifference(5, 0xfffffffe), 7);
    assert.equal(timestampDifference(1000, 400), 600);
    // A receiver clock behind the sender's: the "difference" is huge but still a valid u32.
    assert.equal(timestampDifference(0xfffffffe, 5), 0xfffffff9);
    assert.equal(timestampDifference(0, 0), 0);
  });

  test('delaySample treats 0 (no sample yet) and INT_MAX (old uTorrent bug) as none', () => {
    assert.equal(delaySample(0), undefined);
    assert.equal(delaySample(0x7fffffff), undefined);
    assert.equal(delaySample(1), 1);
    assert.equal(delaySample(0xffffffff), 0xffffffff);
  });

  test('timestampDelta is signed modulo 2^32', () => {
    assert.equal(timestampDelta(0xffffff00, 0x10), 0x110);
    assert.equal(timestampDelta(0x10, 0xffffff00), -0x110);
    assert.equal(timestampDelta(0, 0x7fffffff), 0x7fffffff);
    assert.equal(timestampDelta(0, 0x80000000), -0x80000000);
  });
});
