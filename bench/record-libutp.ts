/**
 * Records a real µTP session between microtp and libutp (utp-native) on loopback, for the
 * mutation fuzzer's corpus. Not a test: run it by hand after `npm run build:all`:
 *
 *     node build/bench/record-libutp.js > test/fixtures/libutp-session.hex
 *
 * A UDP relay in this process sits between the two and records both directions: session 1,
 * microtp connects to a libutp server, sends 60 kB, libutp answers 30 kB, both end; session 2,
 * libutp connects to a microtp server and the same exchange runs the other way, then libutp
 * destroys the connection. The relay drops every ninth DATA datagram (after recording it) so both
 * stacks send selective ACKs and retransmit. Lines are "<direction> <hex>"; payloads are cut to 48
 * bytes to keep the fixture small (headers and extensions are what the fuzzer mutates).
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import utp from 'utp-native';
import * as microtp from '../src/index.js';
import { decodePacket } from '../src/protocol/packet.js';

const HOST = '127.0.0.1';
const MAX_LINES = 300;
const lines: string[] = [];

/** A relay on its own port: whatever the client sends goes to `target`, replies go back to the client. */
async function relay(target: number, tag: string): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  let client: AddressInfo | undefined;
  let dataSeen = 0;
  sock.on('message', (msg, from) => {
    const fromTarget = from.port === target;
    if (!fromTarget) client = { address: from.address, port: from.port, family: 'IPv4' };
    const p = decodePacket(msg);
    const headerLen = p ? msg.length - p.payload.length : msg.length;
    const kept = msg.subarray(0, Math.min(msg.length, headerLen + 48));
    if (lines.length < MAX_LINES) lines.push(`${tag}${fromTarget ? '<' : '>'} ${kept.toString('hex')}`);
    // Lose some DATA on the way (recorded, not forwarded) so both stacks send SACKs and resends.
    if (p?.type === 0 && ++dataSeen % 9 === 4) return;
    if (fromTarget) {
      if (client) sock.send(msg, client.port, client.address);
    } else sock.send(msg, target, HOST);
  });
  sock.bind(0, HOST);
  await once(sock, 'listening');
  return { port: sock.address().port, close: () => sock.close() };
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Resolves once `n` bytes arrived (without ending the stream, which a for-await break would). */
function readAll(s: NodeJS.ReadableStream, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    s.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= n) resolve();
    });
    s.on('error', reject);
    s.on('end', () => resolve());
  });
}

async function session1(): Promise<void> {
  // microtp client -> relay -> libutp server.
  const server = utp.createServer((conn) => {
    conn.on('error', () => {}); // our RESET at the end
    void readAll(conn, 60_000).then(() => conn.end(bytes(30_000, 2))).catch(() => {});
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const r = await relay(server.address().port, 'm');
  const client = microtp.connect(r.port, HOST);
  client.on('error', () => {});
  await once(client, 'connect');
  client.write(bytes(60_000, 1));
  await readAll(client, 30_000).catch(() => {});
  client.end();
  await new Promise((resolve) => setTimeout(resolve, 300));
  client.destroy();
  server.close();
  r.close();
}

async function session2(): Promise<void> {
  // libutp client -> relay -> microtp server; libutp destroys at the end.
  const server = microtp.createServer((sock) => {
    sock.on('error', () => {}); // libutp's RESET at the end
    void readAll(sock, 60_000).then(() => sock.write(bytes(30_000, 4))).catch(() => {});
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const r = await relay((server.address() as AddressInfo).port, 'l');
  const conn = utp.connect(r.port, HOST);
  conn.on('error', () => {});
  await once(conn, 'connect');
  conn.write(bytes(60_000, 3));
  await readAll(conn, 30_000).catch(() => {});
  conn.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));
  server.close();
  r.close();
}

await session1();
await session2();
console.log('# microtp <-> libutp (utp-native) on loopback, recorded by bench/record-libutp.ts.');
console.log('# m: microtp client (>) and libutp server (<); l: libutp client (>) and microtp server (<).');
console.log('# Payloads cut to 48 bytes. Format: <session><direction> <datagram hex>.');
for (const line of lines) console.log(line);
process.exit(0);
