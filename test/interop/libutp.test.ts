// Interop with libutp (the reference uTP implementation) through utp-native,
// both peers in this process on 127.0.0.1 (utp-native has no IPv6).
//
// Each test moves 16 MiB each way and checks it by SHA-256. The exchange uses
// known lengths instead of half-close (end() after the upload), because FIN
// semantics differ between stacks and a bulk-data bug should not hide behind
// a close bug; a graceful close is checked separately at the end.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import utp from 'utp-native';
import * as microtp from '../../src/index.js';

const SIZE = 16 * 1024 * 1024;
const CHUNK = 64 * 1024;
const DEADLINE_MS = 60_000;
const HOST = '127.0.0.1';

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

const UP = prngBytes(0x1badb002, SIZE); // client -> server
const DOWN = prngBytes(0xdeadbeef, SIZE); // server -> client
const UP_SHA = sha256(UP);
const DOWN_SHA = sha256(DOWN);

/** Writes data in CHUNK pieces, honouring backpressure (write() false -> 'drain'). */
async function sendAll(sock: Duplex, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += CHUNK) {
    if (!sock.write(data.subarray(off, off + CHUNK))) await once(sock, 'drain');
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

/** The server half of the exchange: hash the upload, then send DOWN. */
async function serve(conn: Duplex): Promise<void> {
  assert.equal(await receive(conn, SIZE, 'server'), UP_SHA, 'upload SHA-256 mismatch at server');
  await sendAll(conn, DOWN);
}

/** The client half: upload UP, then hash the download. */
async function exchange(client: Duplex): Promise<void> {
  const download = receive(client, SIZE, 'client'); // listen before the server can answer
  await sendAll(client, UP);
  assert.equal(await download, DOWN_SHA, 'download SHA-256 mismatch at client');
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
 * One full interop run: listen, connect, exchange 16 MiB each way, close
 * gracefully. Bounded by DEADLINE_MS, after which (or on any failure) every
 * socket is destroyed so the test fails with a message instead of hanging.
 */
async function interop(listen: Listen, connect: (port: number) => Duplex): Promise<void> {
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
        serve(conn).then(() => resolve(conn), reject);
      };
    });
    server = await listen(onConnection, onError);

    const client = connect(server.port);
    opened.push(client);
    await once(client, 'connect');
    const [conn] = await Promise.all([served, exchange(client)]);
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

test('microtp client <-> utp-native (libutp) server: 16 MiB each way, SHA-256 verified', { timeout: TEST_TIMEOUT }, async () => {
  await interop(
    async (onConnection, onError) => {
      const server = utp.createServer(onConnection).on('error', onError);
      await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
      return { port: server.address().port, close: () => new Promise((resolve) => server.close(() => resolve())) };
    },
    (port) => microtp.connect(port, HOST),
  );
});

test('utp-native (libutp) client <-> microtp server: 16 MiB each way, SHA-256 verified', { timeout: TEST_TIMEOUT }, async () => {
  await interop(
    async (onConnection, onError) => {
      const server = microtp.createServer({}, onConnection).on('error', onError);
      await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
      const address = server.address();
      assert.ok(address && typeof address === 'object', 'microtp server.address() after listen');
      return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) };
    },
    (port) => utp.connect(port, HOST),
  );
});
