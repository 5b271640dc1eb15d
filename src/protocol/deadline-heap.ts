/**
 * A binary min-heap of items keyed by a deadline, with each item's position stored on the item
 * (as Node's own timer list does) so that re-keying or removing one costs O(log n) and finding
 * it costs nothing. The endpoint keeps its connections here by their next wake-up: a wake-up then
 * costs O(log n) per connection that is due, not a walk over every connection.
 *
 * Calling contract: an item belongs to one heap. `schedule` sets its key (Infinity takes it
 * out), `lower` only moves it earlier, `popDue` takes out every item due by `now`, `retire`
 * takes it out for good (later `schedule`/`lower` calls are ignored: a removed connection may
 * still arm a timer on its way out, and must never be woken again). Keys are plain numbers
 * (ms); nothing here reads a clock.
 */

/** The fields a heap owns on each of its items. Initialise them to `NOT_SCHEDULED` and Infinity. */
export interface HeapItem {
  heapIndex: number;
  heapKey: number;
}

/** `heapIndex` of an item that is not in the heap but may be scheduled. */
export const NOT_SCHEDULED = -1;
/** `heapIndex` of a retired item: never scheduled again. */
const RETIRED = -2;

export class DeadlineHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest key, Infinity when empty. */
  peekKey(): number {
    return this.items.length > 0 ? this.items[0]!.heapKey : Infinity;
  }

  /** Sets `item`'s key: inserts, moves or (Infinity) removes it. */
  schedule(item: T, key: number): void {
    const index = item.heapIndex;
    if (index === RETIRED) return;
    if (key === Infinity) {
      if (index >= 0) this.removeAt(index);
      item.heapKey = Infinity;
      return;
    }
    if (index < 0) {
      item.heapKey = key;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.siftUp(item.heapIndex);
      return;
    }
    const old = item.heapKey;
    if (key === old) return;
    item.heapKey = key;
    if (key < old) this.siftUp(index);
    else this.siftDown(index);
  }

  /** Moves `item` earlier to `key` if that is earlier than its current key (or it is not in the heap). */
  lower(item: T, key: number): void {
    if (item.heapIndex < 0 ? key < Infinity : key < item.heapKey) this.schedule(item, key);
  }

  /** Takes `item` out for good. */
  retire(item: T): void {
    if (item.heapIndex >= 0) this.removeAt(item.heapIndex);
    item.heapIndex = RETIRED;
    item.heapKey = Infinity;
  }

  /** Takes out every item whose key is at most `now`, earliest first, and appends them to `out`. */
  popDue(now: number, out: T[]): void {
    const items = this.items;
    while (items.length > 0 && items[0]!.heapKey <= now) {
      const top = items[0]!;
      this.removeAt(0);
      top.heapKey = Infinity;
      out.push(top);
    }
  }

  private removeAt(index: number): void {
    const items = this.items;
    const item = items[index]!;
    item.heapIndex = NOT_SCHEDULED;
    const last = items.pop()!;
    if (index === items.length) return;
    items[index] = last;
    last.heapIndex = index;
    // The moved item may belong above or below its new place.
    if (index > 0 && last.heapKey < items[(index - 1) >> 1]!.heapKey) this.siftUp(index);
    else this.siftDown(index);
  }

  private siftUp(index: number): void {
    const items = this.items;
    const item = items[index]!;
    const key = item.heapKey;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex]!;
      if (parent.heapKey <= key) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const length = items.length;
    const item = items[index]!;
    const key = item.heapKey;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && items[right]!.heapKey < items[child]!.heapKey) child = right;
      const childItem = items[child]!;
      if (childItem.heapKey >= key) break;
      items[index] = childItem;
      childItem.heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
