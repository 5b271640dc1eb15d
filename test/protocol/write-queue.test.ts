/** WriteQueue: packet payloads are copies; `borrowed` and `adopt` track application memory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
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

test('adopt copies only what is still borrowed: a later adopt leaves the earlier copy in place', () => {
  const q = new WriteQueue();
  const a = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  q.push(a);
  q.adopt();
  a.fill(0);
  const b = new Uint8Array([9, 10, 11]);
  q.push(b);
  const one = new Uint8Array(1);
  q.takeInto(one, 0, 1); // from the earlier copy: b is still borrowed whole
  assert.equal(q.borrowed, true);
  const earlier = internals(q).chunks[0];
  q.adopt(); // the earlier copy (7 bytes left) is more than twice b's 3: it stays
  b.fill(0);
  assert.equal(q.borrowed, false);
  assert.equal(internals(q).chunks[0], earlier);
  const rest = new Uint8Array(10);
  q.takeInto(rest, 0, 10);
  assert.deepEqual([...one, ...rest], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

test('a borrowed head chunk taken in part is adopted from where the taking stopped', () => {
  const q = new WriteQueue();
  const a = new Uint8Array([1, 2, 3, 4, 5]);
  q.push(a);
  const two = new Uint8Array(2);
  q.takeInto(two, 0, 2);
  q.adopt();
  a.fill(0);
  const rest = new Uint8Array(3);
  q.takeInto(rest, 0, 3);
  assert.deepEqual([...two, ...rest], [1, 2, 3, 4, 5]);
  assert.equal(q.length, 0);
});

test('model: any mix of writes, takes and adopts yields the written bytes in order, whatever the application does to adopted buffers', () => {
  type Op = { kind: 'push'; size: number } | { kind: 'take'; size: number } | { kind: 'adopt' };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), size: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('take' as const), size: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ kind: fc.constant('adopt' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }) as fc.Arbitrary<Op[]>, (ops) => {
      const q = new WriteQueue();
      const expected: number[] = [];
      const taken: number[] = [];
      let next = 1;
      /** Buffers pushed since the last adopt: the application may not touch them yet. */
      let lent: Uint8Array[] = [];
      for (const o of ops) {
        if (o.kind === 'push') {
          const data = Uint8Array.from({ length: o.size }, () => next++ & 0xff);
          expected.push(...data);
          q.push(data);
          if (data.length > 0) lent.push(data);
        } else if (o.kind === 'take') {
          const size = Math.min(o.size, q.length);
          const out = new Uint8Array(size + 2);
          q.takeInto(out, 1, size);
          taken.push(...out.subarray(1, 1 + size));
        } else {
          q.adopt();
          for (const data of lent) data.fill(0xee); // the application reuses its buffers
          lent = [];
        }
        assert.equal(q.length, expected.length - taken.length);
        if (q.length === 0) assert.equal(q.borrowed, false);
      }
      const out = new Uint8Array(q.length);
      q.takeInto(out, 0, q.length);
      taken.push(...out);
      assert.deepEqual(taken, expected);
    }),
    { numRuns: 500 },
  );
});

/** The queue's chunk array and read position, read by field name (private: no getter in src/). */
function internals(q: WriteQueue): { chunks: Uint8Array[]; head: number; offset: number } {
  const fields = q as unknown as { chunks?: Uint8Array[]; head?: number; offset?: number };
  if (fields.chunks === undefined || fields.head === undefined || fields.offset === undefined) throw new Error('WriteQueue fields renamed: update internals()');
  return { chunks: fields.chunks, head: fields.head, offset: fields.offset };
}

test("after adopt the queue references only the bytes it still holds: no chunk already taken, no buffer handed back", () => {
  // As a Socket writes: a fresh 64 KiB buffer, the next on 'written' (adopt once the rest is short).
  // Chunks taken before an adopt must go with it, or every buffer and copy since the queue last
  // ran dry stays referenced (up to 1024 of them: 64 MiB of 64 KiB writes).
  const q = new WriteQueue();
  const packet = new Uint8Array(1400);
  for (let round = 0; round < 40; round++) {
    q.push(new Uint8Array(64 * 1024));
    while (q.length > 64 * 1024) q.takeInto(packet, 0, Math.min(packet.length, q.length));
    q.adopt();
    const { chunks, head, offset } = internals(q);
    const referenced = chunks.reduce((n, c) => n + c.length, 0);
    assert.equal(referenced - offset, q.length, `round ${round}: ${chunks.length} chunks (head ${head}) reference ${referenced} bytes for ${q.length} queued`);
  }
});

test('adopts of many small writes keep the queue in a few chunks', () => {
  // Small writes while the window is shut: each is adopted before its callback. One chunk per
  // adopt would leave 8192 tiny arrays (and a walk over them per packet) for 64 KiB queued.
  const q = new WriteQueue();
  let next = 0;
  const expected: number[] = [];
  while (q.length < 64 * 1024) {
    const data = Uint8Array.from({ length: 8 }, () => next++ & 0xff);
    expected.push(...data);
    q.push(data);
    q.adopt();
    data.fill(0xee);
  }
  const { chunks, head } = internals(q);
  assert.ok(chunks.length - head <= 32, `${chunks.length - head} chunks hold ${q.length} bytes`);
  const out = new Uint8Array(q.length);
  q.takeInto(out, 0, q.length);
  assert.deepEqual([...out], expected);
});

test('model, adversarial: buffers detached once nothing is borrowed; clear, bursts past 1024 chunks, adopts as releaseWrites makes them', () => {
  type Op =
    | { kind: 'push'; size: number; pad: number }
    | { kind: 'burst'; count: number; size: number }
    | { kind: 'take'; size: number }
    | { kind: 'release'; limit: number }
    | { kind: 'clear' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('push' as const), size: fc.integer({ min: 0, max: 50 }), pad: fc.integer({ min: 0, max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 1300 }), size: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('take' as const), size: fc.integer({ min: 0, max: 2000 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), limit: fc.integer({ min: 0, max: 200 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60, size: 'max' }), (ops) => {
      const q = new WriteQueue();
      /** Queued bytes, and whether each still lives in a buffer the application lent. */
      let queued: number[] = [];
      let lentFlags: boolean[] = [];
      let lent: ArrayBuffer[] = [];
      let next = 1;
      const push = (size: number, pad: number): void => {
        const backing = new ArrayBuffer(size + 2 * pad);
        const data = new Uint8Array(backing, pad, size);
        for (let i = 0; i < size; i++) data[i] = next++ & 0xff;
        lent.push(backing);
        q.push(data);
        queued.push(...data);
        for (let i = 0; i < size; i++) lentFlags.push(true);
      };
      for (const o of ops) {
        if (o.kind === 'push') push(o.size, o.pad);
        else if (o.kind === 'burst') for (let i = 0; i < o.count; i++) push(o.size, 0);
        else if (o.kind === 'take') {
          const size = Math.min(o.size, q.length);
          const out = new Uint8Array(size);
          q.takeInto(out, 0, size);
          assert.deepEqual([...out], queued.slice(0, size));
          queued = queued.slice(size);
          lentFlags = lentFlags.slice(size);
        } else if (o.kind === 'release') {
          // As Connection.releaseWrites: adopt a short borrowed rest.
          if (q.borrowed && q.length <= o.limit) {
            q.adopt();
            lentFlags = lentFlags.map(() => false);
            const { chunks, offset } = internals(q);
            assert.equal(chunks.reduce((n, c) => n + c.length, 0) - offset, q.length, 'adopt left only what is queued');
          }
        } else {
          q.clear();
          queued = [];
          lentFlags = [];
        }
        assert.equal(q.length, queued.length);
        assert.equal(q.borrowed, lentFlags.includes(true));
        // 'written': the application takes its buffers back. Detached, a read of one would throw.
        if (!q.borrowed) {
          for (const backing of lent) structuredClone(backing, { transfer: [backing] });
          lent = [];
        }
      }
      const out = new Uint8Array(q.length);
      q.takeInto(out, 0, q.length);
      assert.deepEqual([...out], queued);
    }),
    { numRuns: 200 },
  );
});
