import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { createSocket, type SharedSocket, type Socket } from '../../src/index.js';
import type { SendFunction } from '../../src/node/udp-driver.js';

/**
 * Send errors on real loopback sockets. Loopback's 64 KiB MTU never refuses a µTP datagram, so
 * failures are injected through the driver's documented `udpSend` seam, which keeps dgram's
 * contract: one callback per datagram, asynchronous, in send order.
 */

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function bind(shared: SharedSocket): Promise<number> {
  return new Promise((resolve) => shared.bind(0, '127.0.0.1', () => resolve(shared.address().port)));
}

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`send ${code}`), { code, syscall: 'send' });
}

/**
 * A send function that refuses the datagrams `refuse` names (returning an errno code), really
 * sends the others, and calls every callback back in send order (a refused datagram's callback
 * waits for the real sends before it, as dgram's would).
 */
function failingSend(refuse: (size: number, port: number) => string | undefined): SendFunction & { refused: number } {
  const slots: { done: boolean; error: Error | null; callback: (error: Error | null) => void }[] = [];
  const drain = (): void => {
    while (slots.length > 0 && slots[0]!.done) {
      const slot = slots.shift()!;
      slot.callback(slot.error);
    }
  };
  const send = ((socket, data, port, address, callback) => {
    const size = data.length;
    const code = refuse(size, port);
    const slot = { done: false, error: null as Error | null, callback };
    slots.push(slot);
    if (code !== undefined) {
      send.refused++;
      process.nextTick(() => {
        slot.done = true;
        slot.error = errnoError(code);
        drain();
      });
      return;
    }
    socket.send(data, port, address, (error) => {
      slot.done = true;
      slot.error = error;
      drain();
    });
  }) as SendFunction & { refused: number };
  send.refused = 0;
  return send;
}

/** Echoes; close() destroys what it accepted (a peer whose sends fail never says goodbye). */
function echoServer(): SharedSocket {
  const server = createSocket({ type: 'udp4' });
  const accepted = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    accepted.add(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  const close = server.close.bind(server);
  server.close = (callback?: () => void) => {
    for (const socket of accepted) socket.destroy();
    return close(callback);
  };
  return server;
}

async function echoThrough(socket: Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(payload);
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

describe('dgram calls send callbacks back in send order', { timeout: 20_000 }, () => {
  test('5000 sends, every 97th refused with EMSGSIZE by the kernel, complete in order', async () => {
    // The driver attributes errors with one shared callback and a FIFO of records: this is the
    // property it relies on (sync completions go through nextTick only while libuv's send queue
    // is empty; queued sends complete in order).
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const order: number[] = [];
    const errors: number[] = [];
    const n = 5000;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) {
        const data = Buffer.alloc(i % 97 === 0 ? 70_000 : 1400);
        socket.send(data, port, '127.0.0.1', (error) => {
          order.push(i);
          if (error) errors.push(i);
          if (order.length === n) resolve();
        });
      }
    });
    socket.close();
    assert.deepEqual(order, Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(errors, Array.from({ length: Math.ceil(n / 97) }, (_, i) => i * 97));
  });
});

describe('EMSGSIZE lowers the packet size instead of timing out', { timeout: 30_000 }, () => {
  for (const [limit, expected, steps] of [
    [1300, 1280, 1],
    [700, 576, 4],
  ] as const) {
    test(`a path that refuses datagrams over ${limit} bytes: the transfer completes at ${expected}`, async () => {
      const server = echoServer();
      const port = await bind(server);
      server.listen();
      const send = failingSend((size) => (size > limit ? 'EMSGSIZE' : undefined));
      const client = createSocket({ type: 'udp4', udpSend: send });
      await bind(client);
      const socket = client.connect(port, '127.0.0.1');
      const payload = randomBytes(300_000);
      const echoed = await echoThrough(socket, payload);
      assert.equal(sha(echoed), sha(payload));
      const stats = socket.stats()!;
      assert.equal(stats.packetSize, expected);
      assert.equal(stats.packetSizeReductions, steps);
      assert.ok(stats.sendErrors >= steps);
      assert.ok(send.refused >= steps);
      client.close();
      server.close();
    });
  }

  test('refused packets that cannot be renumbered (a later small one went through) end with EMSGSIZE, never corrupt', async (t) => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    const client = createSocket({ type: 'udp4', udpSend: failingSend((size) => (size > 1300 ? 'EMSGSIZE' : undefined)) });
    await bind(client);
    const socket = client.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    // Two full packets (refused) and a small one (passes) in one flush: the small one holds the
    // seq_nr that a re-split of the first two would need.
    const payload = randomBytes(2 * 1380 + 40);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const outcome = new Promise<string>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'none'));
      socket.on('end', () => resolve(sha(Buffer.concat(chunks)) === sha(payload) ? 'intact' : 'corrupt'));
    });
    socket.end(payload);
    const result = await outcome;
    t.diagnostic(result);
    assert.ok(result === 'EMSGSIZE' || result === 'intact', result);
    client.close();
    server.close();
  });

  test('EMSGSIZE at the floor is an error with that code, not ETIMEDOUT', async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    // Everything but the bare 20-byte headers (SYN, STATE) is refused.
    const client = createSocket({ type: 'udp4', udpSend: failingSend((size) => (size > 20 ? 'EMSGSIZE' : undefined)) });
    await bind(client);
    const socket = client.connect(port, '127.0.0.1');
    socket.write(Buffer.alloc(100));
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'EMSGSIZE');
    client.close();
    server.close();
  });
});

describe('persistent send errors reach the socket with their code', { timeout: 30_000 }, () => {
  test('EHOSTUNREACH on every SYN: connect fails with EHOSTUNREACH', async () => {
    const client = createSocket({ type: 'udp4', udpSend: failingSend(() => 'EHOSTUNREACH') });
    await bind(client);
    const socket = client.connect(9, '127.0.0.1');
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'EHOSTUNREACH');
    assert.equal(client.udpDriver.counters.sendErrors >= 2, true);
    client.close();
  });

  test('ENETUNREACH once connected: the transfer fails with ENETUNREACH', async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    let broken = false;
    const client = createSocket({ type: 'udp4', udpSend: failingSend(() => (broken ? 'ENETUNREACH' : undefined)) });
    await bind(client);
    const socket = client.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    broken = true;
    socket.write(randomBytes(50_000));
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ENETUNREACH');
    client.close();
    server.close();
  });

  test('transient ENOBUFS is only counted: the transfer completes', async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    let n = 0;
    const client = createSocket({ type: 'udp4', udpSend: failingSend(() => (++n % 10 === 5 ? 'ENOBUFS' : undefined)) });
    await bind(client);
    const socket = client.connect(port, '127.0.0.1');
    const payload = randomBytes(200_000);
    assert.equal(sha(await echoThrough(socket, payload)), sha(payload));
    assert.ok(socket.stats()!.sendErrors > 0);
    client.close();
    server.close();
  });
});
