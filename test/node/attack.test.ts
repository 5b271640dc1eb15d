import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { connect, createSocket, type SharedSocket, type Socket } from '../../src/index.js';

/**
 * Attacks on the dgram driver over real loopback sockets: spoofed sources no normal socket can
 * produce, sends that throw, listeners that throw. Timing is never asserted.
 */

const isRoot = process.getuid?.() === 0;
const hasPython = spawnSync('python3', ['--version']).status === 0;
const rawSkip = !isRoot ? 'needs root for a raw socket (UDP source port 0 cannot be sent otherwise)' : !hasPython ? 'needs python3' : false;

/**
 * Sends one IPv4+UDP datagram with source port 0 from 127.0.0.1 through a raw socket
 * (IPPROTO_RAW implies IP_HDRINCL; the kernel fills in the IP checksum; a UDP checksum of 0
 * means none, which IPv4 allows). Node has no raw sockets, hence python3.
 */
function sendFromPortZero(port: number, payload: Uint8Array): void {
  const script = [
    'import socket, struct, sys',
    'dport = int(sys.argv[1]); payload = bytes.fromhex(sys.argv[2])',
    "udp = struct.pack('!HHHH', 0, dport, 8 + len(payload), 0) + payload",
    "lo = socket.inet_aton('127.0.0.1')",
    "ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, lo, lo)",
    's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
    "s.sendto(ip + udp, ('127.0.0.1', 0))",
  ].join('\n');
  execFileSync('python3', ['-c', script, String(port), Buffer.from(payload).toString('hex')]);
}

/** A bare µTP header (BEP 29): type/version, no extension, the given id, seq and ack. */
function utpHeader(type: number, connectionId: number, seq: number, ack: number): Buffer {
  const b = Buffer.alloc(20);
  b[0] = (type << 4) | 1;
  b.writeUInt16BE(connectionId, 2);
  b.writeUInt32BE(123456, 4);
  b.writeUInt32BE(1 << 20, 12);
  b.writeUInt16BE(seq, 16);
  b.writeUInt16BE(ack, 18);
  return b;
}
const SYN = 4;
const STATE = 2;

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function bind(shared: SharedSocket): Promise<number> {
  return new Promise((resolve) => shared.bind(0, '127.0.0.1', () => resolve(shared.address().port)));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** A real client connects, sends 200 kB and reads them back: the endpoint still serves. */
async function echoWorks(port: number): Promise<void> {
  const payload = randomBytes(200_000);
  const client = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  client.end(payload);
  await once(client, 'end');
  assert.equal(sha(Buffer.concat(chunks)), sha(payload));
}

function echoServer(): SharedSocket {
  const server = createSocket({ type: 'udp4' });
  server.on('connection', (socket: Socket) => socket.pipe(socket));
  return server;
}

const portZero = { address: '127.0.0.1', family: 'IPv4' as const, port: 0, size: 20 };

describe('spoofed sources', { timeout: 20_000 }, () => {
  test('raw socket: a SYN from source port 0 does not kill a listening socket', { skip: rawSkip }, async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    sendFromPortZero(port, utpHeader(SYN, 1000, 1, 0));
    await until(() => server.udpDriver.counters.invalidSources === 1);
    assert.equal(server.endpoint.size, 0, 'no state was made for the spoofed SYN');
    await echoWorks(port);
    server.close();
  });

  test('raw socket: a STATE from source port 0 does not kill a bound socket (no RESET to port 0)', { skip: rawSkip }, async () => {
    const shared = createSocket({ type: 'udp4' });
    const port = await bind(shared);
    sendFromPortZero(port, utpHeader(STATE, 1000, 1, 1));
    await until(() => shared.udpDriver.counters.invalidSources === 1);
    assert.equal(shared.endpoint.counters.resetsSent, 0);
    // The same socket still talks µTP: it connects out to a server.
    const server = echoServer();
    const serverPort = await bind(server);
    server.listen();
    const client = shared.connect(serverPort, '127.0.0.1');
    await once(client, 'connect');
    client.destroy();
    server.close();
    shared.close();
  });

  test('driver: unanswerable sources (port 0, multicast, broadcast, unspecified) are dropped before any state', async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    const driver = server.udpDriver;
    const sources: dgram.RemoteInfo[] = [
      portZero,
      { ...portZero, port: 65536 },
      { ...portZero, address: '224.0.0.1', port: 6881 },
      { ...portZero, address: '255.255.255.255', port: 6881 },
      { ...portZero, address: '0.0.0.0', port: 6881 },
      { ...portZero, address: 'ff02::1', family: 'IPv6', port: 6881 },
      { ...portZero, address: '::', family: 'IPv6', port: 6881 },
      { ...portZero, address: '::ffff:224.0.0.1', family: 'IPv6', port: 6881 },
    ];
    // A valid source first (the driver remembers the last valid address): port 0 from that same
    // address must still be refused, and an invalid address must be refused again the second time.
    const valid = { ...portZero, port: 6881 };
    driver.onMessage(Buffer.from('d1:q4:ping'), valid);
    for (const rinfo of sources) {
      driver.onMessage(utpHeader(SYN, 1000, 1, 0), rinfo);
      driver.onMessage(utpHeader(STATE, 1000, 1, 1), rinfo);
    }
    assert.equal(driver.counters.invalidSources, 2 * sources.length);
    assert.equal(server.endpoint.size, 0);
    // Let a flush run: nothing was queued, nothing throws.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(driver.counters.sendThrows, 0);
    await echoWorks(port);
    server.close();
  });
});

describe('sends that fail or throw', { timeout: 20_000 }, () => {
  test('a send that throws synchronously is caught and counted; the datagram is retransmitted later', async () => {
    const server = echoServer();
    const port = await bind(server);
    server.listen();
    let thrown = 0;
    const client = createSocket({
      type: 'udp4',
      udpSend: (socket, data, toPort, address, callback) => {
        // The first DATA datagram: throw as dgram's argument checks do.
        if (thrown === 0 && data.length > 20 && data[0]! >> 4 === 0) {
          thrown++;
          throw Object.assign(new Error('injected'), { code: 'ERR_SOCKET_BAD_PORT' });
        }
        socket.send(data, toPort, address, callback);
      },
    });
    await bind(client);
    const payload = randomBytes(100_000);
    const socket = client.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.end(payload);
    await once(socket, 'end');
    assert.equal(sha(Buffer.concat(chunks)), sha(payload));
    assert.equal(thrown, 1);
    assert.equal(client.udpDriver.counters.sendThrows, 1);
    client.close();
    server.close();
  });
});

describe('application listeners that throw', { timeout: 20_000 }, () => {
  test("a throwing 'connection' listener propagates; the events after it and later clients are still served", () => {
    // In a child process: the exception must reach the process as an uncaught exception (as from
    // any emitter), and after it the same server must still accept and echo.
    const index = new URL('../../src/index.js', import.meta.url).href;
    const script = `
      import { createHash, randomBytes } from 'node:crypto';
      import { once } from 'node:events';
      import { connect, createSocket } from ${JSON.stringify(index)};
      let thrown = 0;
      process.on('uncaughtException', (error) => { if (error.message === 'listener bug') thrown++; else throw error; });
      const server = createSocket({ type: 'udp4' });
      let first = true;
      server.on('connection', (socket) => {
        if (first) { first = false; socket.destroy(); throw new Error('listener bug'); }
        socket.pipe(socket);
      });
      server.bind(0, '127.0.0.1', async () => {
        server.listen();
        const port = server.address().port;
        // Two clients in the same tick: their confirmations reach the server in one burst, so
        // both 'connection' events are dispatched by one flush and the first one throws. The
        // second must still be delivered, and the server keep serving afterwards.
        const payload = randomBytes(100000);
        const digest = createHash('sha1').update(payload).digest('hex');
        const run = () => new Promise((resolve) => {
          const c = connect(port, '127.0.0.1');
          const chunks = [];
          c.on('data', (d) => chunks.push(d));
          c.on('error', () => resolve(false));
          c.on('end', () => resolve(createHash('sha1').update(Buffer.concat(chunks)).digest('hex') === digest));
          c.end(payload);
        });
        const pair = await Promise.all([run(), run()]);
        const after = await run();
        console.log(JSON.stringify({ thrown, pairOk: pair.filter(Boolean).length, after }));
        server.close();
      });
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout.trim()), { thrown: 1, pairOk: 1, after: true });
  });
});
