/**
 * The qlog writer on real loopback sockets: one file per connection with a qlog header and one
 * JSON record per line, switched on by the `qlog` option or MICROTP_QLOG (read when the socket
 * is created), off with `qlog: false`; a directory it cannot write to costs a warning, never the
 * transfer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect, createServer, type Socket } from '../../src/index.js';
import type { ConnectOptions, ServerOptions } from '../../src/index.js';
import { encodeHeader, PacketType } from '../../src/protocol/packet.js';

const root = mkdtempSync(join(tmpdir(), 'microtp-qlog-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${++dirs}`);

/** A 200 kB transfer client -> server, both ends closed; resolves once both sockets closed. */
async function transfer(serverOptions: ServerOptions, clientOptions: Omit<ConnectOptions, 'port' | 'host'>): Promise<void> {
  const payload = Buffer.alloc(200_000, 7);
  let received = 0;
  let serverSocket: Socket | undefined;
  const server = createServer(serverOptions, (socket) => {
    serverSocket = socket;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.on('end', () => socket.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = connect({ port, host: '127.0.0.1', ...clientOptions });
  client.resume();
  client.end(payload);
  await once(client, 'close');
  if (serverSocket && !serverSocket.destroyed) await once(serverSocket, 'close');
  server.close();
  await once(server, 'close');
  assert.equal(received, payload.length);
}

/** The records of a JSON-SEQ file: RS-prefixed, each a JSON text on its own line. */
function records(path: string): Record<string, unknown>[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  return lines.map((line) => {
    assert.equal(line[0], '\x1e', 'each record starts with RS (RFC 7464)');
    return JSON.parse(line.slice(1)) as Record<string, unknown>;
  });
}

/** Waits until `dir` holds `count` files whose last record is the closed state (files close with their connection). */
async function closedTraces(dir: string, count: number): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    let files: string[] = [];
    try {
      files = readdirSync(dir).map((f) => join(dir, f));
    } catch {
      // not created yet
    }
    const done = files.filter((f) => {
      const r = records(f);
      const last = r[r.length - 1] as { name?: string; data?: { new?: string } };
      return last.name === 'utp:connection_state_updated' && last.data?.new === 'closed';
    });
    if (done.length >= count) return done;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`no ${count} closed trace(s) in ${dir}: ${readdirSync(dir).join(', ')}`);
}

function checkTrace(path: string, role: 'client' | 'server'): void {
  const [header, ...events] = records(path);
  assert.equal(header!.qlog_version, '0.3');
  assert.equal(header!.qlog_format, 'JSON-SEQ');
  const trace = header!.trace as { common_fields: Record<string, unknown>; vantage_point: { type: string } };
  assert.equal(trace.vantage_point.type, role);
  assert.equal(trace.common_fields.time_format, 'relative');
  assert.equal(typeof trace.common_fields.reference_time, 'number');
  assert.equal(trace.common_fields.remote_address, '127.0.0.1');
  assert.ok(path.includes(`_${role}_`), 'the file name says the role');
  let previous = 0;
  const names = new Set<string>();
  for (const e of events as { time: number; name: string; data: object }[]) {
    assert.equal(typeof e.time, 'number');
    assert.ok(e.time >= previous, 'times do not go back');
    previous = e.time;
    assert.match(e.name, /^utp:[a-z_]+$/);
    assert.equal(typeof e.data, 'object');
    names.add(e.name);
  }
  for (const name of ['utp:connection_state_updated', 'utp:packet_sent', 'utp:packet_received']) assert.ok(names.has(name), name);
  const typed = events as { name: string; data: Record<string, unknown> }[];
  const sent = typed.find((e) => e.name === 'utp:packet_sent')!.data;
  assert.deepEqual(Object.keys(sent), ['header', 'raw', 'resend']);
  assert.deepEqual(Object.keys(sent.header as object), ['packet_type', 'seq_nr', 'ack_nr', 'wnd_size', 'timestamp_difference_us']);
  assert.equal((sent.header as { packet_type: string }).packet_type, role === 'client' ? 'syn' : 'state');
  assert.deepEqual(Object.keys(sent.raw as object), ['length', 'payload_length']);
  assert.equal(typeof typed.find((e) => e.name === 'utp:packet_received')!.data.verdict, 'string');
  if (role === 'client') {
    const metrics = typed.find((e) => e.name === 'utp:metrics_updated');
    assert.ok(metrics, 'the sender reports its congestion state');
    assert.deepEqual(Object.keys(metrics.data).sort(), ['base_delay', 'bytes_in_flight', 'cwnd', 'latest_rtt', 'peer_window', 'queuing_delay', 'rto', 'rtt_variance', 'slow_start', 'smoothed_rtt', 'target_delay']);
    assert.equal(metrics.data.target_delay, 100);
  }
}

describe('qlog writer', () => {
  test('the qlog option writes one file per connection on each side', async () => {
    const serverDir = freshDir();
    const clientDir = freshDir();
    await transfer({ qlog: serverDir }, { qlog: clientDir });
    const [clientFile] = await closedTraces(clientDir, 1);
    const [serverFile] = await closedTraces(serverDir, 1);
    assert.equal(readdirSync(clientDir).length, 1);
    assert.equal(readdirSync(serverDir).length, 1);
    checkTrace(clientFile!, 'client');
    checkTrace(serverFile!, 'server');
  });

  test('MICROTP_QLOG is read when a socket is created (after import); qlog: false overrides it', async () => {
    const envDir = freshDir();
    process.env.MICROTP_QLOG = envDir;
    try {
      // allowHalfOpen gives the client a socket of its own, created now (not a pooled one).
      await transfer({}, { allowHalfOpen: false });
      const files = await closedTraces(envDir, 2);
      assert.equal(files.length, 2);
      assert.ok(files.some((f) => f.includes('_client_')) && files.some((f) => f.includes('_server_')));
      const offDir = envDir;
      const before = readdirSync(offDir).length;
      await transfer({ qlog: false }, { qlog: false });
      assert.equal(readdirSync(offDir).length, before, 'qlog: false wrote nothing');
    } finally {
      delete process.env.MICROTP_QLOG;
    }
  });

  test('a directory that cannot be written costs one warning, not the transfer', async () => {
    const file = join(root, 'not-a-directory');
    writeFileSync(file, '');
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      await transfer({ qlog: join(file, 'sub') }, { qlog: join(file, 'sub') });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'MICROTP_QLOG');
    assert.equal(ours.length, 1, 'one warning for the directory');
    assert.match(ours[0]!.message, /cannot write qlog traces/);
  });

  test('an accepted connection gets a file only once the initiator confirms it (a spoofed SYN leaves none)', async () => {
    const dir = freshDir();
    const server = createServer({ qlog: dir });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const udp = dgram.createSocket('udp4');
    const syn = encodeHeader({ type: PacketType.Syn, connectionId: 1000, timestamp: 0, timestampDifference: 0, windowSize: 65536, seq: 500, ack: 0 });
    udp.send(syn, port, '127.0.0.1');
    const [reply] = (await once(udp, 'message')) as [Buffer];
    assert.equal(reply[0]! >> 4, PacketType.State, 'the SYN was answered');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], 'no file for an unconfirmed connection');
    udp.close();
    server.close();
  });

  test('a qlog option that is not a directory name is refused with a code', () => {
    assert.throws(() => createServer({ qlog: 42 as unknown as string }).listen(0), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => connect({ port: 1, qlog: '' }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
