/**
 * A connection the application destroyed after both ends of stream were asked for (our FIN
 * queued, the peer's delivered) lingers to finish sending. A peer that keeps its window shut and
 * keeps answering must not keep it (its queued data, the UDP socket that waits for its 'removed')
 * forever: once orphaned, zero-window probes count as retransmissions, as TCP bounds orphaned
 * sockets (Linux tcp_orphan_retries), and the connection times out.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import type { EndpointEvent } from '../../src/protocol/events.js';
import { seededBytes, SimNetwork, type SimHost } from '../helpers/sim-network.js';

describe('orphaned connection against a peer whose window stays shut', () => {
  test('it is removed in bounded time, not kept alive by the peer\'s window-0 answers', (t) => {
    const net = new SimNetwork({ seed: 61 });
    const a = net.addHost('a');
    let server: Connection | undefined;
    let removedAt: number | undefined;
    const b = net.addHost('b', {
      listening: true,
      // The server answers the request with 2 MiB, ends, and is destroyed once the request ended.
      accept: (connection: Connection, host: SimHost) => {
        server = connection;
        connection.write(seededBytes(3, 2 * 1024 * 1024));
        connection.end();
        return {
          onEvent(event: EndpointEvent) {
            if (event.type === 'end') {
              connection.abort(host.net.now);
              host.net.kick(host);
            }
          },
        };
      },
    });
    const onRemove = b.endpoint.remove.bind(b.endpoint);
    b.endpoint.remove = (connection: Connection) => {
      if (connection === server) removedAt ??= net.now;
      onRemove(connection);
    };
    // The client sends its request and never reads: its window closes and stays shut.
    const client = net.connect(a, b, { send: new Uint8Array(100), autoRead: false });
    assert.ok(net.runUntil(() => server !== undefined && server.context === undefined, 10_000), 'server destroyed its socket');
    assert.equal(server!.state, 'connected', 'it lingers to finish sending');
    net.advance(30 * 60_000);
    assert.notEqual(removedAt, undefined, `still there after 30 min: ${server!.state}, client ${client.state}`);
    t.diagnostic(`removed ${Math.round((removedAt! - net.now + 30 * 60_000) / 1000)} s after the destroy`);
  });
});

describe('orphaned connection whose peer forgot it', () => {
  test('a lone unacknowledged FIN is resent a few times, then the connection goes (not a minute of RTO backoff)', () => {
    // The peer sent its FIN and then forgot the connection (libtorrent deletes its socket once
    // its own FIN is acknowledged and answers nothing after): our FIN is never acknowledged.
    const net = new SimNetwork({ seed: 62 });
    const a = net.addHost('a');
    const b = net.addHost('b', { listening: true, accept: { endOnEof: false } });
    const conn = net.connect(a, b, { send: seededBytes(4, 10_000) });
    assert.ok(net.runUntil(() => b.accepted.length === 1 && b.app(b.accepted[0]!).ended, 10_000));
    const server = b.accepted[0]!;
    let removedAt: number | undefined;
    const onRemove = b.endpoint.remove.bind(b.endpoint);
    b.endpoint.remove = (connection: Connection) => {
      if (connection === server) removedAt ??= net.now;
      onRemove(connection);
    };
    // The client vanishes: from now on nothing reaches it.
    net.link(b, a).set({ loss: 1 });
    server.end();
    server.abort(net.now);
    net.kick(b);
    const destroyedAt = net.now;
    assert.equal(server.state, 'connected', 'it lingers to get its FIN acknowledged');
    net.advance(60_000);
    assert.notEqual(removedAt, undefined, 'still there after a minute');
    // The RTO (1 s here) doubled per timeout: the FIN and 3 resends take 1 + 2 + 4 + 8 s.
    assert.ok(removedAt! - destroyedAt < 20_000, `removed ${removedAt! - destroyedAt} ms after the destroy`);
    assert.equal(conn.state === 'closed' || conn.state === 'connected', true);
  });
});

describe('orphaned connection across a short outage', () => {
  for (const outage of [4_000, 6_000]) {
    test(`a ${outage / 1000} s outage toward the peer right after the destroy: the peer still gets our end of stream`, () => {
      const net = new SimNetwork({ seed: 63 });
      const a = net.addHost('a');
      const b = net.addHost('b', { listening: true, accept: { endOnEof: false } });
      const conn = net.connect(a, b, { send: seededBytes(5, 10_000) });
      assert.ok(net.runUntil(() => b.accepted.length === 1 && b.app(b.accepted[0]!).ended, 10_000));
      const server = b.accepted[0]!;
      net.link(b, a).addOutage(net.now, net.now + outage);
      server.end();
      server.abort(net.now);
      net.kick(b);
      assert.ok(net.runUntil(() => a.app(conn).ended, 60_000), 'the client saw the end of stream');
      assert.equal(a.app(conn).error, undefined);
    });
  }
});
