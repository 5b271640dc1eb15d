/**
 * EMSGSIZE in the simulator: the OS refuses datagrams above a local MTU and reports each refusal
 * asynchronously, in send order (as dgram does), to the connection that sent it. Whatever the
 * writes, losses and FIN timing, the stream either arrives byte-exact or the sender fails with
 * EMSGSIZE: never a corrupt stream, never negative bookkeeping.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/protocol/connection.js';
import type { Remote } from '../../src/protocol/events.js';
import type { OutPacket } from '../../src/protocol/send-buffer.js';
import { seededBytes, SimNetwork, type SimHost, type StreamApp } from '../helpers/sim-network.js';

interface Refusal {
  connection: Connection;
  datagram: Uint8Array;
}

/** Makes `host`'s OS refuse datagrams larger than `mtu`; returns a function that reports pending refusals. */
function localMtu(host: SimHost, mtuAt: (now: number) => number): () => void {
  const endpoint = host.endpoint;
  const original = endpoint.transmit.bind(endpoint);
  const pending: Refusal[] = [];
  endpoint.transmit = (remote: Remote, datagram: Uint8Array, connection?: Connection, packet?: OutPacket): void => {
    // A refused datagram never reaches the endpoint's transmits, so it is never released: its
    // packet keeps it (the re-split reads the payload from it).
    if (datagram.length > mtuAt(host.net.now) && connection) {
      pending.push({ connection, datagram: datagram.slice() });
      return;
    }
    original(remote, datagram, connection, packet);
  };
  return () => {
    const batch = pending.splice(0);
    for (const r of batch) r.connection.onSendError('EMSGSIZE', r.datagram, host.net.now);
    if (batch.length > 0) host.net.kick(host);
  };
}

function run(seed: number, options: { bytes: number; chunkSize: number; loss?: number; mtu: number; mtuFrom?: number }): {
  sender: StreamApp;
  receiver: StreamApp | undefined;
  data: Uint8Array;
  conn: Connection;
} {
  const net = new SimNetwork({ seed, link: { latency: 10, loss: options.loss ?? 0, rate: 5e6, queueBytes: 200_000 } });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true, accept: { endOnEof: true } });
  const report = localMtu(a, (now) => (now >= (options.mtuFrom ?? 0) ? options.mtu : Infinity));
  const data = seededBytes(seed, options.bytes);
  const conn = net.connect(a, b, { send: data, chunkSize: options.chunkSize });
  const sender = a.app(conn);
  for (let t = 0; t < 120_000; t++) {
    net.advance(1);
    report();
    const stats = conn.stats();
    assert.ok(stats.bytesInFlight >= 0, `bytesInFlight ${stats.bytesInFlight} at ${net.now}`);
    if (sender.closed) break;
  }
  const accepted = b.accepted[0];
  return { sender, receiver: accepted ? b.app(accepted) : undefined, data, conn };
}

describe('EMSGSIZE re-split (simulator)', () => {
  for (const [name, options] of [
    ['large writes then end()', { bytes: 300_000, chunkSize: 16 * 1024, mtu: 1280 }],
    ['small Nagle writes then end()', { bytes: 50_000, chunkSize: 300, mtu: 1280 }],
    ['large writes, lossy path', { bytes: 300_000, chunkSize: 16 * 1024, mtu: 1100, loss: 0.03 }],
    ['odd write sizes, two steps down', { bytes: 120_000, chunkSize: 1777, mtu: 1000 }],
    // Packets cut at the old size are still in flight when the first refusal comes: new data
    // must wait for the re-split, or a packet passing behind the refused ones forbids it.
    ['MTU drops mid-transfer', { bytes: 600_000, chunkSize: 16 * 1024, mtu: 1280, mtuFrom: 150 }],
    ['MTU drops mid-transfer, lossy', { bytes: 600_000, chunkSize: 16 * 1024, mtu: 1100, mtuFrom: 150, loss: 0.05 }],
    ['MTU drops mid-transfer, small writes', { bytes: 200_000, chunkSize: 333, mtu: 1000, mtuFrom: 100, loss: 0.02 }],
  ] as const) {
    for (const seed of [1, 2, 3]) {
      test(`${name} (seed ${seed}): the stream arrives whole or the sender fails with EMSGSIZE`, () => {
        const { sender, receiver, data, conn } = run(seed, options);
        assert.ok(sender.closed, 'the sender finished one way or the other');
        // Without loss every refused packet was refused on each transmission: it can always be
        // renumbered, so the transfer must succeed. With loss, a packet that passed before the
        // size dropped may need a resend, which nothing can repair (libtorrent fails too).
        if (options.loss === undefined) assert.equal(sender.error, undefined, 'a loss-free path never needs to fail');
        if (sender.error) {
          assert.equal(sender.error.code, 'EMSGSIZE', String(sender.error));
          if (receiver) {
            const got = receiver.data();
            assert.deepEqual(got, data.subarray(0, got.length), 'what arrived is a prefix of what was written');
          }
          return;
        }
        assert.ok(receiver, 'accepted');
        assert.ok(receiver.ended, 'end of stream arrived');
        assert.deepEqual(receiver.data(), data);
        assert.ok(conn.stats().packetSizeReductions > 0);
      });
    }
  }
});
