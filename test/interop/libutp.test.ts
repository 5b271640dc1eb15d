// Interop with libutp (the reference uTP implementation) through utp-native,
// both peers in this process on 127.0.0.1 (utp-native has no IPv6).
//
// Each test moves data both ways and checks it by SHA-256. The exchange uses
// known lengths instead of half-close (end() after the upload), because FIN
// semantics differ between stacks and a bulk-data bug should not hide behind
// a close bug; a graceful close is checked separately at the end.
//
// libutp's UDP socket gets 1 MiB kernel buffers for the 16 MiB tests. With the
// default ~208 KiB its receive buffer overflows when microtp sends a full
// window while libutp (same thread) cannot read, and the transfer then crawls
// on 500 ms retransmission timeouts (~0.7 MiB/s). That lossy path is kept as
// a smaller third test, so loss recovery against libutp is still exercised.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import utp from 'utp-native';
import * as microtp from '../../src/index.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const DEADLINE_MS = 60_000;
const HOST = '127.0.0.1';
const LIBUTP_SOCKBUF = MiB;

/** Deterministic bytes from a xorshift32 PRNG: fast, reproducible, not compressible. */
function prngBytes(seed: number, size: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

const UP = prngBytes(0x1badb002, 16 * MiB); // client -> server
const DOWN = prngBytes(0xdeadbeef, 16 * MiB); // server -> client

/** What one test sends each way, with the digests the receivers must match. */
interface Payload {
  size: number;
  up: Buffer;
  down: Buffer;
  upSha: string;
  downSha: string;
}

function payload(size: number): Payload {
  const up = UP.subarray(0, size);
  const down = DOWN.subarray(0, size);
  return { size, up, down, upSha: sha256(up), downSha: sha256(down) };
}

/** Gives a utp-native socket 1 MiB kernel buffers; it must already be bound. */
function tune(sock: utp.UTP): void {
  sock.setRecvBufferSize(LIBUTP_SOCKBUF);
  sock.setSendBufferSize(LIBUTP_SOCKBUF);
}

/** Writes data in CHUNK pieces, honouring backpressure (write() false -> 'drain'). */
async function sendAll(sock: Duplex, data: Buffer, who: string): Promise<void> {
  for (let off = 0; off < data.length; off += CHUNK) {
    if (sock.write(data.subarray(off, off + CHUNK))) continue;
    // Wait for 'drain', but fail fast (not at the deadline) if the socket dies.
    const ac = new AbortController();
    const event = await Promise.race([
      once(sock, 'drain', { signal: ac.signal }).then(() => 'drain'),
      once(sock, 'close', { signal: ac.signal }).then(() => 'close'),
    ]).finally(() => ac.abort());
    if (event === 'close') throw new Error(`${who}: socket closed after writing ${off + CHUNK} of ${data.length} bytes`);
  }
}

/** Hashes exactly `size` incoming bytes; rejects on error, early end/close or overrun. */
function receive(sock: Duplex, size: number, who: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let got = 0;
    const cleanup = (): void => {
      sock.off('data', onData).off('error', onError).off('end', onEarly).off('close', onEarly);
    };
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got > size) {
        cleanup();
        reject(new Error(`${who}: received ${got} bytes, expected ${size}`));
        return;
      }
      hash.update(chunk);
      if (got === size) {
        cleanup();
        resolve(hash.digest('hex'));
      }
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onEarly = (): void => {
      cleanup();
      reject(new Error(`${who}: stream ended after ${got} of ${size} bytes`));
    };
    sock.on('data', onData).on('error', onError).on('end', onEarly).on('close', onEarly);
  });
}

/** The server half of the exchange: hash the upload, then send the download. */
async function serve(conn: Duplex, p: Payload): Promise<void> {
  assert.equal(await receive(conn, p.size, 'server'), p.upSha, 'upload SHA-256 mismatch at server');
  await sendAll(conn, p.down, 'server');
}

/** The client half: upload, then hash the download. */
async function exchange(client: Duplex, p: Payload): Promise<void> {
  const download = receive(client, p.size, 'client'); // listen before the server can answer
  download.catch(() => {}); // still awaited below; this only stops an early unhandled rejection
  await sendAll(client, p.up, 'client');
  assert.equal(await download, p.downSha, 'download SHA-256 mismatch at client');
}

/** Graceful close: the client ends, the server ends on 'end', both must 'close'. */
async function closeBoth(client: Duplex, conn: Duplex): Promise<void> {
  conn.on('end', () => conn.end());
  const closed = Promise.all([once(client, 'close'), once(conn, 'close')]);
  client.end();
  await closed;
}

interface Listening {
  port: number;
  close(): Promise<void>;
}
type Listen = (onConnection: (conn: Duplex) => void, onError: (err: Error) => void) => Promise<Listening>;

/**
 * One full interop run: listen, connect, exchange `size` bytes each way,
 * close gracefully. Bounded by DEADLINE_MS, after which (or on any failure) every
 * socket is destroyed so the test fails with a message instead of hanging.
 */
async function interop(size: number, listen: Listen, connect: (port: number) => Duplex): Promise<void> {
  const p = payload(size);
  const opened: Duplex[] = [];
  let server: Listening | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });

  const run = async (): Promise<void> => {
    let onConnection!: (conn: Duplex) => void;
    let onError!: (err: Error) => void;
    const served = new Promise<Duplex>((resolve, reject) => {
      onError = reject;
      onConnection = (conn) => {
        opened.push(conn);
        serve(conn, p).then(() => resolve(conn), reject);
      };
    });
    served.catch(() => {}); // awaited below; avoids an unhandled rejection meanwhile
    server = await listen(onConnection, onError);

    const client = connect(server.port);
    opened.push(client);
    await once(client, 'connect');
    const [conn] = await Promise.all([served, exchange(client, p)]);
    await closeBoth(client, conn);
  };

  try {
    await Promise.race([run(), deadline]);
  } finally {
    clearTimeout(timer);
    for (const s of opened) s.destroy();
    // Bounded too: utp-native's close() waits for its connections to go away.
    if (server) await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

const TEST_TIMEOUT = DEADLINE_MS + 10_000; // node:test backstop; interop() gives the real message

/** A utp-native (libutp) server, optionally with 1 MiB socket buffers. */
function libutpServer(tuned: boolean): Listen {
  return async (onConnection, onError) => {
    const server = utp.createServer(onConnection).on('error', onError);
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    if (tuned) tune(server);
    return { port: server.address().port, close: () => new Promise((resolve) => server.close(() => resolve())) };
  };
}

const microtpServer: Listen = async (onConnection, onError) => {
  const server = microtp.createServer({}, onConnection).on('error', onError);
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  const address = server.address();
  assert.ok(address && typeof address === 'object', 'microtp server.address() after listen');
  return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) };
};

test('microtp client <-> utp-native (libutp) server: 16 MiB each way, SHA-256 verified', { timeout: TEST_TIMEOUT }, async () => {
  await interop(16 * MiB, libutpServer(true), (port) => microtp.connect(port, HOST));
});

test('utp-native (libutp) client <-> microtp server: 16 MiB each way, SHA-256 verified', { timeout: TEST_TIMEOUT }, async () => {
  await interop(16 * MiB, microtpServer, (port) => {
    const client = utp.connect(port, HOST);
    tune(client._utp); // connect() has bound its one-off socket already
    return client;
  });
});

test('microtp client <-> libutp server on default socket buffers (lossy, recovers): 4 MiB each way', { timeout: TEST_TIMEOUT }, async () => {
  await interop(4 * MiB, libutpServer(false), (port) => microtp.connect(port, HOST));
});
