/**
 * Review of the later-packet SYN cookie proofs (MAX_PROOF_OFFSET): a flood-evicted client whose
 * first packets after our STATE were dropped is accepted by a later one, and the stream it sends
 * arrives whole once its retransmissions fill the holes; strays of a connection we closed neither
 * bring it back nor spend the cookie budget.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/protocol/connection.js';
import type { Remote } from '../../src/protocol/events.js';
import { MAX_PROOF_OFFSET } from '../../src/protocol/endpoint.js';
import { PacketType } from '../../src/protocol/packet.js';
import { seqAdd } from '../../src/protocol/seq.js';
import type { SynCookieSource } from '../../src/protocol/syn-cookie.js';
import { firstDifference, seededBytes, SimNetwork } from '../helpers/sim-network.js';
import { spoofSource as source } from '../helpers/injection.js';
import { evictWithSyn, oneSlotServer, packet, synFrom } from '../helpers/cookie-server.js';


const FLOODER: Remote = { address: '172.16.0.1', port: 1, family: 'IPv4' };

/**
 * A client sends `bytes` to a server with room for one unconfirmed connection; a forged SYN
 * evicts the client's half-open entry right after the server answered, and every client packet
 * whose seq_nr is less than `firstOffset` past its SYN's is lost until one at `firstOffset` or
 * later got through (a burst's drops: the server first hears a later packet).
 */
function evictedTransfer(bytes: number, firstOffset: number, seed = 1) {
  const net = new SimNetwork({ seed });
  const server = net.addHost('server', { listening: true, config: { maxUnconfirmed: 1 }, accept: { endOnEof: true } });
  const client = net.addHost('client');
  net.path(client, server, { latency: 20, loss: 0, jitter: 0 });
  const payload = seededBytes(seed, bytes);
  let conn: Connection | undefined;
  let dropped = 0;
  /** Type and offset from the SYN of the first client packet after the SYN that got through. */
  let firstDelivered: { type: PacketType; offset: number } | undefined;
  net.link(client, server).set({
    filter: (d) => {
      const p = d.packet;
      if (!p || !conn || p.type === PacketType.Syn) return false;
      const offset = (p.seq - conn.synSeq) & 0xffff;
      if (firstDelivered === undefined && offset < firstOffset) {
        dropped++;
        return true;
      }
      firstDelivered ??= { type: p.type, offset };
      return false;
    },
  });
  conn = net.connect(client, server, { send: payload });
  // The client's SYN arrives at 20 ms and is answered; a flood SYN evicts it at 21 ms.
  net.inject(server, packet({ type: PacketType.Syn, connectionId: 77, seq: 77 }), FLOODER, 21);
  net.runUntil(() => server.accepted.length === 1 && server.app(server.accepted[0]!).ended, 60_000);
  return { net, server, client, conn, payload, dropped, firstDelivered };
}

describe('SYN cookies: a later packet proves the connection (MAX_PROOF_OFFSET)', () => {
  test('on the simulated network: the client\'s first DATA is lost, its second confirms, and the stream arrives whole', () => {
    // Our initiator has at most 2 packets out before it hears from the acceptor: offset 2 is the
    // furthest it reaches here; larger offsets are driven by hand below.
    const { server, client, conn, payload, firstDelivered } = evictedTransfer(30_000, 2);
    assert.deepEqual(firstDelivered, { type: PacketType.Data, offset: 2 });
    assert.equal(server.endpoint.counters.unconfirmedEvicted, 1);
    assert.equal(server.endpoint.counters.cookieConfirmed, 1);
    assert.equal(server.endpoint.counters.cookieFailures, 0);
    assert.equal(client.app(conn).error, undefined);
    assert.equal(firstDifference(server.app(server.accepted[0]!).data(), payload), -1);
  });

  for (const [first, type, synSeq] of [
    [MAX_PROOF_OFFSET, PacketType.Data, 2000],
    [MAX_PROOF_OFFSET, PacketType.Fin, 2000],
    [1, PacketType.Fin, 2000],
    [4, PacketType.State, 2000],
    [5, PacketType.Data, 65533],
  ] as const) {
    test(`a ${PacketType[type]} ${first} past SYN ${synSeq} arrives first, then the retransmissions: in order, acked, ${type === PacketType.Fin ? 'ended' : 'open'}`, () => {
      const endpoint = oneSlotServer(17);
      const client = source(1);
      const ack = (synFrom(endpoint, client, 1000, synSeq, 0) - 1) & 0xffff;
      evictWithSyn(endpoint, 1);
      endpoint.transmits.length = 0;
      const at = (offset: number) => seqAdd(synSeq, offset);
      // DATA 1..first-1 were sent and lost; the packet at `first` arrives (a STATE carries the next seq_nr: nothing of its own).
      endpoint.handleDatagram(packet({ type, connectionId: 1001, seq: at(first), ack }, type === PacketType.Data ? Uint8Array.of(first) : undefined), client, 2);
      assert.equal(endpoint.counters.cookieConfirmed, 1);
      assert.equal(endpoint.counters.cookieFailures, 0);
      for (let i = 1; i < first; i++) endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 1001, seq: at(i), ack }, Uint8Array.of(i)), client, 3 + i);
      // A FIN beyond a hole is not recorded (Connection.processData: a forged one must not truncate
      // the stream); the peer resends it, as it does here once the DATA before it is in.
      if (type === PacketType.Fin && first > 1) endpoint.handleDatagram(packet({ type, connectionId: 1001, seq: at(first), ack }), client, 15);
      endpoint.flush(20);
      const events = endpoint.events.splice(0);
      const got = events.flatMap((e) => (e.type === 'data' ? e.pieces.flatMap((piece) => [...piece]) : []));
      const last = type === PacketType.Data ? first : first - 1;
      assert.deepEqual(got, Array.from({ length: last }, (_, i) => i + 1));
      assert.equal(events.some((e) => e.type === 'end'), type === PacketType.Fin);
      const acks = endpoint.transmits.filter((t) => t.remote === client);
      const lastAck = acks.at(-1)!;
      assert.equal((lastAck.data[18]! << 8) | lastAck.data[19]!, at(type === PacketType.Fin ? first : last));
      assert.equal(endpoint.counters.resetsSent, 0);
    });
  }

  test('SYN seq_nr wraps: a SYN at 65533, its DATA 0 (offset 3) confirms with the SYN seq 65533', () => {
    const endpoint = oneSlotServer(17);
    const client = source(1);
    const isn = synFrom(endpoint, client, 1000, 65533, 0);
    evictWithSyn(endpoint, 1);
    endpoint.transmits.length = 0;
    endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 1001, seq: 0, ack: (isn - 1) & 0xffff }), client, 2);
    const accepted = endpoint.events.find((e) => e.type === 'connection');
    assert.ok(accepted && accepted.type === 'connection');
    assert.equal(accepted.connection.synSeq, 65533);
    endpoint.flush(2);
    const ack = endpoint.transmits.find((t) => t.remote === client)!;
    assert.equal((ack.data[18]! << 8) | ack.data[19]!, 65533, 'it acks the SYN: 65534 and 65535 are the holes');
  });
});

describe('SYN cookies: strays of a connection we accepted and closed', () => {
  /** Cookies that say yes to every SYN seq_nr listed (as a 2-in-65536 chance hit would), no to others. */
  function cookiesValidFor(seqs: Set<number>, isn: number): SynCookieSource {
    return { isn: () => isn, valid: (_a, _p, _id, synSeq, guess) => guess === isn && seqs.has(synSeq) };
  }

  /**
   * A server accepts a connection (id 1000, SYN 2000, ISN 500) from each of `clients` sources,
   * the application destroys them all, then a flood evicts someone: cookies are on.
   */
  function closedThenFlood(validSeqs: Set<number>, clients = 1) {
    const endpoint = oneSlotServer(3, cookiesValidFor(validSeqs, 500));
    for (let i = 1; i <= clients; i++) {
      endpoint.handleDatagram(packet({ type: PacketType.Syn, connectionId: 1000, seq: 2000 }), source(i), 0);
      endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 1001, seq: 2001, ack: 499 }), source(i), 1);
      const accepted = endpoint.events.splice(0).find((e) => e.type === 'connection');
      assert.ok(accepted && accepted.type === 'connection');
      endpoint.remove(accepted.connection); // the application destroyed it
    }
    endpoint.events.length = 0;
    evictWithSyn(endpoint, 10, source(98));
    evictWithSyn(endpoint, 10, source(99));
    assert.equal(endpoint.counters.unconfirmedEvicted, 1);
    return endpoint;
  }

  test('a late DATA at offset 5 whose cookie also (by chance) fits a nearer SYN seq_nr does not resurrect the connection', () => {
    // Its own SYN 2000 fits (offset 5), and so does 2003 (offset 2): a 2-in-65536 chance per
    // nearer seq_nr. The nearest fit must not be taken for a new connection.
    const endpoint = closedThenFlood(new Set([2000, 2003]));
    endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 1001, seq: 2005, ack: 499 }), source(1), 11);
    assert.equal(endpoint.events.filter((e) => e.type === 'connection').length, 0);
    assert.equal(endpoint.size, 1, 'only the flood\'s half-open connection');
  });

  test('late packets of two closed connections do not use up the second\'s cookie budget: a real evicted client still gets in', () => {
    const endpoint = closedThenFlood(new Set([2000, 9000]), 2);
    // Each closed connection's peer still had 40 packets in flight (offsets 11..50).
    for (const i of [1, 2]) {
      for (let seq = 2011; seq <= 2050; seq++) {
        endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 1001, seq, ack: 499 }), source(i), 11);
      }
    }
    // A real client (SYN 9000) evicted by the flood confirms in the same second.
    endpoint.handleDatagram(packet({ type: PacketType.Data, connectionId: 3001, seq: 9001, ack: 499 }), source(50), 12);
    assert.equal(endpoint.events.filter((e) => e.type === 'connection').length, 1);
  });
});
