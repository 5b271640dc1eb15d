// The impaired link's model, pure (no sockets, no clock): scenarios, the
// seeded per-packet decisions, the rate limiter with its bounded queue, and
// the delivery queue (a binary min-heap on due time) the relay drains with a
// single timer. bench/impaired/relay.ts puts it on UDP sockets.
//
// Per direction, a datagram that arrives at time t (ms) with arrival index i:
//   1. joins the bottleneck: a FIFO drained at `rateMiB` MiB/s of UDP payload.
//      If the bytes already queued plus its own exceed `queueKiB`, it is
//      tail-dropped (a "queue drop", caused by the sender's own rate).
//   2. leaves the bottleneck at `finish`, and is then lost with probability
//      `loss` (a "random drop"), or else delivered at finish + delayMs + U(0,
//      jitterMs); with probability `dup` a second copy is delivered at its own
//      finish + delayMs + U(0, jitterMs). With jitterMs > 0 datagrams overtake
//      each other (reordering); copies are not charged to the rate.
// The random draws for (seed, direction, i) depend on nothing else, so the
// same seed gives the same decisions per packet index per direction whatever
// the timing, the packet sizes or the scenario (a larger `loss` drops a
// superset of the packets a smaller one drops).

export interface Scenario {
  name: string;
  /** Random loss probability per datagram, 0..1. */
  loss: number;
  /** Duplication probability per (surviving) datagram, 0..1. */
  dup: number;
  /** Base one-way delay, ms. */
  delayMs: number;
  /** Extra one-way delay, uniform in [0, jitterMs], drawn per datagram (and per copy). */
  jitterMs: number;
  /** Bottleneck rate per direction, MiB/s of UDP payload (0: unlimited). */
  rateMiB: number;
  /** Bottleneck queue per direction, KiB of UDP payload (tail drop beyond it). */
  queueKiB: number;
}

export const BASE_DELAY_MS = 25;

export const DEFAULT_LINK: Omit<Scenario, 'name'> = {
  loss: 0,
  dup: 0,
  delayMs: BASE_DELAY_MS,
  jitterMs: 0,
  rateMiB: 4,
  queueKiB: 256,
};

export const DEFAULT_SCENARIOS: Scenario[] = [
  // The baseline: only delay and the rate limit, to show each stack's ceiling on this link.
  { ...DEFAULT_LINK, name: 'clean', loss: 0, dup: 0, jitterMs: 0 },
  { ...DEFAULT_LINK, name: 'loss1', loss: 0.01, dup: 0, jitterMs: 0 },
  { ...DEFAULT_LINK, name: 'loss5-dup2-jit2x', loss: 0.05, dup: 0.02, jitterMs: 2 * BASE_DELAY_MS },
  { ...DEFAULT_LINK, name: 'loss10-dup5-jit4x', loss: 0.1, dup: 0.05, jitterMs: 4 * BASE_DELAY_MS },
];

/** Validates and completes a scenario given as JSON (missing fields take DEFAULT_LINK's). */
export function parseScenario(raw: unknown, i: number): Scenario {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`scenario ${i}: not an object`);
  const r = raw as Record<string, unknown>;
  const known = new Set(['name', ...Object.keys(DEFAULT_LINK)]);
  for (const k of Object.keys(r)) if (!known.has(k)) throw new Error(`scenario ${i}: unknown field ${k} (known: ${[...known].join(', ')})`);
  const s: Scenario = { ...DEFAULT_LINK, name: `s${i + 1}` };
  for (const k of Object.keys(DEFAULT_LINK) as (keyof typeof DEFAULT_LINK)[]) {
    const v = r[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`scenario ${i}: ${k} must be a finite number >= 0`);
    s[k] = v;
  }
  if (s.loss > 1 || s.dup > 1) throw new Error(`scenario ${i}: loss and dup are probabilities (0..1), e.g. 0.05 for 5%`);
  if (typeof r.name === 'string') s.name = r.name;
  return s;
}

export function describe(s: Scenario): string {
  const pct = (x: number): string => `${+(x * 100).toFixed(2)}%`;
  return (
    `loss ${pct(s.loss)}, dup ${pct(s.dup)}, delay ${s.delayMs} ms + jitter 0..${s.jitterMs} ms, ` +
    (s.rateMiB > 0 ? `${s.rateMiB} MiB/s, queue ${s.queueKiB} KiB` : 'no rate limit')
  );
}

// ---------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: a small, fast, seeded PRNG returning unsigned 32-bit integers. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** murmur3's finaliser: a bijective 32-bit mix. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** An independent seed for stream `a`, item `b` of `seed`. */
export function subSeed(seed: number, a: number, b: number): number {
  return fmix32(Math.imul(seed >>> 0, 0x9e3779b1) ^ fmix32(Math.imul(a + 1, 0x85ebca6b) ^ fmix32(b >>> 0)));
}

export interface Draws {
  loss: number; // [0, 1)
  dup: number;
  jitter: number;
  dupJitter: number;
}

/** The four uniform draws for datagram `index` of direction `dir` (0 or 1). */
export function draws(seed: number, dir: number, index: number): Draws {
  const r = mulberry32(subSeed(seed, dir, index));
  const u = (): number => r() / 4294967296;
  return { loss: u(), dup: u(), jitter: u(), dupJitter: u() };
}

// ---------------------------------------------------------------------------
// One direction of the link

export interface DirCounters {
  /** Datagrams that arrived at the relay in this direction. */
  received: number;
  bytesReceived: number;
  /** Randomly lost (the `loss` draw). */
  dropped: number;
  /** Tail-dropped because the bottleneck queue was full. */
  queueDrops: number;
  /** Extra copies scheduled. */
  duplicated: number;
  /** Datagrams (first copies) delivered after one that arrived later than they did. */
  reordered: number;
  /** Datagrams handed to the kernel for the far side, copies included. */
  delivered: number;
  bytesDelivered: number;
  /** Largest bottleneck queueing delay seen, ms. */
  maxQueueMs: number;
}

export function newDirCounters(): DirCounters {
  return {
    received: 0,
    bytesReceived: 0,
    dropped: 0,
    queueDrops: 0,
    duplicated: 0,
    reordered: 0,
    delivered: 0,
    bytesDelivered: 0,
    maxQueueMs: 0,
  };
}

export interface Delivery {
  due: number; // ms
  index: number; // arrival index in its direction
  copy: boolean; // a duplicate
}

/** One direction's bottleneck and random decisions. */
export class LinkDirection {
  readonly counters = newDirCounters();
  private busyUntil = 0; // the bottleneck finishes sending what it holds at this time (ms)
  private nextIndex = 0;
  private maxDeliveredIndex = -1;
  private readonly bytesPerMs: number;
  private readonly queueBytes: number;

  constructor(
    private readonly scenario: Scenario,
    private readonly seed: number,
    private readonly dir: number,
  ) {
    this.bytesPerMs = (scenario.rateMiB * 1024 * 1024) / 1000;
    this.queueBytes = scenario.queueKiB * 1024;
  }

  /** A datagram of `size` bytes arrived at `now` (ms): when to deliver it, and any copy (possibly none). */
  arrive(size: number, now: number): Delivery[] {
    const index = this.nextIndex++;
    const c = this.counters;
    c.received++;
    c.bytesReceived += size;
    const d = draws(this.seed, this.dir, index);
    let finish = now;
    if (this.bytesPerMs > 0) {
      const start = Math.max(now, this.busyUntil);
      const queuedBytes = (start - now) * this.bytesPerMs;
      if (queuedBytes + size > this.queueBytes) {
        c.queueDrops++;
        return [];
      }
      finish = start + size / this.bytesPerMs;
      this.busyUntil = finish;
      c.maxQueueMs = Math.max(c.maxQueueMs, finish - now);
    }
    if (d.loss < this.scenario.loss) {
      c.dropped++;
      return [];
    }
    const out: Delivery[] = [{ due: finish + this.scenario.delayMs + d.jitter * this.scenario.jitterMs, index, copy: false }];
    if (d.dup < this.scenario.dup) {
      c.duplicated++;
      out.push({ due: finish + this.scenario.delayMs + d.dupJitter * this.scenario.jitterMs, index, copy: true });
    }
    return out;
  }

  /** Called when a scheduled datagram leaves the relay. */
  delivered(delivery: Delivery, size: number): void {
    const c = this.counters;
    c.delivered++;
    c.bytesDelivered += size;
    if (delivery.copy) return;
    if (delivery.index < this.maxDeliveredIndex) c.reordered++;
    else this.maxDeliveredIndex = delivery.index;
  }
}

// ---------------------------------------------------------------------------
// The delivery queue

/** A binary min-heap ordered by `due`, FIFO among equal due times. */
export class DueHeap<T extends { due: number }> {
  private items: { item: T; seq: number }[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0]?.item;
  }

  push(item: T): void {
    const a = this.items;
    a.push({ item, seq: this.seq++ });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined) return undefined;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top.item;
  }

  private less(i: number, j: number): boolean {
    const x = this.items[i]!;
    const y = this.items[j]!;
    return x.item.due < y.item.due || (x.item.due === y.item.due && x.seq < y.seq);
  }

  private swap(i: number, j: number): void {
    const a = this.items;
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
