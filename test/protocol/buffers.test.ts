/** The send ring grows from a few slots to its capacity across the sequence wrap; the reorder buffer holds only what arrives. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { RecvBuffer } from '../../src/protocol/recv-buffer.js';
import { SendBuffer, type OutPacket } from '../../src/protocol/send-buffer.js';
import { seqAdd } from '../../src/protocol/seq.js';

function packet(seq: number): OutPacket {
  return { seq, type: PacketType.Data, size: 1, bytes: new Uint8Array(1), payloadAt: 0, sentAt: 0, transmissions: 1, needsResend: false, sacked: false, lostIn: 0, holds: 0 };
}

test('send buffer: grows while in flight, across 65535 -> 0, and keeps every packet findable', () => {
  const buffer = new SendBuffer(65000);
  for (let i = 0; i < 3000; i++) buffer.push(packet(buffer.next));
  assert.equal(buffer.count, 3000);
  for (let i = 0; i < 3000; i++) assert.equal(buffer.get(seqAdd(65000, i))?.seq, seqAdd(65000, i));
  for (let i = 0; i < 1000; i++) assert.equal(buffer.shift()?.seq, seqAdd(65000, i));
  while (!buffer.full) buffer.push(packet(buffer.next));
  assert.equal(buffer.count, 4095);
  for (let i = 0; i < buffer.count; i++) assert.equal(buffer.get(seqAdd(buffer.oldest, i))?.seq, seqAdd(buffer.oldest, i));
  assert.equal(buffer.get(buffer.next), undefined);
});

test('reorder buffer: holds out-of-order payloads by seq, SACK bits relative to ack_nr', () => {
  const buffer = new RecvBuffer();
  assert.equal(buffer.insert(65535, 3, new Uint8Array(10)), true);
  assert.equal(buffer.insert(65535, 3, new Uint8Array(10)), false, 'duplicate');
  assert.equal(buffer.insert(1, 5, new Uint8Array(5)), true);
  assert.equal(buffer.bytes, 15);
  // ack_nr 65532: bit 0 = 65534, bit 1 = 65535, bit 3 = 1.
  assert.deepEqual([...buffer.selectiveAck(65532, 128)!], [0b1010, 0, 0, 0]);
  assert.equal(buffer.take(65535)?.length, 10);
  assert.equal(buffer.take(65535), undefined);
  assert.equal(buffer.count, 1);
});
