/**
 * An application that destroys a connection in one of its event handlers (a reply that was all it
 * wanted, a peer it rejects on 'connection'), in the simulator. The handlers run before the flush
 * that acks the burst they answer (src/node/udp-driver.ts), so the connection is gone before that
 * flush: its RESET, which carries the ACK, must be the last thing it sends. A STATE after it told
 * the peer that the RESET was forged (a peer that sends anything after a RESET has not reset), and
 * the peer kept the connection until the RESET our endpoint answered that STATE with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/protocol/config.js';
import type { Connection } from '../../src/protocol/connection.js';
import type { EndpointEvent } from '../../src/protocol/events.js';
import { seededBytes, SimNetwork, sentBy, typeName, type SimApp, type SimHost } from '../helpers/sim-network.js';

/** Destroys its connection at the first event of `type`, as Socket.destroy() does. */
class Destroyer implements SimApp {
  constructor(
    readonly connection: Connection,
    readonly type: EndpointEvent['type'],
    readonly net: SimNetwork,
  ) {
    connection.context = this;
  }
  onEvent(event: EndpointEvent): void {
    if (event.type === this.type) this.connection.abort(this.net.now);
  }
}

const LATENCY = 20;

function scenario(where: 'data' | 'connection'): { types: string[]; peerClosedAfter: number; peerError: string | undefined } {
  const net = new SimNetwork({ seed: 5, link: { latency: LATENCY } });
  const a = net.addHost('a');
  let destroyer: Destroyer | undefined;
  const b = net.addHost('b', {
    listening: true,
    accept: (connection: Connection, host: SimHost) => {
      destroyer = new Destroyer(connection, where, host.net);
      // On 'connection' the app destroys at once, in the handler that announced it.
      if (where === 'connection') connection.abort(net.now);
      return destroyer;
    },
  });
  const records = net.capture();
  const client = net.connect(a, b, { send: new Uint8Array(100), endWhenWritten: false });
  net.runUntil(() => destroyer !== undefined, 5_000);
  net.runUntil(() => a.app(client).closed, 10_000);
  const fromB = sentBy(records, b).filter((r) => r.packet !== undefined && r.packet.connectionId === client.recvId);
  const reset = fromB.findIndex((r) => typeName(r) === 'RESET');
  assert.ok(reset >= 0, `b never reset: ${fromB.map(typeName).join(', ')}`);
  const app = a.app(client);
  // After its RESET b's endpoint only answers the peer's packets with RESETs (as to any unknown
  // connection); the connection itself said its last word.
  return { types: fromB.slice(reset).map(typeName), peerClosedAfter: app.closedAt! - fromB[reset]!.sentAt, peerError: app.error?.code };
}

for (const where of ['data', 'connection'] as const) {
  test(`a connection destroyed in its '${where}' handler sends nothing after its RESET`, () => {
    const { types, peerClosedAfter, peerError } = scenario(where);
    assert.ok(types.every((type) => type === 'RESET'), `b sent from its RESET on: ${types.join(', ')}`);
    assert.equal(peerError, 'ECONNRESET');
    // The RESET's trip, then an RTO (its 500 ms floor here) in which the peer hears nothing else
    // from the connection: not an RTT more (560 ms with the STATE after the RESET).
    assert.ok(peerClosedAfter <= LATENCY + DEFAULT_CONFIG.minRto, `the peer closed ${peerClosedAfter} ms after the RESET left`);
  });
}

test('a client destroyed in its data handler with its peer\'s only packet unacked: the peer still closes', () => {
  // One packet of data: an ACK after the RESET would acknowledge all of it, so no resend of the
  // peer's would draw our endpoint's own RESET either, and the peer would keep the connection for
  // good.
  const net = new SimNetwork({ seed: 8 });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true, accept: { send: seededBytes(4, 500), endWhenWritten: false } });
  const records = net.capture();
  const client = a.endpoint.connect(b.remote, net.now);
  new Destroyer(client, 'data', net);
  net.kick(a);
  net.runUntil(() => client.state === 'closed' && b.accepted[0]?.state === 'closed', 10_000);
  const fromClient = sentBy(records, a).map(typeName);
  const afterReset = fromClient.slice(fromClient.indexOf('RESET'));
  assert.ok(afterReset.length > 0 && afterReset.every((type) => type === 'RESET'), `client sent ${fromClient.join(', ')}`);
  assert.equal(b.accepted[0]?.state, 'closed', 'the peer took the RESET within 10 s');
});
