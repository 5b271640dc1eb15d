/**
 * Lifecycle promises of the core (issue 6 items 2, 8 and 10), in the simulator:
 * 'written' hands write buffers back only when no packet refers to them, 'finish' means the peer
 * acknowledged everything, 'removed' ends a linger, and a connection confirmed after the
 * endpoint stopped listening is refused, never announced.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import type { EndpointEvent } from '../../src/protocol/events.js';
import { seededBytes, SimNetwork, StreamApp, type SimApp, type SimHost } from '../helpers/sim-network.js';

const LOSSY = { latency: 10, loss: 0.03, rate: 2e6, queueBytes: 100_000 };

/** Writes one buffer several times, refilling it on each 'written', as net allows. */
class RefillingWriter implements SimApp {
  rounds = 0;
  writtenEvents = 0;
  readonly expected: Uint8Array[] = [];
  constructor(
    readonly connection: Connection,
    readonly buffer: Uint8Array,
    readonly totalRounds: number,
    readonly net: SimNetwork,
    readonly host: SimHost,
  ) {
    connection.context = this;
  }
  private writeRound(): void {
    this.buffer.fill(0x41 + this.rounds);
    this.expected.push(this.buffer.slice());
    this.rounds++;
    this.connection.write(this.buffer);
  }
  onEvent(event: EndpointEvent): void {
    if (event.type === 'connect') this.writeRound();
    if (event.type !== 'written') return;
    this.writtenEvents++;
    if (this.rounds < this.totalRounds) this.writeRound();
    else this.connection.end();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

describe('write ownership in the core', () => {
  test("a buffer refilled on each 'written' arrives intact through loss and retransmissions", () => {
    const net = new SimNetwork({ seed: 81, link: LOSSY });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
    const conn = a.endpoint.connect(b.remote, net.now);
    const writer = new RefillingWriter(conn, new Uint8Array(150_000), 4, net, a);
    net.kick(a);
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 120_000));
    const received = b.app(b.accepted[0]!).data();
    assert.equal(writer.rounds, 4);
    assert.ok(conn.stats().retransmits > 0, 'the loss made the sender resend');
    assert.deepEqual(received, concat(writer.expected));
  });
});

/** Writes three fresh 64 KiB buffers per 'written' and gives them up there, as an application that allocates per write. */
class FreshWriter implements SimApp {
  readonly expected: Uint8Array[] = [];
  readonly handedBack = new WeakSet<ArrayBufferLike>();
  /** Most buffers handed back on 'written' that the write queue still referenced right after. */
  mostKept = 0;
  private lent: Uint8Array[] = [];
  private next = 0;
  constructor(
    readonly connection: Connection,
    readonly totalWrites: number,
  ) {
    connection.context = this;
  }
  private writeSome(): void {
    for (let k = 0; k < 3 && this.next < this.totalWrites; k++) {
      const buffer = new Uint8Array(64 * 1024).fill(this.next++);
      this.expected.push(buffer.slice());
      this.lent.push(buffer);
      this.connection.write(buffer);
    }
    if (this.next === this.totalWrites) this.connection.end();
  }
  onEvent(event: EndpointEvent): void {
    if (event.type === 'connect') this.writeSome();
    if (event.type !== 'written') return;
    for (const buffer of this.lent) {
      this.handedBack.add(buffer.buffer);
      buffer.fill(0xee);
    }
    this.lent = [];
    const chunks = (this.connection as unknown as { writeQueue: { chunks: Uint8Array[] } }).writeQueue.chunks;
    if (chunks === undefined) throw new Error('WriteQueue.chunks renamed: update FreshWriter');
    this.mostKept = Math.max(this.mostKept, chunks.filter((c) => this.handedBack.has(c.buffer)).length);
    this.writeSome();
  }
}

describe("buffers handed back on 'written' are not kept", () => {
  test('with fresh buffers written on each \'written\' over a slow link, the write queue references none handed back', () => {
    // The queue never runs dry here; buffers it took from before an adopt must go with it, or up
    // to 1024 of them stay referenced (64 MiB of 64 KiB writes) after the application got them back.
    const net = new SimNetwork({ seed: 3, link: { latency: 10, rate: 1e6, queueBytes: 50_000 } });
    const a = net.addHost('a', { config: { packetSize: 900 } });
    const b = net.addHost('b', { listening: true, accept: { endOnEof: true }, config: { receiveBufferSize: 20_000 } });
    const conn = a.endpoint.connect(b.remote, net.now);
    const writer = new FreshWriter(conn, 24);
    net.kick(a);
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 120_000));
    assert.deepEqual(b.app(b.accepted[0]!).data(), concat(writer.expected));
    assert.equal(writer.mostKept, 0);
  });
});

describe("'finish': the peer acknowledged everything we wrote", () => {
  test("'finish' comes once, after the receiver has every byte, and before 'close'", () => {
    const net = new SimNetwork({ seed: 82, link: LOSSY });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
    const data = seededBytes(82, 400_000);
    const conn = net.connect(a, b, { send: data });
    const app = a.app(conn);
    const onEvent = app.onEvent.bind(app);
    let receivedAtFinish: number | undefined;
    app.onEvent = (event: EndpointEvent) => {
      if (event.type === 'finish') receivedAtFinish = b.accepted[0]?.stats().bytesReceived;
      onEvent(event);
    };
    assert.ok(net.runUntil(() => app.closed, 120_000));
    assert.equal(a.events('finish', conn).length, 1);
    assert.equal(receivedAtFinish, data.length, 'the receiver had everything when finish fired');
    const types = a.log.filter((e) => e.event.connection === conn).map((e) => e.event.type);
    assert.ok(types.indexOf('finish') < types.indexOf('close'), types.join(','));
  });

  test("no 'finish' while the peer does not read and the data cannot all be acked", () => {
    const net = new SimNetwork({ seed: 83, link: { latency: 10 } });
    const a = net.addHost('a');
    // b holds a third of the data unread at most.
    const b = net.addHost('b', { listening: true, accept: { autoRead: false }, config: { receiveBufferSize: 100_000 } });
    const data = seededBytes(83, 300_000);
    const conn = net.connect(a, b, { send: data }, { sendBufferSize: 64 * 1024 });
    net.advance(30_000);
    assert.equal(a.events('finish', conn).length, 0, 'finish before the peer had the data');
    const acc = b.accepted[0]!;
    const reader = b.app(acc);
    assert.ok(acc.stats().bytesReceived < data.length);
    // Reading everything lets the rest through: finish follows.
    assert.ok(
      net.runUntil(() => {
        if (reader.unread > 0) reader.read();
        return a.events('finish', conn).length === 1;
      }, 60_000),
    );
    assert.equal(acc.stats().bytesReceived, data.length);
  });
});

describe("'removed': lingering connections end", () => {
  test("each announced connection is 'removed' once, after its 'close' and after the linger", () => {
    const net = new SimNetwork({ seed: 84, link: { latency: 10, loss: 0.02 } });
    const a = net.addHost('a', { config: { lingerTime: 500 } });
    const b = net.addHost('b', { listening: true, accept: { endOnEof: true }, config: { lingerTime: 500 } });
    const conn = net.connect(a, b, { send: seededBytes(84, 50_000) });
    assert.ok(net.runUntil(() => a.app(conn).closed && b.accepted[0] !== undefined && b.app(b.accepted[0]).closed, 60_000));
    net.advance(5_000);
    for (const [host, c] of [
      [a, conn],
      [b, b.accepted[0]!],
    ] as const) {
      const removed = host.log.filter((e) => e.event.type === 'removed' && e.event.connection === c);
      const closed = host.log.find((e) => e.event.type === 'close' && e.event.connection === c);
      assert.equal(removed.length, 1, `${host.name}: one 'removed'`);
      assert.ok(closed && removed[0]!.time >= closed.time, `${host.name}: removed after close`);
      assert.equal(host.endpoint.size, 0);
      assert.equal(host.endpoint.announced, 0);
    }
    // At least one side re-acked the other's FIN for a while: its removal came later than its close.
    const lingered = [a, b].some((host) => {
      const c = host === a ? conn : b.accepted[0]!;
      const closed = host.log.find((e) => e.event.type === 'close' && e.event.connection === c)!;
      const removed = host.log.find((e) => e.event.type === 'removed' && e.event.connection === c)!;
      return removed.time > closed.time;
    });
    assert.ok(lingered, 'a graceful close lingers');
  });
});

describe('confirmation after the endpoint stopped listening', () => {
  test("is refused with a RESET and never announced as 'connection'", () => {
    const net = new SimNetwork({ seed: 85, link: { latency: 20 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const conn = net.connect(a, b);
    // The SYN has arrived and been answered; the initiator's confirmation is on its way.
    assert.ok(net.runUntil(() => b.endpoint.size === 1, 1_000));
    b.endpoint.listening = false; // server.close()
    net.advance(5_000);
    assert.equal(b.events('connection').length, 0);
    assert.equal(b.accepted.length, 0);
    assert.equal(b.endpoint.size, 0);
    const app: StreamApp = a.app(conn);
    assert.ok(app.closed);
    assert.equal(app.error?.code, 'ECONNRESET');
  });
});
