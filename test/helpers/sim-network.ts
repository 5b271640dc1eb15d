/**
 * A simulated network with a virtual clock for driving protocol `Endpoint`s deterministically.
 *
 * Each host owns one `Endpoint` at one (address, port). Datagrams travel over per-direction
 * links with a rate (bytes/s), a drop-tail queue (bytes), latency, jitter (which reorders), random
 * loss, duplication, an MTU (larger datagrams are dropped) and outages (intervals when everything
 * is dropped). One seed drives everything: each host's `random` and each link's impairments get
 * their own PRNG stream derived from it, so the same seed gives the same run, packet for packet.
 *
 * The event loop mirrors src/node/udp-driver.ts: datagrams arriving at the same instant form a
 * burst, each goes to `handleDatagram`, then the host is serviced once: `handleTimeout(now)`,
 * dispatch `events` (the application may write, and its data carries the ACK), `flush(now)`, send
 * `transmits` (repeat while the flush left events). A host whose `nextWake` has come is serviced
 * the same way. Nothing waits in real time, and the application's handlers take none.
 */
import type { EndpointConfig } from '../../src/protocol/config.js';
import { SynCookies, type SynCookieSource } from '../../src/protocol/syn-cookie.js';
import type { CongestionControllerFactory } from '../../src/protocol/congestion/controller.js';
import type { Connection } from '../../src/protocol/connection.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { EndpointEvent, Remote } from '../../src/protocol/events.js';
import type { ConnectionTracer } from '../../src/protocol/tracer.js';
import { decodePacket, type Packet } from '../../src/protocol/packet.js';
import { hashString, mulberry32, unit } from './random.js';

export { firstDifference, hashString, mulberry32, sameBytes, seededBytes, unit } from './random.js';

// ---------------------------------------------------------------- links

export interface Outage {
  /** Virtual ms, inclusive. */
  start: number;
  /** Virtual ms, exclusive. */
  end: number;
}

export interface LinkOptions {
  /** Bytes per second; Infinity means no serialization delay. */
  rate: number;
  /** Drop-tail queue in bytes (the datagram being serialized counts). */
  queueBytes: number;
  /** One-way propagation delay (ms). */
  latency: number;
  /** Uniform extra delay in [0, jitter) ms per datagram; enough of it reorders. */
  jitter: number;
  /** Probability that a datagram is lost. */
  loss: number;
  /** Probability that a datagram is delivered twice. */
  duplicate: number;
  /** Datagrams larger than this (bytes of UDP payload) are dropped. */
  mtu: number;
  /** While the clock is inside one, everything sent or arriving is dropped. */
  outages: Outage[];
  /** Custom drop rule (return true to drop), e.g. "drop the 3rd DATA packet". */
  filter: ((datagram: SimDatagram) => boolean) | undefined;
}

export const DEFAULT_LINK: LinkOptions = {
  rate: Infinity,
  queueBytes: Infinity,
  latency: 10,
  jitter: 0,
  loss: 0,
  duplicate: 0,
  mtu: Infinity,
  outages: [],
  filter: undefined,
};

export type Fate = 'delivered' | 'loss' | 'queue' | 'mtu' | 'outage' | 'filtered' | 'unroutable' | 'injected';

export interface SimDatagram {
  from: Remote;
  to: Remote;
  data: Uint8Array;
  /** Virtual time it was sent (or injected). */
  sentAt: number;
  /** Decoded, when the bytes are µTP. */
  packet: Packet | undefined;
}

export interface LinkCounters {
  sent: number;
  sentBytes: number;
  delivered: number;
  duplicated: number;
  loss: number;
  queue: number;
  mtu: number;
  outage: number;
  filtered: number;
}

export class Link {
  readonly options: LinkOptions;
  readonly counters: LinkCounters = { sent: 0, sentBytes: 0, delivered: 0, duplicated: 0, loss: 0, queue: 0, mtu: 0, outage: 0, filtered: 0 };
  /** When the transmitter finishes serializing what is already queued. */
  private busyUntil = 0;

  constructor(
    readonly from: SimHost,
    readonly to: SimHost,
    options: Partial<LinkOptions>,
    private readonly random: () => number,
  ) {
    this.options = { ...DEFAULT_LINK, ...options, outages: [...(options.outages ?? [])] };
  }

  /** Changes impairments in place (e.g. start losing packets mid-transfer). */
  set(options: Partial<LinkOptions>): void {
    Object.assign(this.options, options);
  }

  /** Queueing delay (ms) a datagram sent at `now` would wait before its serialization starts. */
  queueDelay(now: number): number {
    return Math.max(0, this.busyUntil - now);
  }

  /** Adds an interval during which the link drops everything. */
  addOutage(start: number, end: number): void {
    this.options.outages.push({ start, end });
  }

  inOutage(t: number): boolean {
    for (const o of this.options.outages) if (t >= o.start && t < o.end) return true;
    return false;
  }

  /**
   * Puts a datagram on the link at `now`: returns its arrival times (none when dropped, two when
   * duplicated) or the reason it was dropped. The random draws happen in a fixed order so a run is
   * reproducible from the seed.
   */
  send(datagram: SimDatagram, now: number): number[] | Exclude<Fate, 'delivered' | 'unroutable' | 'injected'> {
    const o = this.options;
    const size = datagram.data.length;
    const lossDraw = unit(this.random);
    const jitterDraw = unit(this.random);
    const dupDraw = unit(this.random);
    const dupJitterDraw = unit(this.random);
    this.counters.sent++;
    this.counters.sentBytes += size;
    if (o.filter?.(datagram)) return this.drop('filtered');
    if (this.inOutage(now)) return this.drop('outage');
    if (size > o.mtu) return this.drop('mtu');
    let depart = now;
    if (o.rate !== Infinity) {
      const start = Math.max(now, this.busyUntil);
      const backlog = ((start - now) * o.rate) / 1000;
      if (backlog + size > o.queueBytes) return this.drop('queue');
      depart = start + (size * 1000) / o.rate;
      this.busyUntil = depart;
    }
    if (lossDraw < o.loss) return this.drop('loss');
    const arrivals: number[] = [];
    const first = depart + o.latency + o.jitter * jitterDraw;
    if (!this.inOutage(first)) arrivals.push(first);
    if (dupDraw < o.duplicate) {
      const second = depart + o.latency + o.jitter * dupJitterDraw;
      if (!this.inOutage(second)) {
        arrivals.push(second);
        this.counters.duplicated++;
      }
    }
    if (arrivals.length === 0) return this.drop('outage');
    this.counters.delivered++;
    return arrivals;
  }

  private drop<F extends 'loss' | 'queue' | 'mtu' | 'outage' | 'filtered'>(fate: F): F {
    this.counters[fate]++;
    return fate;
  }
}

// ---------------------------------------------------------------- applications

/** What a connection's `context` holds in the simulator: the application object that gets its events. */
export interface SimApp {
  onEvent(event: EndpointEvent, host: SimHost): void;
}

export interface AppOptions {
  /** Bytes to send (seeded data), written as `write()`'s return value and 'drain' allow. */
  send?: Uint8Array | undefined;
  /** Size of each write() call. */
  chunkSize?: number | undefined;
  /** Call end() once everything is written (default true when `send` is given). */
  endWhenWritten?: boolean | undefined;
  /** End our side as soon as the peer's end of stream arrives (default false). */
  endOnEof?: boolean | undefined;
  /** Read delivered bytes at once (default true); when false they stay unread until `read()`. */
  autoRead?: boolean | undefined;
  /** When to start writing: once connected (default) or once the peer's end of stream arrived. */
  startOn?: 'connect' | 'eof' | undefined;
}

/**
 * The application side of one connection, as the Node Socket would be: a sink that records what
 * arrives and reports unread bytes with `setApplicationBuffered`, and a source that writes seeded
 * data while `write()` says yes and resumes on 'drain'.
 */
export class StreamApp implements SimApp {
  readonly chunks: Uint8Array[] = [];
  receivedBytes = 0;
  /** Delivered but not yet read by the application. */
  unread = 0;
  connected = false;
  ended = false;
  closed = false;
  error: (Error & { code?: string }) | undefined = undefined;
  connectedAt: number | undefined = undefined;
  endedAt: number | undefined = undefined;
  closedAt: number | undefined = undefined;
  drains = 0;
  written = 0;
  private readonly send: Uint8Array | undefined;
  private readonly chunkSize: number;
  private readonly endWhenWritten: boolean;
  private readonly endOnEof: boolean;
  private readonly startOn: 'connect' | 'eof';
  private started = false;
  autoRead: boolean;
  private readonly net: SimNetwork;
  private waitingForDrain = false;
  private endCalled = false;

  constructor(
    readonly connection: Connection,
    readonly host: SimHost,
    options: AppOptions = {},
  ) {
    this.net = host.net;
    this.send = options.send;
    this.chunkSize = options.chunkSize ?? 16 * 1024;
    this.endWhenWritten = options.endWhenWritten ?? options.send !== undefined;
    this.endOnEof = options.endOnEof ?? false;
    this.autoRead = options.autoRead ?? true;
    this.startOn = options.startOn ?? 'connect';
    connection.context = this;
  }

  /** All bytes received so far, in order. */
  data(): Uint8Array {
    const out = new Uint8Array(this.receivedBytes);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }

  /** Connected: start writing unless told to wait for the peer's end of stream. */
  start(): void {
    if (this.startOn === 'connect') {
      this.started = true;
      this.pump();
    }
  }

  /** Writes (or resumes writing) as far as write()'s return value allows. */
  pump(): void {
    if (this.closed || this.waitingForDrain || !this.started) return;
    const send = this.send;
    if (send) {
      while (this.written < send.length) {
        const end = Math.min(send.length, this.written + this.chunkSize);
        const ok = this.connection.write(send.subarray(this.written, end));
        if (this.connection.state === 'closed') return;
        this.written = end;
        if (!ok) {
          this.waitingForDrain = true;
          return;
        }
      }
    }
    if (this.endWhenWritten && (!send || this.written === send.length)) this.end();
  }

  end(): void {
    if (this.endCalled) return;
    this.endCalled = true;
    this.connection.end();
    this.net.kick(this.host);
  }

  /** The application reads `bytes` (default: everything unread); the window reopens. */
  read(bytes = this.unread): void {
    this.unread -= Math.min(bytes, this.unread);
    this.connection.setApplicationBuffered(this.unread);
    this.net.kick(this.host);
  }

  onEvent(event: EndpointEvent): void {
    switch (event.type) {
      case 'connect':
        this.connected = true;
        this.connectedAt = this.net.now;
        this.start();
        return;
      case 'data':
        for (const piece of event.pieces) {
          this.chunks.push(piece);
          this.receivedBytes += piece.length;
          this.unread += piece.length;
        }
        // The Node Socket reports what the application has not read yet.
        if (this.autoRead) this.unread = 0;
        event.connection.setApplicationBuffered(this.unread);
        return;
      case 'end':
        this.ended = true;
        this.endedAt = this.net.now;
        if (this.startOn === 'eof') {
          this.started = true;
          this.pump();
        }
        if (this.endOnEof && (!this.send || this.written === this.send.length)) this.end();
        return;
      case 'drain':
        this.drains++;
        this.waitingForDrain = false;
        this.pump();
        return;
      case 'close':
        this.closed = true;
        this.closedAt = this.net.now;
        this.error = event.error;
        return;
      case 'connection':
        return;
    }
  }
}

// ---------------------------------------------------------------- hosts

export interface HostOptions {
  address?: string;
  port?: number;
  listening?: boolean;
  config?: Partial<EndpointConfig>;
  controller?: CongestionControllerFactory;
  /** Values `random()` returns first (then the seeded stream): to force an initiator's ids and ISN. */
  randomQueue?: number[];
  /** ISNs this host answers SYNs with first (then SYN cookies): to force an acceptor's ISN. */
  isnQueue?: number[];
  /** Told what the host's connections do (tracing tests). */
  tracer?: ConnectionTracer;
  /** Application for accepted connections (default: a StreamApp with these options). */
  accept?: ((connection: Connection, host: SimHost) => SimApp | void) | AppOptions;
}

/** SYN cookies whose first ISNs are forced (and stay valid for the SYN they answered). */
function forcedCookies(queue: number[], random: () => number): SynCookieSource {
  const real = new SynCookies(random);
  const forced = new Map<string, number>();
  const key = (address: string, port: number, id: number, seq: number): string => `${address}|${port}|${id}|${seq}`;
  const pending = [...queue];
  return {
    isn(address, port, id, seq, now) {
      const k = key(address, port, id, seq);
      const known = forced.get(k);
      if (known !== undefined) return known;
      const next = pending.shift();
      if (next === undefined) return real.isn(address, port, id, seq, now);
      forced.set(k, next & 0xffff);
      return next & 0xffff;
    },
    valid(address, port, id, seq, isn, now) {
      return forced.get(key(address, port, id, seq)) === isn || real.valid(address, port, id, seq, isn, now);
    },
  };
}

export interface LoggedEvent {
  time: number;
  event: EndpointEvent;
}

export class SimHost {
  readonly remote: Remote;
  readonly endpoint: Endpoint;
  /** Every event the endpoint emitted, with the virtual time it was dispatched. */
  readonly log: LoggedEvent[] = [];
  /** Incoming connections handed to the application (confirmed). */
  readonly accepted: Connection[] = [];
  /** Datagrams the endpoint said were not µTP. */
  readonly notUtp: SimDatagram[] = [];
  /** Calls to random() (for tests that check what was consumed). */
  randomCalls = 0;
  /** Until then the host runs nothing (a GC pause): datagrams wait for it, its timers too. */
  pausedUntil = -Infinity;
  readonly randomQueue: number[];
  accept: HostOptions['accept'];
  private readonly prng: () => number;

  constructor(
    readonly name: string,
    readonly net: SimNetwork,
    seed: number,
    options: HostOptions,
    address: string,
  ) {
    this.remote = Object.freeze({ address, port: options.port ?? 6881, family: 'IPv4' as const });
    this.prng = mulberry32(seed);
    this.randomQueue = [...(options.randomQueue ?? [])];
    this.accept = options.accept;
    this.endpoint = new Endpoint({
      random: () => {
        this.randomCalls++;
        const forced = this.randomQueue.shift();
        return forced !== undefined ? forced >>> 0 : this.prng();
      },
      config: options.config ?? {},
      ...(options.controller ? { controller: options.controller } : {}),
      ...(options.isnQueue ? { synCookies: forcedCookies(options.isnQueue, this.prng) } : {}),
      ...(options.tracer ? { tracer: options.tracer } : {}),
      // As the Node driver: every transmit is released once copied (sendTransmits), so the
      // connections reuse datagram buffers here too and every protocol test runs with reuse.
      releasesDatagrams: true,
    });
    this.endpoint.listening = options.listening ?? false;
  }

  get key(): string {
    return `${this.remote.address}:${this.remote.port}`;
  }

  /** Events of one type (optionally for one connection). */
  events<T extends EndpointEvent['type']>(type: T, connection?: Connection): Extract<EndpointEvent, { type: T }>[] {
    const out: Extract<EndpointEvent, { type: T }>[] = [];
    for (const { event } of this.log) {
      if (event.type === type && (connection === undefined || event.connection === connection)) {
        out.push(event as Extract<EndpointEvent, { type: T }>);
      }
    }
    return out;
  }

  /** The application object of a connection, when it is a StreamApp. */
  app(connection: Connection): StreamApp {
    const app = connection.context;
    if (!(app instanceof StreamApp)) throw new Error('connection has no StreamApp');
    return app;
  }
}

// ---------------------------------------------------------------- network

export interface TraceRecord extends SimDatagram {
  /** When it was sent; arrival times are in `arrivals` when delivered. */
  fate: Fate;
  arrivals: number[];
}

interface Delivery {
  time: number;
  order: number;
  to: SimHost;
  datagram: SimDatagram;
}

export interface SimNetworkOptions {
  seed?: number;
  /** Impairments of every link not configured explicitly. */
  link?: Partial<LinkOptions>;
}

/** Virtual ms at the same instant after which the loop is declared stuck. */
const MAX_STEPS_PER_INSTANT = 1_000_000;

export class SimNetwork {
  /** Virtual time in ms. */
  now = 0;
  readonly seed: number;
  readonly hosts: SimHost[] = [];
  /** Called for every datagram any host sends or the test injects, with what became of it. */
  readonly taps: ((record: TraceRecord) => void)[] = [];
  /** Datagrams sent to addresses where no host lives (e.g. replies to forged sources). */
  readonly unroutable: SimDatagram[] = [];
  private readonly defaultLink: Partial<LinkOptions>;
  private readonly links = new Map<string, Link>();
  private readonly byKey = new Map<string, SimHost>();
  private readonly heap: Delivery[] = [];
  private order = 0;
  private readonly pending = new Set<SimHost>();
  private stepsAtInstant = 0;
  private lastInstant = -1;

  constructor(options: SimNetworkOptions = {}) {
    this.seed = (options.seed ?? 1) >>> 0;
    this.defaultLink = options.link ?? {};
  }

  addHost(name: string, options: HostOptions = {}): SimHost {
    const address = options.address ?? `10.0.0.${this.hosts.length + 1}`;
    const host = new SimHost(name, this, this.seed ^ hashString(`host:${name}`), options, address);
    if (this.byKey.has(host.key)) throw new Error(`duplicate host address ${host.key}`);
    this.hosts.push(host);
    this.byKey.set(host.key, host);
    return host;
  }

  /** The link from `from` to `to` (created with the default impairments on first use). */
  link(from: SimHost, to: SimHost): Link {
    const key = `${from.key}>${to.key}`;
    let link = this.links.get(key);
    if (!link) {
      link = new Link(from, to, this.defaultLink, mulberry32(this.seed ^ hashString(`link:${key}`)));
      this.links.set(key, link);
    }
    return link;
  }

  /** Sets impairments on both directions between two hosts. */
  path(a: SimHost, b: SimHost, options: Partial<LinkOptions>): void {
    this.link(a, b).set(options);
    this.link(b, a).set(options);
  }

  /** Opens a connection from `from` to `to` with a StreamApp attached; the SYN leaves at once. */
  connect(from: SimHost, to: SimHost, app: AppOptions = {}, config?: Partial<EndpointConfig>): Connection {
    const connection = from.endpoint.connect(to.remote, this.now, config);
    new StreamApp(connection, from, app);
    this.kick(from);
    return connection;
  }

  /** Services `host` at the current time (after the application did something outside an event). */
  kick(host: SimHost): void {
    this.pending.add(host);
  }

  /** Delivers raw bytes to `to` as if sent from `from` (any address: forged sources), bypassing links. */
  inject(to: SimHost, data: Uint8Array, from: Remote, at = this.now): void {
    const datagram: SimDatagram = { from, to: to.remote, data, sentAt: at, packet: decodePacket(data) };
    this.record(datagram, 'injected', [at]);
    this.schedule(to, datagram, Math.max(at, this.now));
  }

  /** Runs every event up to virtual time `until`; the clock ends at `until`. */
  drive(until: number): void {
    this.serviceAll();
    while (this.step(until));
    if (until > this.now) this.now = until;
  }

  /**
   * Stops `host` for `ms` (a stop-the-world GC pause): what arrives meanwhile is handled in one
   * burst when it resumes, and its timers fire late. Its links keep running.
   */
  pause(host: SimHost, ms: number): void {
    host.pausedUntil = Math.max(host.pausedUntil, this.now + ms);
  }

  /** Runs for `ms` more virtual milliseconds. */
  advance(ms: number): void {
    this.drive(this.now + ms);
  }

  /**
   * Runs until `predicate()` holds (checked after every step) or `maxVirtualMs` of virtual time
   * have passed; returns whether it held.
   */
  runUntil(predicate: () => boolean, maxVirtualMs = 600_000): boolean {
    const limit = this.now + maxVirtualMs;
    this.serviceAll();
    if (predicate()) return true;
    while (this.step(limit)) if (predicate()) return true;
    if (limit > this.now) this.now = limit;
    return predicate();
  }

  /** Starts recording every datagram (sent or injected) with its fate; returns the live array. */
  capture(): TraceRecord[] {
    const records: TraceRecord[] = [];
    this.taps.push((r) => records.push(r));
    return records;
  }

  /** Datagrams in flight. */
  get inFlight(): number {
    return this.heap.length;
  }

  /** One instant: deliver everything due then, service affected hosts. False when nothing is due by `limit`. */
  private step(limit: number): boolean {
    let t = this.heap.length > 0 ? this.heap[0]!.time : Infinity;
    for (const host of this.hosts) {
      const wake = host.pausedUntil > this.now ? host.pausedUntil : host.endpoint.nextWake;
      if (wake < t) t = wake;
    }
    for (const host of this.pending) if (!(host.pausedUntil > this.now)) t = this.now;
    if (t === Infinity || t > limit) return false;
    if (t > this.now) this.now = t;
    if (this.now === this.lastInstant) {
      if (++this.stepsAtInstant > MAX_STEPS_PER_INSTANT) throw new Error(`simulation stuck at t=${this.now}`);
    } else {
      this.lastInstant = this.now;
      this.stepsAtInstant = 0;
    }
    const touched = this.pending;
    // A burst: every datagram due now reaches its endpoint before any host flushes (the driver
    // flushes on setImmediate, after the poll phase has read all pending datagrams).
    while (this.heap.length > 0 && this.heap[0]!.time <= this.now) {
      const d = this.pop();
      if (d.to.pausedUntil > this.now) {
        this.schedule(d.to, d.datagram, d.to.pausedUntil); // in arrival order, after the pause
        continue;
      }
      if (!d.to.endpoint.handleDatagram(d.datagram.data, d.datagram.from, this.now)) d.to.notUtp.push(d.datagram);
      touched.add(d.to);
    }
    for (const host of this.hosts) if (host.endpoint.nextWake <= this.now) touched.add(host);
    // Service in host order, for determinism; servicing may kick other hosts (handled next step).
    const batch = this.hosts.filter((h) => touched.has(h) && !(h.pausedUntil > this.now));
    for (const h of batch) touched.delete(h);
    for (const host of batch) this.service(host);
    return true;
  }

  private serviceAll(): void {
    for (const host of this.hosts) {
      if (host.pausedUntil > this.now) continue; // stays pending until it resumes
      this.service(host);
      this.pending.delete(host);
    }
  }

  /** What the driver's flushNow does: timeouts, dispatch, flush, send; again while events cause work. */
  private service(host: SimHost): void {
    const endpoint = host.endpoint;
    for (let round = 0; ; round++) {
      if (round > 10_000) throw new Error(`host ${host.name}: events never settle at t=${this.now}`);
      endpoint.handleTimeout(this.now);
      const events = endpoint.events.splice(0);
      for (const event of events) this.dispatch(host, event);
      endpoint.flush(this.now);
      this.sendTransmits(host);
      if (endpoint.events.length === 0) break;
    }
  }

  private dispatch(host: SimHost, event: EndpointEvent): void {
    host.log.push({ time: this.now, event });
    if (event.type === 'connection') {
      host.accepted.push(event.connection);
      const accept = host.accept;
      if (typeof accept === 'function') {
        const app = accept(event.connection, host);
        if (app) event.connection.context = app;
      } else {
        const app = new StreamApp(event.connection, host, accept ?? {});
        app.connected = true;
        app.connectedAt = this.now;
        app.start();
      }
      return;
    }
    const app = event.connection.context as SimApp | undefined;
    app?.onEvent(event, host);
  }

  private sendTransmits(host: SimHost): void {
    const transmits = host.endpoint.transmits;
    for (let i = 0; i < transmits.length; i++) {
      const t = transmits[i]!;
      // Copy, as socket.send does: the buffer is reused once released.
      const data = t.data.slice();
      host.endpoint.release(t);
      // Decoded up front so link filters and taps can look at the fields.
      const datagram: SimDatagram = { from: host.remote, to: t.remote, data, sentAt: this.now, packet: decodePacket(data) };
      const to = this.byKey.get(`${t.remote.address}:${t.remote.port}`);
      if (!to) {
        this.unroutable.push(datagram);
        this.record(datagram, 'unroutable', []);
        continue;
      }
      const fate = this.link(host, to).send(datagram, this.now);
      if (typeof fate === 'string') {
        this.record(datagram, fate, []);
        continue;
      }
      this.record(datagram, 'delivered', fate);
      for (const time of fate) this.schedule(to, datagram, time);
    }
    transmits.length = 0;
  }

  private record(datagram: SimDatagram, fate: Fate, arrivals: number[]): void {
    if (this.taps.length === 0) return;
    const record: TraceRecord = { ...datagram, fate, arrivals };
    for (const tap of this.taps) tap(record);
  }

  // Binary min-heap on (time, order): equal times keep sending order.
  private schedule(to: SimHost, datagram: SimDatagram, time: number): void {
    const heap = this.heap;
    const item: Delivery = { time, order: this.order++, to, datagram };
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): Delivery {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mItem = last;
        if (l < heap.length && before(heap[l]!, mItem)) {
          m = l;
          mItem = heap[l]!;
        }
        if (r < heap.length && before(heap[r]!, mItem)) {
          m = r;
          mItem = heap[r]!;
        }
        if (m === i) break;
        heap[i] = mItem;
        i = m;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Delivery, b: Delivery): boolean {
  return a.time < b.time || (a.time === b.time && a.order < b.order);
}

/** Records sent by `host` (by address and port; injected datagrams count for their forged source). */
export function sentBy(records: readonly TraceRecord[], host: SimHost | Remote): TraceRecord[] {
  const r = host instanceof SimHost ? host.remote : host;
  return records.filter((x) => x.from.address === r.address && x.from.port === r.port);
}

/** A µTP packet type name for messages. */
export function typeName(record: TraceRecord): string {
  const p = record.packet;
  return p === undefined ? 'not-utp' : (['DATA', 'FIN', 'STATE', 'RESET', 'SYN'][p.type] ?? '?');
}
