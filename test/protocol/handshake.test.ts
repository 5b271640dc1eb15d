/**
 * Connection setup through the simulator: the wire facts of the handshake (PROTOCOL-NOTES
 * "Connection ids and handshake"), anti-amplification on the acceptor, refusal and timeouts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PacketType } from '../../src/protocol/packet.js';
import { seededBytes, sameBytes, sentBy, SimNetwork, typeName, type HostOptions, type LinkOptions } from '../helpers/sim-network.js';

const A_RECV_ID = 0x1234;
const A_ISN = 0x5678;
const B_ISN = 0x9abc;

/** Two hosts; A's connection id and ISN and B's ISN forced through the random source. */
function pair(seed = 1, link: Partial<LinkOptions> = { latency: 10 }, bOptions: HostOptions = {}) {
  const net = new SimNetwork({ seed, link });
  const a = net.addHost('a', { randomQueue: [A_RECV_ID, A_ISN] });
  const b = net.addHost('b', { listening: true, isnQueue: [B_ISN], ...bOptions });
  const wire = net.capture();
  return { net, a, b, wire };
}

describe('handshake wire facts', () => {
  test('SYN carries recv_id, seq = ISN, ack 0; acceptor STATE answers with send_id = SYN id, its ISN, ack = SYN seq', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 }, { accept: { send: seededBytes(2, 3000) } });
    const conn = net.connect(a, b);
    net.drive(2000);

    const [syn, ...restA] = sentBy(wire, a);
    assert.ok(syn?.packet);
    assert.equal(typeName(syn), 'SYN');
    assert.equal(syn.data.length, 20);
    assert.equal(syn.packet.connectionId, A_RECV_ID);
    assert.equal(conn.recvId, A_RECV_ID);
    assert.equal(conn.sendId, A_RECV_ID + 1);
    assert.equal(syn.packet.seq, A_ISN);
    assert.equal(syn.packet.ack, 0);

    const [state, ...restB] = sentBy(wire, b);
    assert.ok(state?.packet);
    assert.equal(typeName(state), 'STATE');
    assert.equal(state.data.length, 20);
    assert.equal(state.packet.connectionId, A_RECV_ID, 'acceptor sends on the SYN connection id');
    assert.equal(state.packet.seq, B_ISN);
    assert.equal(state.packet.ack, A_ISN);

    // The initiator confirms with ack_nr = STATE.seq - 1 on its send_id, without consuming a seq.
    const confirm = restA[0]!;
    assert.equal(typeName(confirm), 'STATE');
    assert.equal(confirm.packet!.connectionId, A_RECV_ID + 1);
    assert.equal(confirm.packet!.ack, B_ISN - 1);
    assert.equal(confirm.packet!.seq, A_ISN + 1);

    // The acceptor's first DATA reuses the STATE's seq_nr: the STATE did not consume it.
    const firstData = restB.find((r) => r.packet?.type === PacketType.Data)!;
    assert.equal(firstData.packet!.seq, B_ISN);
    assert.equal(firstData.packet!.ack, A_ISN);
    assert.equal(firstData.packet!.connectionId, A_RECV_ID);

    assert.ok(sameBytes(a.app(conn).data(), seededBytes(2, 3000)));
    const acc = b.accepted[0]!;
    assert.equal(acc.recvId, A_RECV_ID + 1);
    assert.equal(acc.sendId, A_RECV_ID);
  });

  test("initiator's first DATA has seq ISN + 1 and ack STATE.seq - 1, and confirms the acceptor", () => {
    const { net, a, b, wire } = pair();
    net.connect(a, b, { send: new TextEncoder().encode('hello') });
    net.drive(2000);
    const data = sentBy(wire, a).find((r) => r.packet?.type === PacketType.Data)!;
    assert.equal(data.packet!.seq, A_ISN + 1);
    assert.equal(data.packet!.ack, B_ISN - 1);
    assert.equal(b.accepted.length, 1);
    assert.equal(new TextDecoder().decode(b.app(b.accepted[0]!).data()), 'hello');
  });

  test('the application sees the incoming connection only once the initiator confirmed it', () => {
    const { net, a, b } = pair(1, { latency: 10 });
    net.connect(a, b);
    net.drive(15); // SYN arrived at 10, STATE on its way back
    assert.equal(b.endpoint.size, 1);
    assert.equal(b.accepted.length, 0);
    assert.equal(b.events('connection').length, 0);
    net.drive(25); // STATE at A at 20, confirmation not yet at B (30)
    assert.equal(a.events('connect').length, 1);
    assert.equal(b.accepted.length, 0);
    net.drive(31);
    assert.equal(b.accepted.length, 1);
    assert.equal(b.events('connection').length, 1);
  });

  test('acceptor sends exactly one 20-byte STATE and nothing else before confirmation, never retransmits it, and expires', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 }, { accept: { send: seededBytes(3, 10_000) } });
    // Everything from A except its SYN is lost: B never gets the proof.
    net.link(a, b).set({ filter: (d) => d.packet?.type !== PacketType.Syn });
    net.connect(a, b);
    net.drive(10_000);
    const fromB = sentBy(wire, b);
    assert.equal(fromB.length, 1, `B sent ${fromB.map(typeName).join(',')}`);
    assert.equal(typeName(fromB[0]!), 'STATE');
    assert.equal(fromB[0]!.data.length, 20);
    assert.equal(b.accepted.length, 0);
    assert.equal(b.endpoint.size, 0, 'the unconfirmed connection died at its first timeout');
    assert.ok(b.log.every((e) => e.event.type !== 'connection'));
  });

  test('a duplicate SYN gets the ORIGINAL STATE (same seq_nr), no new connection, no new ISN', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 });
    // Hold A's confirmation so B stays unconfirmed while the duplicate arrives.
    net.link(a, b).set({ filter: (d) => d.packet?.type !== PacketType.Syn && d.sentAt < 400 });
    net.connect(a, b, { send: seededBytes(4, 5000) });
    net.drive(100);
    const syn = sentBy(wire, a)[0]!;
    const randomCalls = b.randomCalls;
    net.inject(b, syn.data, a.remote, 300);
    net.drive(310);
    const states = sentBy(wire, b).filter((r) => r.packet?.type === PacketType.State);
    assert.equal(states.length, 2);
    assert.equal(states[1]!.packet!.seq, B_ISN);
    assert.equal(states[1]!.packet!.ack, A_ISN);
    assert.equal(states[1]!.data.length, 20);
    assert.equal(b.endpoint.size, 1);
    assert.equal(b.randomCalls, randomCalls);
  });

  test('a lost STATE: the SYN retransmission gets the original STATE and the connection completes', () => {
    // The resent SYN arrives exactly when the unconfirmed connection would expire (both are one
    // initial RTO after the first SYN): the duplicate must keep it alive long enough to be confirmed.
    const { net, a, b, wire } = pair(1, { latency: 10 });
    let dropped = false;
    net.link(b, a).set({
      filter: (d) => {
        if (dropped || d.packet?.type !== PacketType.State) return false;
        return (dropped = true);
      },
    });
    const payload = seededBytes(5, 20_000);
    const conn = net.connect(a, b, { send: payload });
    assert.ok(net.runUntil(() => b.accepted.length > 0 && b.app(b.accepted[0]!).receivedBytes === payload.length, 10_000));
    assert.equal(a.app(conn).error, undefined);
    const states = sentBy(wire, b).filter((r) => r.packet?.type === PacketType.State);
    assert.equal(states[0]!.packet!.seq, B_ISN);
    assert.equal(states[1]!.packet!.seq, B_ISN);
    assert.equal(sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Syn).length, 2);
  });

  test('a SYN duplicated by the network and arriving after confirmation gets the original STATE and does not disturb the transfer', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 });
    const payload = seededBytes(8, 300_000);
    const conn = net.connect(a, b, { send: payload });
    net.drive(200);
    assert.equal(b.accepted.length, 1);
    const syn = sentBy(wire, a)[0]!;
    net.inject(b, syn.data, a.remote);
    net.drive(net.now + 1);
    const late = sentBy(wire, b).at(-1)!;
    assert.equal(typeName(late), 'STATE');
    assert.equal(late.packet!.seq, B_ISN);
    assert.ok(net.runUntil(() => b.app(b.accepted[0]!).receivedBytes === payload.length, 10_000));
    assert.ok(sameBytes(b.app(b.accepted[0]!).data(), payload));
    assert.equal(a.app(conn).error, undefined);
    assert.equal(b.endpoint.size, 1);
  });

  test(
    'long RTT (300 ms): losing the initiator\'s confirmation and first DATA does not let the unconfirmed acceptor expire (it waits 3 s, as libutp)',
    () => {
      const { net, a, b } = pair(1, { latency: 150 });
      // A's confirming STATE and first DATA (both sent at 300 ms) are lost; the DATA is resent at
      // 300 + RTO (900) and arrives at 1350, after B expired at 1150.
      net.link(a, b).set({ filter: (d) => d.packet?.type !== PacketType.Syn && d.sentAt < 1000 });
      const conn = net.connect(a, b, { send: seededBytes(9, 1000) });
      net.runUntil(() => a.app(conn).closed || (b.accepted.length === 1 && b.app(b.accepted[0]!).receivedBytes === 1000), 30_000);
      assert.equal(a.app(conn).error, undefined);
      assert.equal(b.accepted.length, 1);
    },
  );

  test('a lost SYN is retransmitted after the initial RTO and the connection completes', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 });
    let dropped = false;
    net.link(a, b).set({ filter: (d) => (d.packet?.type === PacketType.Syn && !dropped ? (dropped = true) : false) });
    const conn = net.connect(a, b, { send: seededBytes(6, 1000) });
    assert.ok(net.runUntil(() => a.app(conn).connected, 5000));
    const syns = sentBy(wire, a).filter((r) => r.packet?.type === PacketType.Syn);
    assert.equal(syns.length, 2);
    assert.equal(syns[1]!.sentAt, 1000);
    assert.equal(syns[1]!.packet!.seq, A_ISN, 'same ISN');
    assert.equal(syns[1]!.packet!.connectionId, A_RECV_ID, 'same id');
  });

  test(
    "initiator whose application only reads: its lost confirmation is repeated and the acceptor's data is delivered",
    () => {
      const { net, a, b } = pair(1, { latency: 10 }, { accept: { send: seededBytes(7, 5000) } });
      let dropped = false;
      net.link(a, b).set({
        filter: (d) => (d.packet?.type === PacketType.State && !dropped ? (dropped = true) : false),
      });
      const conn = net.connect(a, b);
      net.runUntil(() => a.app(conn).receivedBytes === 5000 || a.app(conn).closed, 120_000);
      assert.equal(a.app(conn).error, undefined);
      assert.equal(a.app(conn).receivedBytes, 5000);
    },
  );
});

describe('connection refused and connect timeouts', () => {
  test('SYN to a non-listening endpoint: RESET back, ECONNREFUSED in the close event', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 }, { listening: false });
    const conn = net.connect(a, b);
    assert.ok(net.runUntil(() => a.app(conn).closed, 5000));
    const app = a.app(conn);
    assert.equal(app.error?.code, 'ECONNREFUSED');
    assert.equal(app.connected, false);
    assert.equal(app.closedAt, 20);
    assert.equal(b.endpoint.counters.synRefused, 1);
    assert.equal(b.endpoint.counters.resetsSent, 1);
    const reset = sentBy(wire, b)[0]!;
    assert.equal(typeName(reset), 'RESET');
    assert.equal(reset.data.length, 20);
    assert.equal(reset.packet!.connectionId, A_RECV_ID);
    assert.equal(reset.packet!.ack, A_ISN);
    assert.equal(a.endpoint.size, 0);
    assert.equal(a.events('close').length, 1);
  });

  test('SYNs into a black hole: 3 SYNs (0, 1 s, 3 s), then ETIMEDOUT at 7 s', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 });
    net.link(a, b).set({ loss: 1 });
    const conn = net.connect(a, b);
    assert.ok(net.runUntil(() => a.app(conn).closed, 60_000));
    assert.equal(a.app(conn).error?.code, 'ETIMEDOUT');
    assert.equal(a.app(conn).closedAt, 7000);
    const syns = sentBy(wire, a);
    assert.deepEqual(
      syns.map((r) => [typeName(r), r.sentAt]),
      [
        ['SYN', 0],
        ['SYN', 1000],
        ['SYN', 3000],
      ],
    );
    assert.equal(a.endpoint.size, 0);
    assert.equal(a.endpoint.nextWake, Infinity);
  });

  test('connect timeout honours maxSynTransmits = 1 (libtorrent style: one SYN, fail after one RTO)', () => {
    const { net, a, b, wire } = pair(1, { latency: 10 });
    net.link(a, b).set({ loss: 1 });
    const conn = net.connect(a, b, {}, { maxSynTransmits: 1 });
    assert.ok(net.runUntil(() => a.app(conn).closed, 60_000));
    assert.equal(a.app(conn).error?.code, 'ETIMEDOUT');
    assert.equal(a.app(conn).closedAt, 1000);
    assert.equal(sentBy(wire, a).length, 1);
  });
});
