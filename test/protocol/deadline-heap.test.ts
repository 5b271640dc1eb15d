/**
 * The endpoint's wake-up heap (src/protocol/deadline-heap.ts): against a naive model under random
 * operation sequences, and through the endpoint, that a wake-up runs only the connections due
 * (counted calls, not time: issue 9's walk over every connection per wake-up).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Connection } from '../../src/protocol/connection.js';
import { DeadlineHeap, NOT_SCHEDULED, type HeapItem } from '../../src/protocol/deadline-heap.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { mulberry32 } from '../helpers/random.js';

interface Item extends HeapItem {
  id: number;
}

type Op =
  | { op: 'schedule'; id: number; key: number }
  | { op: 'lower'; id: number; key: number }
  | { op: 'retire'; id: number }
  | { op: 'popDue'; now: number };

const ITEMS = 12;
const key = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(Infinity));
const id = fc.integer({ min: 0, max: ITEMS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('schedule' as const), id, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('lower' as const), id, key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('retire' as const), id }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('popDue' as const), now: fc.integer({ min: 0, max: 50 }) }) },
);

describe('DeadlineHeap', () => {
  test('behaves as a naive map of keys under any sequence of schedule, lower, retire and popDue', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const heap = new DeadlineHeap<Item>();
        const items: Item[] = Array.from({ length: ITEMS }, (_, i) => ({ id: i, heapIndex: NOT_SCHEDULED, heapKey: Infinity }));
        /** The model: id -> key of scheduled items; retired ids. */
        const model = new Map<number, number>();
        const retired = new Set<number>();
        for (const o of ops) {
          if (o.op === 'schedule' || o.op === 'lower') {
            if (retired.has(o.id)) {
              // Ignored for good.
            } else if (o.op === 'schedule' || o.key < (model.get(o.id) ?? Infinity)) {
              if (o.key === Infinity) model.delete(o.id);
              else model.set(o.id, o.key);
            }
            heap[o.op](items[o.id]!, o.key);
          } else if (o.op === 'retire') {
            model.delete(o.id);
            retired.add(o.id);
            heap.retire(items[o.id]!);
          } else {
            const expected = [...model].filter(([, k]) => k <= o.now);
            for (const [i] of expected) model.delete(i);
            const out: Item[] = [];
            heap.popDue(o.now, out);
            // Earliest first; the order among equal keys is the heap's.
            const keys = out.map((x) => expected.find(([i]) => i === x.id)?.[1]);
            assert.deepEqual([...keys].sort((x, y) => x! - y!), keys, 'popped earliest first');
            assert.deepEqual(out.map((x) => x.id).sort((x, y) => x - y), expected.map(([i]) => i).sort((x, y) => x - y));
          }
          assert.equal(heap.size, model.size);
          assert.equal(heap.peekKey(), Math.min(...model.values()));
          for (const item of items) {
            const k = model.get(item.id);
            assert.equal(item.heapKey, k ?? Infinity);
            assert.equal(item.heapIndex >= 0, k !== undefined);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Endpoint wake-ups', () => {
  test('a wake-up runs only the connections due, whatever the number of others', (t) => {
    const endpoint = new Endpoint({ random: mulberry32(5) });
    const n = 2000;
    // Connections whose SYNs go unanswered, one per 1/8 ms: their SYN retransmissions fall due one by one.
    for (let i = 0; i < n; i++) endpoint.connect({ address: '10.0.0.1', port: 1000 + i, family: 'IPv4' }, i / 8);
    endpoint.flush(n / 8);
    endpoint.transmits.length = 0;
    const first = endpoint.nextWake;
    assert.ok(first > n / 8, 'nothing due yet');
    const deadlines = t.mock.method(Connection.prototype, 'nextDeadline');
    const timeouts = t.mock.method(Connection.prototype, 'handleTimeout');
    endpoint.handleTimeout(first + 2 / 8);
    // The first three SYNs are due; the other 1997 are not looked at.
    assert.equal(timeouts.mock.callCount(), 3);
    assert.ok(deadlines.mock.callCount() <= 3 * 3, `nextDeadline called ${deadlines.mock.callCount()} times`);
    assert.equal(endpoint.transmits.length, 3, 'the three SYNs resent');
    assert.equal(endpoint.nextWake, first + 3 / 8);
  });
});
