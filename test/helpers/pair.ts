/**
 * Two endpoints with one connection between them on the simulator, watched by invariant checks:
 * the harness the property tests and the mutation fuzzer drive.
 *
 * Host 0 ('a', the initiator) connects to host 1 ('b', listening). Each side's application is a
 * `PairApp` that writes a position-determined byte stream (so any byte read can be checked
 * against what the peer wrote without keeping a copy) and records what it reads. Every check
 * raises an `InvariantError` naming the invariant, so a test can enforce some invariants while
 * a known bug in another is being fixed elsewhere.
 */
import type { EndpointConfig } from '../../src/protocol/config.js';
import type { Connection } from '../../src/protocol/connection.js';
import type { EndpointEvent, Remote } from '../../src/protocol/events.js';
import { PacketType } from '../../src/protocol/packet.js';
import { seqAdd, seqDiff } from '../../src/protocol/seq.js';
import { flightAccounting, occupancy, sendEdges, validationSnapshot } from './introspect.js';
import { DEFAULT_LINK, SimNetwork, type SimApp, type SimHost, type TraceRecord } from './sim-network.js';

export type InvariantName =
  /** Nothing a peer or an attacker sends, and no application call, throws out of the library. */
  | 'no-throw'
  /** Bytes read are a prefix of what the peer wrote; at 'end', exactly it. */
  | 'integrity'
  /** No datagram a host sends is larger than its packetSize. */
  | 'datagram-size'
  /** Reorder buffer, send buffer and connection table stay within their bounds. */
  | 'bounded-memory'
  /** After close and enough virtual time, no connection and no timer is left. */
  | 'released'
  /** With the network healed and both sides ended, both connections close. */
  | 'liveness'
  /** An ACK (cumulative or selective) of data never sent does not grow cwnd. */
  | 'no-optimistic-growth'
  /** A packet whose ack_nr is outside libutp's window [oldest - 4, next] changes no state (unless its timestamp shows a packet overtaken on a reordering path). */
  | 'invalid-changes-nothing'
  /** The acceptor hands the application one connection from the initiator, never a second (resurrected) one. */
  | 'single-accept'
  /**
   * A live connection's bytes in flight and pending resends are what its send buffer holds (sent,
   * neither acked nor marked for resend; marked): loss detection (loss-detection.ts) marks packets
   * through the connection, and a packet counted twice or never would skew the window for good.
   */
  | 'flight-accounting';

export const ALL_INVARIANTS: readonly InvariantName[] = [
  'no-throw',
  'integrity',
  'datagram-size',
  'bounded-memory',
  'released',
  'liveness',
  'no-optimistic-growth',
  'invalid-changes-nothing',
  'single-accept',
  'flight-accounting',
];

export class InvariantError extends Error {
  constructor(
    readonly invariant: InvariantName,
    message: string,
  ) {
    super(`[${invariant}] ${message}`);
    this.name = 'InvariantError';
  }
}

/** libutp's ACK_NR_ALLOWED_WINDOW (utp_internal.cpp): ack_nr may be this much below oldest - 1. */
export const LIBUTP_ACK_SLACK = 3;

/** Byte `k` of the stream side `side` writes: consecutive bytes always differ, and 0xEE runs never occur. Period 65536. */
export function streamByte(side: number, k: number): number {
  return ((k * 131) ^ ((k >>> 8) & 0xff) ^ (side === 0 ? 0x00 : 0x5a)) & 0xff;
}

/** Largest single write(): the stream tables below hold one period plus this much. */
const MAX_WRITE = 131_072;
const STREAM_TABLES = [0, 1].map((side) => {
  const t = new Uint8Array(65536 + MAX_WRITE);
  for (let k = 0; k < t.length; k++) t[k] = streamByte(side, k);
  return t;
});

/** The application of one side: writes the side's stream on demand, checks every byte it reads. */
export class PairApp implements SimApp {
  written = 0;
  received = 0;
  endCalled = false;
  destroyed = false;
  ended = false;
  closed = false;
  connected = false;
  error: (Error & { code?: string }) | undefined = undefined;
  autoRead = true;
  unread = 0;

  constructor(
    readonly pair: Pair,
    readonly side: 0 | 1,
    readonly connection: Connection,
  ) {
    connection.context = this;
  }

  get peer(): PairApp | undefined {
    return this.pair.apps[this.side === 0 ? 1 : 0];
  }

  /** Writes `size` more bytes of this side's stream (ignoring backpressure, as a careless application may). */
  write(size: number): void {
    if (this.closed || this.endCalled || this.connection.state === 'closed') return;
    if (size > MAX_WRITE) throw new Error(`PairApp.write: at most ${MAX_WRITE} bytes per call`);
    const at = this.written % 65536;
    const data = STREAM_TABLES[this.side]!.slice(at, at + size);
    this.pair.guard(() => this.connection.write(data));
    this.written += size;
    this.pair.kick(this.side);
  }

  end(): void {
    if (this.closed || this.endCalled) return;
    this.endCalled = true;
    this.pair.guard(() => this.connection.end());
    this.pair.kick(this.side);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pair.guard(() => this.connection.abort(this.pair.net.now));
    // A connection that finished both ways lingers detached: the application hears nothing more
    // (the Node Socket emits its own 'close' on destroy()).
    if (this.connection.context !== this) this.closed = true;
    this.pair.kick(this.side);
  }

  pause(): void {
    this.autoRead = false;
  }

  resume(): void {
    this.autoRead = true;
    this.unread = 0;
    if (this.closed) return;
    this.pair.guard(() => this.connection.setApplicationBuffered(0));
    this.pair.kick(this.side);
  }

  /** Checks received bytes against the peer's stream and counts them read (or unread). */
  private check(data: Uint8Array): void {
    const peerWritten = this.peer?.written ?? 0;
    if (this.received + data.length > peerWritten) {
      this.pair.fail('integrity', `side ${this.side} read ${this.received + data.length} bytes, peer wrote only ${peerWritten}`);
    }
    const expected = STREAM_TABLES[1 - this.side]!;
    const at = this.received % 65536;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== expected[at + i]) {
        this.pair.fail('integrity', `side ${this.side} read a wrong byte at stream offset ${this.received + i} (0x${data[i]!.toString(16)})`);
        break; // once per piece
      }
    }
    this.received += data.length;
    if (!this.autoRead) this.unread += data.length;
  }

  onEvent(event: EndpointEvent): void {
    switch (event.type) {
      case 'connect':
        this.connected = true;
        return;
      case 'data': {
        // Piece by piece: a piece is one packet's payload, so the table (65536 + MAX_WRITE bytes)
        // covers it from any offset; an event's pieces together may not fit.
        for (const data of event.pieces) this.check(data);
        if (this.autoRead) this.unread = 0;
        this.pair.guard(() => event.connection.setApplicationBuffered(this.unread));
        return;
      }
      case 'end': {
        this.ended = true;
        const peer = this.peer;
        if (!peer || !peer.endCalled || this.received !== peer.written) {
          this.pair.fail('integrity', `side ${this.side} got end of stream after ${this.received} bytes; peer wrote ${peer?.written ?? 0}, ended ${peer?.endCalled ?? false}`);
        }
        return;
      }
      case 'close':
        this.closed = true;
        this.error = event.error;
        if (event.error !== undefined && typeof event.error.code !== 'string') this.pair.fail('integrity', 'close error without a code');
        return;
      case 'drain':
      case 'connection':
        return;
    }
  }
}

export interface PairOptions {
  seed: number;
  /** The initiator's recv id (its send id is one more). */
  recvId?: number;
  /** The initiator's ISN; near 0xffff to wrap the sequence space early. */
  clientIsn?: number;
  /** The acceptor's ISN. */
  serverIsn?: number;
  config?: Partial<EndpointConfig>;
  /** Invariants that only record (known bugs being fixed elsewhere); the rest throw at once. */
  ignore?: ReadonlySet<InvariantName>;
}

/** Bounds the `bounded-memory` invariant checks, from the configuration. */
export interface MemoryBounds {
  recvBytes: number;
  recvPackets: number;
  sendPackets: number;
  connections: number;
}

export class Pair {
  /** How often the per-packet invariants were actually exercised (all pairs of the process): tests check they are not vacuous. */
  static readonly checked = { optimistic: 0, outsideWindow: 0 };
  readonly net: SimNetwork;
  readonly hosts: [SimHost, SimHost];
  readonly apps: [PairApp | undefined, PairApp | undefined] = [undefined, undefined];
  readonly config: EndpointConfig;
  readonly bounds: MemoryBounds;
  /** Invariant violations seen (the ignored ones included), first first. */
  readonly violations: InvariantError[] = [];
  /** Violations per invariant (all of them; `violations` keeps the first few of an ignored one). */
  readonly counts: Partial<Record<InvariantName, number>> = {};
  /** Every datagram the two hosts sent, when `record` was asked for. */
  readonly wire: TraceRecord[] = [];
  /** Delivered packets whose ack_nr was inside libutp's window for a connected connection. */
  insideWindow = 0;
  /** Delivered DATA/FIN not provably outside that window: what an on-path attacker could splice with. */
  insideWindowData = 0;
  private readonly ignore: ReadonlySet<InvariantName>;
  private recording = false;
  private finishing = false;

  constructor(options: PairOptions & { record?: boolean }) {
    this.ignore = options.ignore ?? new Set();
    this.recording = options.record ?? false;
    this.net = new SimNetwork({ seed: options.seed });
    const a = this.net.addHost('a', {
      ...(options.config ? { config: options.config } : {}),
      randomQueue: [options.recvId ?? 0x1234, options.clientIsn ?? 0x4321],
    });
    const b = this.net.addHost('b', {
      listening: true,
      ...(options.config ? { config: options.config } : {}),
      isnQueue: [options.serverIsn ?? 0x8765],
      accept: (connection) => {
        if (this.apps[1] === undefined) {
          const app = new PairApp(this, 1, connection);
          app.connected = true;
          this.apps[1] = app;
          // Accepted after finish() began: it ends at once like the other side.
          if (this.finishing) app.end();
          return app;
        }
        // A second confirmed connection: a forged handshake, or the destroyed one brought back.
        this.fail('single-accept', `a second connection from the initiator was accepted (recv id ${connection.recvId}, first ${this.apps[1].connection.recvId}, first state ${this.apps[1].connection.state})`);
        // An application that did not expect it destroys it (the initiator then sees a RESET).
        connection.context = undefined;
        connection.abort(this.net.now);
        return undefined;
      },
    });
    this.hosts = [a, b];
    this.config = a.endpoint.config;
    this.bounds = {
      recvBytes: this.config.receiveBufferSize + this.config.packetSize,
      recvPackets: 1024,
      sendPackets: 4096,
      connections: this.config.maxUnconfirmed + 4,
    };
    this.net.taps.push((record) => this.onWire(record));
    const connection = this.guard(() => a.endpoint.connect(b.remote, this.net.now)) as Connection;
    this.apps[0] = new PairApp(this, 0, connection);
    this.kick(0);
  }

  get client(): PairApp {
    return this.apps[0]!;
  }

  /** Records a violation; throws unless the invariant is being ignored. */
  fail(invariant: InvariantName, message: string): void {
    this.counts[invariant] = (this.counts[invariant] ?? 0) + 1;
    const ignored = this.ignore.has(invariant);
    // An ignored invariant that keeps failing is counted, not kept: errors cost a stack each.
    if (ignored && this.counts[invariant]! > 3) return;
    const error = new InvariantError(invariant, `t=${this.net.now}: ${message}`);
    this.violations.push(error);
    if (!ignored) throw error;
  }

  /** Runs library code; anything it throws (other than our own checks) is a `no-throw` violation. */
  guard<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (error) {
      if (error instanceof InvariantError) throw error;
      this.fail('no-throw', `library threw: ${(error as Error)?.stack ?? String(error)}`);
      return undefined;
    }
  }

  kick(side: number): void {
    this.net.kick(this.hosts[side]!);
  }

  /** Advances virtual time, checking memory bounds every `checkEvery` ms of it. */
  advance(ms: number, checkEvery = 50): void {
    const until = this.net.now + ms;
    while (this.net.now < until) {
      const step = Math.min(until, this.net.now + checkEvery);
      this.guard(() => this.net.drive(step));
      this.checkMemory();
    }
    if (ms === 0) {
      this.guard(() => this.net.drive(this.net.now));
      this.checkMemory();
    }
  }

  /** The connection at `side`'s endpoint for this pair, if the application has it. */
  connection(side: number): Connection | undefined {
    return this.apps[side]?.connection;
  }

  /** Where the other side sends from: the source a forger impersonates towards `side`. */
  peerRemote(side: number): Remote {
    return this.hosts[side === 0 ? 1 : 0]!.remote;
  }

  /**
   * Delivers a datagram to `side` as if its peer sent it, at once, outside the links; then the
   * host is serviced on the next step. Checks the validation invariants around it.
   */
  deliver(side: 0 | 1, data: Uint8Array): void {
    const host = this.hosts[side];
    const endpoint = host.endpoint;
    const connection = this.connection(side);
    const live = connection !== undefined && connection.state !== 'closed' ? connection : undefined;
    const judged = live !== undefined ? this.judge(live, data) : undefined;
    const before = judged === 'outside' ? validationSnapshot(live!) : undefined;
    const events = endpoint.events.length;
    const transmits = endpoint.transmits.length;
    const optimistic = live !== undefined && this.acksOnlyUnsent(live, data);
    const cwnd = optimistic ? live.stats().cwnd : undefined;
    if (judged === 'inside') this.insideWindow++;
    if (judged !== 'outside' && this.mayReachStream(side, data)) this.insideWindowData++;
    this.guard(() => endpoint.handleDatagram(data, this.peerRemote(side), this.net.now));
    if (before !== undefined) {
      const after = validationSnapshot(live!);
      if (after !== before || endpoint.events.length !== events || endpoint.transmits.length !== transmits) {
        this.fail('invalid-changes-nothing', `side ${side}: a packet with ack_nr outside [oldest - 4, next] changed state:\n  packet ${hex(data.subarray(0, 40))}\n  before ${before}\n  after  ${after}`);
      }
    }
    if (optimistic) Pair.checked.optimistic++;
    if (before !== undefined) Pair.checked.outsideWindow++;
    if (optimistic && cwnd !== undefined && live.stats().cwnd > cwnd) {
      this.fail('no-optimistic-growth', `side ${side}: cwnd grew ${cwnd} -> ${live.stats().cwnd} on an ack of unsent data: ${hex(data.subarray(0, 40))}`);
    }
    this.net.kick(host);
  }

  /** DATA or FIN with the id of the pair's connection at `side`: it may carry bytes into the stream. */
  private mayReachStream(side: number, data: Uint8Array): boolean {
    if (data.length < 20 || (data[0]! & 0x0f) !== 1 || data[0]! >> 4 > PacketType.Fin) return false;
    const initiator = this.apps[0]!.connection;
    const id = (data[2]! << 8) | data[3]!;
    return id === (side === 0 ? initiator.recvId : initiator.sendId);
  }

  /**
   * Whether a datagram for `connection` carries an ack_nr outside libutp's acceptance window
   * [oldest - 1 - 3, next] (a RESET may echo `next`, which our STATEs carry). SYNs and other
   * connection ids are not judged.
   */
  private judge(connection: Connection, data: Uint8Array): 'outside' | 'inside' | undefined {
    if (data.length < 20 || (data[0]! & 0x0f) !== 1) return undefined;
    const type = data[0]! >> 4;
    if (type > PacketType.Reset) return undefined;
    const id = (data[2]! << 8) | data[3]!;
    if (id !== connection.recvId) return undefined;
    if (connection.state !== 'connected') return undefined;
    const { oldest, next } = sendEdges(connection);
    const ack = (data[18]! << 8) | data[19]!;
    const lowest = seqAdd(oldest, -1 - LIBUTP_ACK_SLACK);
    const d = seqDiff(lowest, ack);
    if (d >= 0 && d <= seqDiff(lowest, next)) return 'inside';
    // Below libutp's window, a packet whose timestamp shows it was overtaken on a reordering path
    // (at most two RTTs + 50 ms behind the peer's newest) may still be taken: not judged.
    const timestamp = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
    const newest = (connection as unknown as { peerTimestampHigh: number | undefined }).peerTimestampHigh;
    const behind = newest === undefined ? -1 : (newest - timestamp) | 0;
    if (d < 0 && behind >= 0 && behind <= 2000 * connection.stats().rtt + 50_000) return undefined;
    return 'outside';
  }

  /**
   * Whether a datagram acknowledges nothing that was sent: a cumulative ack_nr at or past `next`
   * (never sent) or at oldest - 1 (nothing new) with SACK bits only at or past `next`.
   */
  private acksOnlyUnsent(connection: Connection, data: Uint8Array): boolean {
    if (data.length < 20 || (data[0]! & 0x0f) !== 1 || (data[0]! >> 4) !== PacketType.State) return false;
    const { oldest, next } = sendEdges(connection);
    const ack = (data[18]! << 8) | data[19]!;
    const ahead = seqDiff(next, ack);
    if (ahead >= 0 && ahead < 16384) return true; // ack_nr of a seq_nr never sent
    if (ack !== seqAdd(oldest, -1)) return false;
    // Walk the extension chain: every SACK bit set must be at or past `next`.
    let ext = data[1]!;
    let pos = 20;
    while (ext !== 0) {
      if (pos + 2 > data.length) return false;
      const len = data[pos + 1]!;
      if (pos + 2 + len > data.length) return false;
      if (ext === 1) {
        for (let i = 0; i < len * 8; i++) {
          if ((data[pos + 2 + (i >> 3)]! & (1 << (i & 7))) === 0) continue;
          if (seqDiff(next, seqAdd(ack, 2 + i)) < 0) return false;
        }
      }
      ext = data[pos]!;
      pos += 2 + len;
    }
    return true;
  }

  checkMemory(): void {
    for (let side = 0; side < 2; side++) {
      const endpoint = this.hosts[side]!.endpoint;
      if (endpoint.size > this.bounds.connections) this.fail('bounded-memory', `side ${side}: ${endpoint.size} connections`);
      const connection = this.connection(side);
      if (!connection) continue;
      const o = occupancy(connection);
      if (o.recvBytes > this.bounds.recvBytes || o.recvPackets > this.bounds.recvPackets || o.sendPackets > this.bounds.sendPackets) {
        this.fail('bounded-memory', `side ${side}: ${JSON.stringify(o)} over ${JSON.stringify(this.bounds)}`);
      }
      const inFlight = (connection as unknown as { bytesInFlight?: number }).bytesInFlight ?? connection.stats().bytesInFlight;
      if (inFlight < 0) this.fail('bounded-memory', `side ${side}: bytesInFlight ${inFlight}`);
      if (connection.state === 'connected') {
        const f = flightAccounting(connection);
        if (f.bytesInFlight !== f.expectedBytes || f.resendsPending !== f.expectedResends) {
          this.fail('flight-accounting', `side ${side}: ${JSON.stringify(f)}`);
        }
      }
    }
  }

  private onWire(record: TraceRecord): void {
    if (record.fate === 'injected') return;
    const side = this.hosts[0].remote === record.from ? 0 : this.hosts[1].remote === record.from ? 1 : -1;
    if (side < 0) return;
    if (this.recording) this.wire.push(record);
    if (record.data.length > this.config.packetSize) {
      const p = record.packet;
      this.fail('datagram-size', `side ${side} sent a ${record.data.length}-byte datagram (packetSize ${this.config.packetSize}): type ${p?.type}, ${p ? p.payload.length : '?'} payload bytes, sack ${p?.selectiveAck?.length ?? 0} bytes`);
    }
  }

  /** Every link back to a clean path: no loss, duplication, jitter or outage. */
  heal(): void {
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      this.net.link(this.hosts[from], this.hosts[to]).set({ ...DEFAULT_LINK, outages: [] });
    }
  }

  /**
   * The end of every scenario: heal the path, let both applications read, end both streams, run;
   * optionally require both to close (liveness); then destroy what is left and require every
   * connection and timer to be released.
   */
  finish(options: { liveness: boolean }): void {
    this.finishing = true;
    this.heal();
    for (const app of this.apps) if (app && !app.closed) app.resume();
    for (const app of this.apps) if (app && !app.closed) app.end();
    const settled = (): boolean => this.apps.every((app) => app === undefined || app.closed);
    this.runUntil(settled, 600_000);
    if (options.liveness && !settled()) {
      const s = this.apps.map((app) => (app ? `${app.connection.state} read ${app.received}/${app.peer?.written ?? 0}` : 'none')).join('; ');
      this.fail('liveness', `healed and ended, still open after 600 s: ${s}`);
    }
    for (const app of this.apps) if (app && !app.closed) app.destroy();
    // Forged handshakes the acceptor confirmed have no application: close them too.
    for (const connection of this.hosts[1].accepted) if (connection.state !== 'closed' && connection.context === undefined) this.guard(() => connection.abort(this.net.now));
    this.kick(0);
    this.kick(1);
    const released = (): boolean => this.hosts.every((h) => h.endpoint.size === 0 && h.endpoint.nextWake === Infinity);
    this.runUntil(released, 900_000);
    if (!released()) {
      const s = this.hosts.map((h) => `${h.name}: size ${h.endpoint.size}, nextWake ${h.endpoint.nextWake}`).join('; ');
      this.fail('released', `after close and 900 s: ${s}`);
    }
  }

  private runUntil(predicate: () => boolean, ms: number): void {
    const limit = this.net.now + ms;
    while (!predicate() && this.net.now < limit) this.advance(Math.min(5_000, limit - this.net.now), 5_000);
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
