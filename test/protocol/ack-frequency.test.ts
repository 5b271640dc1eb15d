/**
 * Receiver-side ACK frequency (issue 9, src/protocol/ack-policy.ts): at high rates in-order DATA
 * is acked every few packets or within a short delay, not once per packet (or per burst read);
 * everything the sender's loss recovery or flow control waits for is still acked at once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AckPolicy, BACKLOG_MAX_ACK_DELAY, BACKLOG_MAX_ACK_THRESHOLD, MAX_ACK_DELAY, MAX_ACK_THRESHOLD } from '../../src/protocol/ack-policy.js';
import { PacketType } from '../../src/protocol/packet.js';
import { seqDiff } from '../../src/protocol/seq.js';
import { seededBytes, sentBy, SimNetwork, type SimDatagram, type SimHost, type TraceRecord } from '../helpers/sim-network.js';

/** Payload of a full DATA packet at the default 1400-byte packet size. */
const FULL = 1374;

/** When `host` first sent something acknowledging `seq` on the connection whose DATA carries `dataId`, at or after `from`. */
function ackedAt(records: readonly TraceRecord[], host: SimHost, dataId: number, seq: number, from: number): number {
  const replyId = (dataId - 1) & 0xffff; // the acceptor sends on recv_id - 1
  for (const r of sentBy(records, host)) {
    const p = r.packet;
    if (p === undefined || r.sentAt < from || p.connectionId !== replyId) continue;
    if (seqDiff(seq, p.ack) >= 0) return r.sentAt;
  }
  return Infinity;
}

/** DATA from `host` that arrived, with its arrival time. */
function dataArrivals(records: readonly TraceRecord[], host: SimHost): { record: TraceRecord; at: number }[] {
  return sentBy(records, host)
    .filter((r) => r.packet?.type === PacketType.Data && r.arrivals.length > 0)
    .map((record) => ({ record, at: record.arrivals[0]! }));
}

describe('ACK frequency: 64 flows through one fast link', () => {
  // The gauge's shape in the simulator: 64 connections between the same two sockets, sharing a
  // 60 MB/s link. Each flow gets ~670 packets/s, and every packet arrives at its own instant:
  // before the policy each was acked on its own (1.00 packets back per DATA packet; 0.23 with it,
  // and the transfers end at the same virtual time).
  const run = () => {
    const net = new SimNetwork({ seed: 9, link: { rate: 60_000_000, queueBytes: 12_000_000, latency: 10 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const records = net.capture();
    const size = 1024 * 1024;
    const sent = Array.from({ length: 64 }, (_, i) => seededBytes(100 + i, size));
    for (const data of sent) net.connect(a, b, { send: data });
    const done = () => b.accepted.length === 64 && b.accepted.every((c) => b.app(c).ended);
    const finished = net.runUntil(done, 60_000);
    return { net, a, b, records, sent, finished };
  };
  let outcome: ReturnType<typeof run> | undefined;
  const get = () => (outcome ??= run());

  test('every byte arrives, with under 0.3 packets from the receiver per DATA packet', (t) => {
    const { a, b, records, sent, finished } = get();
    assert.ok(finished, 'all 64 transfers end');
    const got = new Set(b.accepted.map((c) => Buffer.from(b.app(c).data()).toString('base64')));
    for (const data of sent) assert.ok(got.has(Buffer.from(data).toString('base64')), 'a flow arrived intact');
    const data = dataArrivals(records, a).length;
    const replies = sentBy(records, b).length;
    t.diagnostic(`${data} DATA packets, ${replies} packets back: ${(replies / data).toFixed(3)} per DATA packet`);
    assert.ok(replies / data < 0.3, `${(replies / data).toFixed(3)} packets back per DATA packet`);
  });

  test(`no DATA packet waits more than MAX_ACK_DELAY (${MAX_ACK_DELAY} ms) for an ACK`, (t) => {
    const { a, b, records } = get();
    // Every packet from b carries its whole acknowledgement state (ack_nr and SACK): a DATA packet
    // is acknowledged by b's first packet on its connection after it arrived.
    const replies = new Map<number, TraceRecord[]>();
    for (const r of sentBy(records, b)) {
      const list = replies.get(r.packet!.connectionId) ?? [];
      list.push(r);
      replies.set(r.packet!.connectionId, list);
    }
    const cursor = new Map<number, number>();
    let worst = 0;
    for (const { record, at } of dataArrivals(records, a).sort((x, y) => x.at - y.at)) {
      const id = (record.packet!.connectionId - 1) & 0xffff;
      const list = replies.get(id)!;
      let j = cursor.get(id) ?? 0;
      while (j < list.length && list[j]!.sentAt < at) j++;
      cursor.set(id, j);
      worst = Math.max(worst, j < list.length ? list[j]!.sentAt - at : Infinity);
    }
    t.diagnostic(`longest wait ${worst.toFixed(3)} ms`);
    assert.ok(worst <= MAX_ACK_DELAY + 1e-9, `a DATA packet waited ${worst} ms for its ACK`);
  });
});

describe('ACK frequency: a receiver whose input is backlogged acks less often', () => {
  // The driver marks the endpoint backlogged when a read stopped at libuv's per-iteration limit
  // (Endpoint.inputBacklogUntil; the simulator never does): 16 flows sharing a 40 MB/s link at a
  // 100 ms RTT (a quarter RTT exceeds both ACK delay caps), the receiver marked for the whole
  // run, against the same run unmarked.
  const run = (backlogged: boolean) => {
    const net = new SimNetwork({ seed: 12, link: { rate: 40_000_000, queueBytes: 8_000_000, latency: 50 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    if (backlogged) b.endpoint.inputBacklogUntil = Infinity;
    const records = net.capture();
    const sent = Array.from({ length: 16 }, (_, i) => seededBytes(300 + i, 512 * 1024));
    for (const data of sent) net.connect(a, b, { send: data });
    const finished = net.runUntil(() => b.accepted.length === 16 && b.accepted.every((c) => b.app(c).ended), 60_000);
    const intact = b.accepted.every((c) => sent.some((d) => Buffer.compare(b.app(c).data(), d) === 0));
    return { finished, intact, perData: sentBy(records, b).length / dataArrivals(records, a).length, at: net.now };
  };

  test('fewer packets back per DATA packet, every byte still arrives', (t) => {
    const normal = run(false);
    const backlogged = run(true);
    t.diagnostic(`packets back per DATA: ${normal.perData.toFixed(3)} -> ${backlogged.perData.toFixed(3)} backlogged; done at ${normal.at.toFixed(0)} / ${backlogged.at.toFixed(0)} ms`);
    assert.ok(normal.finished && backlogged.finished && normal.intact && backlogged.intact);
    assert.ok(backlogged.perData < 0.8 * normal.perData, `${backlogged.perData} vs ${normal.perData}`);
  });

  test('a sender that does not pace, behind a shallow queue, is not burst into losses by the backlogged ACK wait', (t) => {
    // libutp and libtorrent have no pacer: each ACK releases what it acked back to back. Acking
    // every 64 packets or half an RTT while backlogged (tried, see BACKLOG_MAX_ACK_THRESHOLD) sent
    // 88 KB bursts into this 64 KiB queue: 4.8 s against 1.7 s unmarked (1.8 s at 32 packets and
    // a quarter RTT).
    const transfer = (seed: number, backlogged: boolean) => {
      const net = new SimNetwork({ seed, link: { rate: 20_000_000, queueBytes: 64 * 1024, latency: 20 } });
      const a = net.addHost('a');
      const b = net.addHost('b', { listening: true });
      if (backlogged) b.endpoint.inputBacklogUntil = Infinity;
      const sent = seededBytes(seed, 8_000_000);
      const sender = net.connect(a, b, { send: sent });
      // The peer's way: no pacing at all (a test-only stub of the connection's pacer).
      (sender as unknown as { pacer: object }).pacer = { delay: () => 0, sent: () => {} };
      const finished = net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 120_000);
      assert.ok(finished && Buffer.compare(b.app(b.accepted[0]!).data(), sent) === 0, 'every byte arrives');
      return net.now;
    };
    const normal = transfer(1, false);
    const backlogged = transfer(1, true);
    t.diagnostic(`done at ${normal.toFixed(0)} ms, backlogged ${backlogged.toFixed(0)} ms`);
    assert.ok(backlogged <= 1.3 * normal, `${backlogged.toFixed(0)} ms backlogged vs ${normal.toFixed(0)} ms`);
  });

  test('a sender held by our receive window is not slowed down by the backlogged ACK wait', (t) => {
    // A small receive buffer: the sender can have no more than our window in flight, and each
    // packet acked late keeps its slot. The backlog comes from elsewhere (other flows, a flood of
    // junk), so the whole window waits on our ACKs. At half an RTT for every flow (tried, see
    // BACKLOG_MAX_ACK_THRESHOLD) these took 1.17x (16 KiB, 10 ms) and 1.10x (64 KiB, 50 ms) as long.
    const transfer = (receiveBufferSize: number, latency: number, rate: number, backlogged: boolean) => {
      const net = new SimNetwork({ seed: 5, link: { rate, queueBytes: 4_000_000, latency } });
      const a = net.addHost('a');
      const b = net.addHost('b', { listening: true, config: { receiveBufferSize } });
      if (backlogged) b.endpoint.inputBacklogUntil = Infinity;
      const sent = seededBytes(400 + receiveBufferSize, 2_000_000);
      net.connect(a, b, { send: sent });
      const finished = net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 60_000);
      assert.ok(finished && Buffer.compare(b.app(b.accepted[0]!).data(), sent) === 0, 'every byte arrives');
      return net.now;
    };
    for (const [window, latency, rate] of [[16 * 1024, 5, 20_000_000], [64 * 1024, 25, Infinity]] as const) {
      const normal = transfer(window, latency, rate, false);
      const backlogged = transfer(window, latency, rate, true);
      t.diagnostic(`${window / 1024} KiB window, ${2 * latency} ms RTT: done at ${normal.toFixed(0)} ms, backlogged ${backlogged.toFixed(0)} ms`);
      assert.ok(backlogged <= 1.03 * normal, `${window / 1024} KiB: ${backlogged.toFixed(0)} ms backlogged vs ${normal.toFixed(0)} ms`);
    }
  });
});

describe('ACK frequency: what is acked at once', () => {
  /** One fast flow (20 MB/s, ~14,500 packets/s): the receiver defers in-order ACKs. */
  const fastPair = (options: { filter?: (d: SimDatagram) => boolean } = {}) => {
    const net = new SimNetwork({ seed: 21, link: { rate: 20_000_000, queueBytes: 2_000_000, latency: 5 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true });
    const records = net.capture();
    if (options.filter) net.link(a, b).set({ filter: options.filter });
    return { net, a, b, records };
  };

  test('in-order DATA at a high rate waits: fewer than 0.3 ACKs per packet', () => {
    const { net, a, b, records } = fastPair();
    net.connect(a, b, { send: seededBytes(1, 4_000_000) });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 30_000));
    const ratio = sentBy(records, b).length / dataArrivals(records, a).length;
    assert.ok(ratio < 0.3, `${ratio.toFixed(3)} ACKs per DATA packet`);
  });

  test('out-of-order DATA (a hole) is acked the instant it arrives, with the hole in its SACK', () => {
    let dataSeen = 0;
    let dropped: number | undefined;
    const { net, a, b, records } = fastPair({
      // Drop the 1000th DATA packet once: deep in the transfer, where ACKs are deferred.
      filter: (r) => {
        if (r.packet?.type !== PacketType.Data || dropped !== undefined) return false;
        if (++dataSeen < 1000) return false;
        dropped = r.packet.seq;
        return true;
      },
    });
    net.connect(a, b, { send: seededBytes(2, 4_000_000) });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).ended, 30_000));
    assert.ok(dropped !== undefined);
    const after = dataArrivals(records, a).find((x) => x.record.packet!.seq === ((dropped! + 1) & 0xffff));
    assert.ok(after, 'the packet after the hole arrived');
    const reply = sentBy(records, b).find((r) => r.sentAt >= after.at && r.packet?.selectiveAck !== undefined);
    assert.ok(reply, 'a selective ACK went out');
    assert.equal(reply.sentAt, after.at, 'the selective ACK left at the arrival of the packet past the hole');
  });

  test('a partial packet (the end of a write) is acked the instant it arrives', () => {
    const { net, a, b, records } = fastPair();
    // Not ended: no FIN follows to be acked at once anyway.
    net.connect(a, b, { send: seededBytes(3, 200 * FULL + 100), endWhenWritten: false });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes === 200 * FULL + 100, 30_000));
    const last = dataArrivals(records, a).find((x) => x.record.packet!.payload.length === 100);
    assert.ok(last, 'the 100-byte packet arrived');
    const p = last.record.packet!;
    assert.equal(ackedAt(records, b, p.connectionId, p.seq, last.at), last.at);
  });

  test('a lone full packet after a pause is acked the instant it arrives', () => {
    const { net, a, b, records } = fastPair();
    const conn = net.connect(a, b, { send: seededBytes(4, 2_000_000), endWhenWritten: false });
    assert.ok(net.runUntil(() => b.accepted[0] !== undefined && b.app(b.accepted[0]).receivedBytes === 2_000_000, 30_000));
    net.advance(500);
    conn.write(seededBytes(5, FULL));
    net.kick(a);
    assert.ok(net.runUntil(() => b.app(b.accepted[0]!).receivedBytes === 2_000_000 + FULL, 5_000));
    const lone = dataArrivals(records, a).at(-1)!;
    assert.equal(lone.record.packet!.payload.length, FULL);
    assert.equal(ackedAt(records, b, lone.record.packet!.connectionId, lone.record.packet!.seq, lone.at), lone.at);
  });

  test('a window reopened by the application read is announced at once', () => {
    const rcv = 64 * 1024;
    const net = new SimNetwork({ seed: 22, link: { rate: 20_000_000, queueBytes: 2_000_000, latency: 5 } });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, config: { receiveBufferSize: rcv }, accept: { autoRead: false } });
    const records = net.capture();
    net.connect(a, b, { send: seededBytes(6, 1_000_000) });
    net.drive(1000);
    const app = b.app(b.accepted[0]!);
    assert.ok(app.unread > rcv - 1400, `the window is full (unread ${app.unread})`);
    const readAt = net.now;
    app.read();
    net.advance(1);
    const reopening = sentBy(records, b).find((r) => r.sentAt >= readAt && r.packet!.windowSize >= rcv - 1400);
    assert.ok(reopening, 'an ACK announced the reopened window');
    assert.equal(reopening.sentAt, readAt);
  });
});

describe('AckPolicy', () => {
  /** A policy fed `count` full packets `gap` ms apart on a path with `rtt` ms (by timestamps). */
  const fed = (rtt: number, gap: number, count: number, backlogged = false) => {
    const policy = new AckPolicy();
    // The peer's timestamp_difference (its receipt of our last packet minus that packet's time)
    // plus our receipt minus its timestamp: the RTT, whatever the clocks' offset.
    const offset = 123_456_789;
    const dues: number[] = [];
    for (let i = 0, now = 1000; i < count; i++, now += gap) {
      const nowMicros = Math.floor(now * 1000) >>> 0;
      const oneWay = (rtt / 2) * 1000;
      policy.onTimestamps((nowMicros - oneWay + offset) >>> 0, (oneWay + offset) >>> 0, nowMicros);
      const due = policy.onData(FULL, true, 1 << 20, now, backlogged);
      dues.push(due - now);
      if (due <= now) policy.onAckSent();
    }
    return dues;
  };

  test('at a high rate: an ACK every MAX_ACK_THRESHOLD packets, the others wait at most MAX_ACK_DELAY', () => {
    // 100 ms RTT, a packet every 0.1 ms: 1,000 packets per RTT.
    const dues = fed(100, 0.1, 200).slice(20);
    const immediate = dues.filter((d) => d <= 0).length;
    assert.ok(Math.abs(immediate - 180 / MAX_ACK_THRESHOLD) <= 1, `${immediate} immediate of 180`);
    assert.ok(dues.every((d) => d <= MAX_ACK_DELAY + 1e-9));
  });

  test(`our input backlogged: an ACK every BACKLOG_MAX_ACK_THRESHOLD (${BACKLOG_MAX_ACK_THRESHOLD}) packets, waits up to BACKLOG_MAX_ACK_DELAY`, () => {
    // The same 100 ms RTT and a packet every 0.1 ms, while the driver says datagrams wait unread.
    const dues = fed(100, 0.1, 400, true).slice(40);
    const immediate = dues.filter((d) => d <= 0).length;
    assert.ok(Math.abs(immediate - 360 / BACKLOG_MAX_ACK_THRESHOLD) <= 1, `${immediate} immediate of 360`);
    assert.ok(dues.every((d) => d <= BACKLOG_MAX_ACK_DELAY + 1e-9));
    assert.ok(dues.some((d) => d > MAX_ACK_DELAY), 'some wait longer than without a backlog');
  });

  test('a quarter RTT bounds the wait on a short path, backlogged or not', () => {
    // 4 ms RTT, a packet every 0.05 ms: the delay is 1 ms either way.
    assert.ok(fed(4, 0.05, 200, true).every((d) => d <= 1 + 1e-9));
  });

  test('a quarter RTT bounds the wait on a short path', () => {
    // 4 ms RTT, a packet every 0.05 ms: the delay is 1 ms, the threshold 10.
    assert.ok(fed(4, 0.05, 200).every((d) => d <= 1 + 1e-9));
  });

  test('at a moderate rate (under MIN_ACK_THRESHOLD packets per delay) nothing waits', () => {
    // 100 ms RTT, a packet every 4 ms: 2.5 packets per 10 ms.
    assert.ok(fed(100, 4, 100).every((d) => d <= 0));
  });

  test('no RTT sample (the peer echoes no timestamp difference): nothing waits', () => {
    const policy = new AckPolicy();
    for (let i = 0; i < 100; i++) assert.equal(policy.onData(FULL, true, 1 << 20, i * 0.01), i * 0.01);
  });

  test('not deferrable, a partial packet, or a quarter of the window waiting: at once', () => {
    const policy = new AckPolicy();
    let now = 0;
    for (let i = 0; i < 50; i++, now += 0.1) {
      policy.onTimestamps(0, 100_000, 0); // 100 ms
      policy.onData(FULL, true, 1 << 20, now);
      policy.onAckSent();
    }
    assert.ok(policy.onData(FULL, true, 1 << 20, now) > now, 'in order, full, large window: waits');
    assert.equal(policy.onData(FULL, false, 1 << 20, (now += 0.1)), now);
    assert.equal(policy.onData(100, true, 1 << 20, (now += 0.1)), now);
    policy.onAckSent();
    assert.equal(policy.onData(FULL, true, 4 * FULL, (now += 0.1)), now);
  });

  test(`the threshold never exceeds MAX_ACK_THRESHOLD (${MAX_ACK_THRESHOLD})`, () => {
    const dues = fed(1000, 0.001, 100).slice(5);
    let run = 0;
    let longest = 0;
    for (const d of dues) {
      run = d <= 0 ? 0 : run + 1;
      longest = Math.max(longest, run);
    }
    assert.ok(longest <= MAX_ACK_THRESHOLD - 1, `${longest + 1} packets under one ACK`);
  });
});
