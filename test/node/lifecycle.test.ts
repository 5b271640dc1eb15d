import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { connect, createServer, createSocket, type Server, type Socket } from '../../src/index.js';
import { decodePacket, encodePacket, PacketType } from '../../src/protocol/packet.js';

/**
 * net's lifecycle promises on real sockets (loopback): 'finish' means the peer acknowledged
 * everything, 'close' comes after, a lingering connection keeps its UDP socket, and a server
 * that closed announces no more connections. Timing is never asserted; waits are bounded by the
 * test timeout.
 */

const MiB = 1024 * 1024;

const open = new Set<{ destroy(): unknown }>();
const servers = new Set<Server>();

function track<T extends { destroy(): unknown }>(socket: T): T {
  open.add(socket);
  return socket;
}

function listen(server: Server): Promise<number> {
  servers.add(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address()!.port)));
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves with every byte the socket delivers until its end. */
function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

/** Waits (without asserting anything about time) until `predicate` holds. */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('lifecycle keeps net promises', { timeout: 90_000 }, () => {
  afterEach(async () => {
    for (const socket of open) socket.destroy();
    open.clear();
    for (const server of servers) if (server.listening) await new Promise((resolve) => server.close(resolve));
    servers.clear();
  });

  test('pooled connect() then end(4 MiB), server ends at once: the server gets every byte and the end', { timeout: 20_000 }, async () => {
    let accepted: Socket | undefined;
    let received!: Promise<Buffer>;
    const server = createServer((socket: Socket) => {
      accepted = track(socket);
      received = collect(socket);
      socket.end();
    });
    const port = await listen(server);
    const payload = randomBytes(4 * MiB);
    const client = track(connect(port, '127.0.0.1'));
    const order: string[] = [];
    let serverHadAtFinish: number | undefined;
    client.on('finish', () => {
      order.push('finish');
      serverHadAtFinish = accepted?.stats()?.bytesReceived;
    });
    client.on('close', () => order.push('close'));
    client.resume();
    client.end(payload);
    await once(client, 'close');
    const data = await received;
    assert.equal(data.length, payload.length);
    assert.equal(sha(data), sha(payload));
    assert.deepEqual(order, ['finish', 'close']);
    assert.equal(serverHadAtFinish, payload.length, 'the peer had acknowledged everything at finish');
  });

  test("'finish' waits for the peer's acknowledgement: not while it does not read, then it does", { timeout: 20_000 }, async () => {
    let accepted: Socket | undefined;
    const server = createServer((socket: Socket) => {
      accepted = track(socket);
      socket.pause(); // reads nothing: its window closes after the receive buffer (1 MiB)
    });
    const port = await listen(server);
    // More than the peer can hold unread, less than that plus our send buffer: the old code
    // called 'finish' as soon as the send queue fell under the send buffer size.
    const payload = randomBytes(1.5 * MiB);
    const client = track(connect(port, '127.0.0.1'));
    let finished = false;
    client.on('finish', () => {
      finished = true;
    });
    client.resume();
    client.end(payload);
    // The peer's window is (nearly) full: what it can take without reading has arrived. The old
    // code's 'finish' came once its queue fell under 1 MiB, i.e. before the peer had 0.5 MiB.
    await until(() => (accepted?.stats()?.bytesReceived ?? 0) >= MiB - 8 * 1400);
    assert.equal(finished, false, 'finish while the peer had not received everything');
    assert.ok(accepted!.stats()!.bytesReceived < payload.length);
    const received = collect(accepted!);
    accepted!.resume();
    await once(client, 'finish');
    assert.equal(accepted!.stats()!.bytesReceived, payload.length);
    accepted!.end();
    assert.equal(sha(await received), sha(payload));
  });

  test('a shared socket closed while its connection lingers keeps the UDP socket until the connection is removed', { timeout: 20_000 }, async () => {
    const server = createServer((socket: Socket) => {
      track(socket);
      socket.resume();
      socket.on('end', () => socket.end()); // we close first: our side re-acks the server's FIN
    });
    const port = await listen(server);
    const shared = track(createSocket({ lingerTime: 1500 }) as unknown as { destroy(): unknown } & ReturnType<typeof createSocket>);
    open.delete(shared); // closed below, not destroyed
    const client = shared.connect(port, '127.0.0.1');
    client.resume();
    client.end(randomBytes(200_000));
    await once(client, 'close');
    // The client ended first, so the server's FIN came last: our side lingers to re-ack it.
    assert.equal(shared.endpoint.size, 1, 'the connection lingers after close');
    let sizeAtClose: number | undefined;
    shared.on('close', () => (sizeAtClose = shared.endpoint.size));
    shared.close();
    await once(shared, 'close');
    assert.equal(sizeAtClose, 0, 'the UDP socket closed with a connection still in its FIN exchange');
  });

  test('the pooled UDP socket stays open while a connection lingers, and closes after it', { timeout: 20_000 }, async () => {
    const server = createServer((socket: Socket) => {
      track(socket);
      socket.resume();
      socket.on('end', () => socket.end()); // the client closes first: it re-acks the server's FIN
    });
    const port = await listen(server);
    const client = track(connect(port, '127.0.0.1'));
    client.resume();
    client.end(randomBytes(100_000));
    await once(client, 'close');
    const localPort = client.localPort;
    assert.equal(typeof localPort, 'number');
    // The old code closed the pooled socket on the next setImmediate after the last socket went.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(client.localPort, localPort, 'the UDP socket is still open for the lingering connection');
    // It closes by itself once the linger (3 s by default) is over.
    await until(() => client.localPort === undefined);
  });

  test("a connection confirmed after server.close() is reset, not announced as 'connection'", { timeout: 20_000 }, async () => {
    const connections: Socket[] = [];
    const server = createServer((socket: Socket) => {
      connections.push(track(socket));
      socket.resume();
    });
    const port = await listen(server);
    // One open connection keeps the server's UDP socket open after close().
    const keeper = track(connect(port, '127.0.0.1'));
    keeper.resume();
    keeper.write('hello');
    await until(() => connections.length === 1);

    const raw = track(dgram.createSocket('udp4') as unknown as { destroy(): unknown } & dgram.Socket);
    open.delete(raw);
    raw.bind(0, '127.0.0.1');
    await once(raw, 'listening');
    const replies: ReturnType<typeof decodePacket>[] = [];
    raw.on('message', (data: Buffer) => replies.push(decodePacket(data)));
    const header = { connectionId: 0x4000, timestamp: 0, timestampDifference: 0, windowSize: MiB, ack: 0 };
    raw.send(encodePacket({ ...header, type: PacketType.Syn, seq: 100 }), port, '127.0.0.1');
    await until(() => replies.length === 1);
    const state = replies[0]!;
    assert.equal(state.type, PacketType.State);

    let closed = false;
    server.close(() => (closed = true));
    raw.send(encodePacket({ ...header, type: PacketType.State, connectionId: 0x4001, seq: 101, ack: (state.seq - 1) & 0xffff }), port, '127.0.0.1');
    await until(() => replies.length === 2);
    assert.equal(replies[1]!.type, PacketType.Reset);
    assert.equal(connections.length, 1, "no 'connection' after close()");
    raw.close();
    keeper.end(); // the server's last connection ends gracefully: close() completes
    await until(() => closed);
  });
});
