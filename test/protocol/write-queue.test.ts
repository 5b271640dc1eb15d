/** WriteQueue: packet payloads are copies; `borrowed` and `adopt` track application memory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteQueue } from '../../src/protocol/write-queue.js';

test('takeInto copies across chunks; changing the written buffers afterwards changes nothing taken', () => {
  const q = new WriteQueue();
  const a = new Uint8Array([1, 2, 3, 4, 5]);
  const b = new Uint8Array([6, 7, 8]);
  q.push(a);
  q.push(b);
  q.push(new Uint8Array(0));
  assert.equal(q.length, 8);
  assert.equal(q.borrowed, true);
  const out = new Uint8Array(10);
  q.takeInto(out, 2, 6); // spans both chunks
  a.fill(0);
  b.fill(0);
  assert.deepEqual([...out], [0, 0, 1, 2, 3, 4, 5, 6, 0, 0]);
  assert.equal(q.length, 2);
  assert.equal(q.borrowed, true);
});

test('adopt copies the rest: the application may reuse its buffers, the queue still yields the old bytes', () => {
  const q = new WriteQueue();
  const a = new Uint8Array([1, 2, 3, 4]);
  const b = new Uint8Array([5, 6]);
  q.push(a);
  q.push(b);
  const first = new Uint8Array(1);
  q.takeInto(first, 0, 1);
  q.adopt();
  assert.equal(q.borrowed, false);
  assert.equal(q.length, 5);
  a.fill(9);
  b.fill(9);
  const rest = new Uint8Array(5);
  q.takeInto(rest, 0, 5);
  assert.deepEqual([...rest], [2, 3, 4, 5, 6]);
  assert.equal(q.length, 0);
  assert.equal(q.borrowed, false);
});

test('taking everything leaves nothing borrowed; clear resets', () => {
  const q = new WriteQueue();
  q.push(new Uint8Array(3000).fill(1));
  const out = new Uint8Array(3000);
  q.takeInto(out, 0, 1400);
  assert.equal(q.borrowed, true);
  q.takeInto(out, 1400, 1600);
  assert.equal(q.borrowed, false);
  q.push(new Uint8Array(5));
  q.clear();
  assert.equal(q.length, 0);
  assert.equal(q.borrowed, false);
});
