/**
 * The diagnostics_channel publish points, on the simulator (virtual clock): a transfer reports its
 * states, packets, congestion state and window changes; a lost packet is reported lost and then
 * retransmitted; an outage reports a timeout. Nothing is built while nobody subscribes.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import { PacketType } from '../../src/protocol/packet.js';
import {
  ChannelTracer,
  channels,
  type LossMessage,
  type MetricsMessage,
  type PacketReceivedMessage,
  type PacketSentMessage,
  type RetransmitMessage,
  type StateMessage,
  type TimeoutMessage,
  type TraceMessage,
  type WindowMessage,
} from '../../src/trace/channels.js';
import { seededBytes, SimNetwork, type LinkOptions } from '../helpers/sim-network.js';

type Recorded = { channel: string; message: TraceMessage };

/** Subscribes to every channel for the duration of `body`; returns what was published. */
function recording(body: () => void): Recorded[] {
  const recorded: Recorded[] = [];
  const listeners = Object.values(channels).map((name) => {
    const listener = (message: unknown): void => void recorded.push({ channel: name, message: message as TraceMessage });
    diagnosticsChannel.subscribe(name, listener);
    return [name, listener] as const;
  });
  try {
    body();
  } finally {
    for (const [name, listener] of listeners) diagnosticsChannel.unsubscribe(name, listener);
  }
  return recorded;
}

function of<T extends TraceMessage>(recorded: Recorded[], channel: string, side?: boolean): T[] {
  return recorded.filter((r) => r.channel === channel && (side === undefined || r.message.connection.initiator === side)).map((r) => r.message as T);
}

/** Two hosts whose endpoints publish through a ChannelTracer on the virtual clock. */
function tracedNetwork(seed: number, link: Partial<LinkOptions>) {
  const net = new SimNetwork({ seed, link });
  const clock = (): number => net.now;
  const a = net.addHost('a', { tracer: new ChannelTracer({ clock, local: () => ({ address: '10.0.0.1', port: 6881 }) }) });
  const b = net.addHost('b', { listening: true, accept: { endOnEof: true }, tracer: new ChannelTracer({ clock, local: () => ({ address: '10.0.0.2', port: 6881 }) }) });
  return { net, a, b };
}

describe('diagnostics_channel tracing', () => {
  test('a transfer reports states, packets, congestion state and window changes', () => {
    const data = seededBytes(1, 300_000);
    let client: Connection | undefined;
    let intact = false;
    const recorded = recording(() => {
      const { net, a, b } = tracedNetwork(3, { latency: 20, rate: 2_000_000, queueBytes: 100_000 });
      client = net.connect(a, b, { send: data });
      net.runUntil(() => b.accepted.length > 0 && b.app(b.accepted[0]!).ended, 60_000);
      net.advance(5_000);
      intact = Buffer.from(b.app(b.accepted[0]!).data()).equals(data);
    });
    assert.ok(intact, 'the data arrived');

    // States, in order, on both sides, with the same identity object throughout.
    const clientStates = of<StateMessage>(recorded, channels.state, true);
    assert.deepEqual(clientStates.map((m) => [m.from, m.to]), [[undefined, 'syn-sent'], ['syn-sent', 'connected'], ['connected', 'closed']]);
    const serverStates = of<StateMessage>(recorded, channels.state, false);
    assert.deepEqual(serverStates.map((m) => [m.from, m.to]), [[undefined, 'syn-recv'], ['syn-recv', 'connected'], ['connected', 'closed']]);
    const identity = clientStates[0]!.connection;
    assert.ok(clientStates.every((m) => m.connection === identity));
    assert.equal(identity.remoteAddress, '10.0.0.2');
    assert.equal(identity.localPort, 6881);
    assert.equal(identity.sendId, (identity.recvId + 1) & 0xffff);
    assert.equal(clientStates[2]!.error, undefined);

    // Packets sent: SYN, DATA, FIN from the client; the server's first packet is its STATE.
    const sent = of<PacketSentMessage>(recorded, channels.packetSent, true);
    assert.equal(sent[0]!.type, 'syn');
    const dataSent = sent.filter((m) => m.type === 'data');
    assert.equal(dataSent.reduce((n, m) => n + (m.resend ? 0 : m.payloadSize), 0), data.length, 'first transmissions carry every byte once');
    assert.ok(dataSent.every((m) => m.size === m.payloadSize + 20 + (m.selectiveAck ? 2 + Math.max(4, m.selectiveAck.length) : 0)));
    assert.ok(sent.some((m) => m.type === 'fin'));
    assert.equal(of<PacketSentMessage>(recorded, channels.packetSent, false)[0]!.type, 'state');
    // Time is the simulator's: non-decreasing, within the run.
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i]!.time >= sent[i - 1]!.time);

    // Packets received: the server saw the SYN first, everything valid on a clean path.
    const received = of<PacketReceivedMessage>(recorded, channels.packetReceived, false);
    assert.equal(received[0]!.type, 'syn');
    assert.ok(received.filter((m) => m.type === 'data').length >= dataSent.length * 0.9);
    assert.ok(received.every((m) => m.verdict === 'valid' || m.verdict === 'duplicate'));

    // Congestion state on each ACK that acknowledged something (client side: it sent the data).
    const metrics = of<MetricsMessage>(recorded, channels.metrics, true);
    assert.ok(metrics.length > 10);
    const m = metrics[metrics.length - 1]!;
    for (const field of ['cwnd', 'bytesInFlight', 'rtt', 'latestRtt', 'rttVar', 'rto', 'queuingDelay', 'baseDelay', 'targetDelay', 'peerWindow'] as const) {
      assert.equal(typeof m[field], 'number', field);
    }
    assert.equal(m.targetDelay, 100);
    assert.ok(metrics.some((x) => x.slowStart) && metrics.some((x) => x.latestRtt >= 40), 'slow start and a 2 x 20 ms RTT were seen');
    assert.equal(client!.stats().cwnd, m.cwnd);

    // The peer's window: at least its first announcement (0 -> the SYN's STATE).
    const windows = of<WindowMessage>(recorded, channels.window, true);
    assert.ok(windows.length >= 1);
    assert.equal(windows[0]!.previous, 0);
    assert.ok(windows[0]!.current > 0);
  });

  test('a lost DATA packet is reported lost, then retransmitted', () => {
    let dropped: number | undefined;
    const recorded = recording(() => {
      const { net, a, b } = tracedNetwork(4, { latency: 10 });
      let dataSeen = 0;
      net.link(a, b).set({
        filter: (d) => {
          if (d.packet?.type !== PacketType.Data || ++dataSeen !== 20) return false;
          dropped = d.packet.seq;
          return true;
        },
      });
      net.connect(a, b, { send: seededBytes(2, 200_000) });
      net.runUntil(() => b.accepted.length > 0 && b.app(b.accepted[0]!).ended, 60_000);
    });
    assert.notEqual(dropped, undefined);
    const losses = of<LossMessage>(recorded, channels.loss, true);
    assert.ok(losses.some((l) => l.seq === dropped), `loss of seq ${dropped} reported`);
    const retransmits = of<RetransmitMessage>(recorded, channels.retransmit, true);
    const resend = retransmits.find((r) => r.seq === dropped);
    assert.ok(resend, 'its retransmission reported');
    assert.equal(resend.type, 'data');
    assert.ok(resend.time >= losses.find((l) => l.seq === dropped)!.time);
    const resent = of<PacketSentMessage>(recorded, channels.packetSent, true).filter((p) => p.seq === dropped && p.type === 'data');
    assert.deepEqual(resent.map((p) => p.resend), [false, true], 'packet-sent flags the second transmission as a resend');
  });

  test('an outage reports a timeout with the cut window and backed-off RTO', () => {
    const recorded = recording(() => {
      const { net, a, b } = tracedNetwork(5, { latency: 10, rate: 1_000_000, queueBytes: 100_000, outages: [{ start: 400, end: 3_000 }] });
      net.connect(a, b, { send: seededBytes(3, 2_000_000) });
      net.runUntil(() => b.accepted.length > 0 && b.app(b.accepted[0]!).ended, 120_000);
    });
    const timeouts = of<TimeoutMessage>(recorded, channels.timeout, true);
    assert.ok(timeouts.length >= 1, 'a timeout was reported');
    assert.ok(timeouts[0]!.cwnd <= 1400, 'the window is one packet after it');
    assert.ok(timeouts[0]!.rto >= 1000, 'the RTO backed off');
    assert.ok(of<LossMessage>(recorded, channels.loss, true).some((l) => l.time === timeouts[0]!.time), 'what was in flight is declared lost with it');
  });

  test('with nobody subscribed, nothing is built: the connection and its controller are not even read', () => {
    const tracer = new ChannelTracer({ clock: () => 0 });
    const untouchable = new Proxy({} as Connection, {
      get() {
        throw new Error('the tracer read the connection with nobody subscribed');
      },
    });
    const untouchableAny = untouchable as never;
    tracer.acked(untouchable, untouchableAny, untouchableAny, 0, 0, 100);
    tracer.timeout(untouchable, 0, 0, 0);
    tracer.lost(untouchable, 1, 1000);
    tracer.stateChanged(untouchable, 'connected');
    tracer.peerWindowChanged(untouchable, 0, 1);
    tracer.packetSent(untouchable, new Uint8Array(20), true);
    tracer.packetReceived(untouchable, { type: PacketType.State, connectionId: 0, timestamp: 0, timestampDifference: 0, windowSize: 0, seq: 0, ack: 0, payload: new Uint8Array(0) }, 'valid');
  });
});
