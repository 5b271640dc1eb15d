// Interop with libtorrent-rasterbar (python bindings) over uTP: a real
// BitTorrent transfer in both directions, verified by hash.
//
// test/interop/lt_peer.py is the libtorrent side; test/interop/bt-wire.ts is a
// minimal BitTorrent peer running over a microtp Socket.
//
// Env knobs (debugging only):
//   MICROTP_INTEROP_TRANSPORT=tcp  run the same tests over node:net + libtorrent
//                                  TCP, to tell BitTorrent bugs from uTP bugs.
//   MICROTP_INTEROP_DEBUG=1        echo libtorrent alerts and wire logs to stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as utp from '../../src/index.js';
import { startJsonChild, type JsonChild } from '../helpers/json-child.js';
import { download, seed, sha1Hex, sha256Hex, type Seeder, type TorrentMeta } from './bt-wire.js';

const PYTHON = '/usr/bin/python3';
const HOST = '127.0.0.1';
const TIMEOUT_MS = 60_000;
const USE_TCP = process.env['MICROTP_INTEROP_TRANSPORT'] === 'tcp';
const DEBUG = !!process.env['MICROTP_INTEROP_DEBUG'];
// Compiled to build/test/interop/; the script is not copied, so point at the source.
const LT_PEER = fileURLToPath(new URL('../../../test/interop/lt_peer.py', import.meta.url));

const hasLibtorrent = spawnSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0;
const T0 = Date.now();
const log = DEBUG ? (msg: string) => process.stderr.write(`[bt-wire ${((Date.now() - T0) / 1000).toFixed(3)}] ${msg}\n`) : undefined;
const wireOpts = log ? { log } : {};

// --- transport: microtp (uTP), or node:net when debugging ---------------------

function connect(port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket: Duplex = USE_TCP ? net.connect(port, HOST) : utp.connect(port, HOST);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

// The structural slice of net.Server / microtp Server that we use.
interface ServerLike {
  listen(port: number, host: string, cb: () => void): unknown;
  address(): net.AddressInfo | string | null;
  close(cb: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

interface Listener {
  port: number;
  close(): Promise<void>;
}

function listen(onConnection: (socket: Duplex) => void): Promise<Listener> {
  const sockets = new Set<Duplex>();
  const handler = (socket: Duplex): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  };
  const server: ServerLike = USE_TCP ? net.createServer(handler) : utp.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const addr = server.address();
      assert.ok(addr && typeof addr === 'object', 'server.address() should be an object');
      resolve({
        port: addr.port,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}

// --- the python/libtorrent child --------------------------------------------

function startLtPeer(args: string[]): JsonChild {
  return startJsonChild('lt_peer.py', PYTHON, [LT_PEER, ...args, ...(USE_TCP ? ['--tcp'] : [])], { echoStderr: DEBUG });
}

/** Reject after `ms` so cleanup in `finally` always runs before node:test's own timeout. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string, lt?: JsonChild): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} timed out after ${ms} ms${lt ? `; libtorrent stderr:\n${lt.stderrTail()}` : ''}`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface SeedReady extends TorrentMeta {
  event: 'ready';
  port: number;
  sha256: string;
}

interface DownloadTorrent extends TorrentMeta {
  event: 'torrent';
}

interface DownloadDone {
  event: 'done';
  ok: boolean;
  sha256?: string;
  error?: string;
}

const transportName = USE_TCP ? 'TCP' : 'uTP';

test(`downloads a multi-piece torrent from a libtorrent seed over ${transportName}`, { timeout: TIMEOUT_MS + 30_000 }, async (t) => {
  if (!hasLibtorrent) {
    t.skip('python3-libtorrent not installed');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'microtp-lt-seed-'));
  const lt = startLtPeer(['seed', dir]);
  let socket: Duplex | undefined;
  try {
    const meta = await withTimeout(lt.next<SeedReady>(), 15_000, 'libtorrent seed startup', lt);
    assert.equal(meta.event, 'ready');
    assert.ok(meta.pieceHashes.length > 8, 'torrent should have many pieces');

    socket = await withTimeout(connect(meta.port), 10_000, `connect to libtorrent at ${HOST}:${meta.port}`, lt);
    const data = await withTimeout(download(socket, meta, wireOpts), TIMEOUT_MS, 'download from libtorrent', lt);

    assert.equal(data.length, meta.length);
    assert.equal(sha256Hex(data), meta.sha256, 'downloaded file must match libtorrent seed');
  } finally {
    socket?.destroy();
    lt.child.stdin!.end(); // lets lt_peer.py shut down cleanly...
    await withTimeout(lt.exited, 5_000, 'lt_peer exit').catch(() => lt.kill()); // ...or not
    lt.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test(`libtorrent downloads a multi-piece torrent from microtp over ${transportName}`, { timeout: TIMEOUT_MS + 30_000 }, async (t) => {
  if (!hasLibtorrent) {
    t.skip('python3-libtorrent not installed');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'microtp-lt-dl-'));
  // Not a multiple of the piece or block size: exercises the short last block.
  const data = randomBytes(5 * 1024 * 1024 + 777);
  const dataPath = join(dir, 'data.bin');
  await writeFile(dataPath, data);

  // libtorrent makes the torrent (and so the info hash) from our file; the
  // seeder needs it before answering the handshake, which may arrive first.
  let gotMeta!: (m: TorrentMeta) => void;
  const metaReady = new Promise<TorrentMeta>((resolve) => (gotMeta = resolve));
  const seeders: Seeder[] = [];
  const server = await listen((socket) => {
    void metaReady.then((meta) => seeders.push(seed(socket, meta, data, wireOpts)));
  });

  const lt = startLtPeer(['download', dir, '--data', dataPath, '--peer-port', String(server.port), '--timeout', String(TIMEOUT_MS / 1000)]);
  try {
    const meta = await withTimeout(lt.next<DownloadTorrent>(), 15_000, 'libtorrent startup', lt);
    assert.equal(meta.event, 'torrent');
    assert.ok(meta.pieceHashes.length > 8, 'torrent should have many pieces');
    // Both sides must agree on the pieces before any bytes move.
    meta.pieceHashes.forEach((h, i) => {
      assert.equal(sha1Hex(data.subarray(i * meta.pieceLength, (i + 1) * meta.pieceLength)), h, `piece ${i} hash`);
    });
    gotMeta(meta);

    const done = await withTimeout(lt.next<DownloadDone>(), TIMEOUT_MS + 5_000, 'libtorrent download', lt);
    assert.equal(done.error, undefined, `libtorrent reported ${done.error}; stderr:\n${lt.stderrTail()}`);
    assert.ok(done.ok, 'libtorrent reports its file matches');
    assert.equal(done.sha256, sha256Hex(data));
    assert.equal(await withTimeout(lt.exited, 10_000, 'lt_peer exit', lt), 0);

    // The bytes really came through our seeder (it is libtorrent's only peer).
    assert.ok(seeders.length >= 1, 'libtorrent connected to us');
    assert.deepEqual(seeders.map((s) => s.error).filter(Boolean), []);
    const uploaded = seeders.reduce((n, s) => n + s.uploaded, 0);
    assert.ok(uploaded >= data.length, `uploaded ${uploaded} of ${data.length} bytes`);
  } finally {
    lt.kill();
    await withTimeout(server.close(), 5_000, 'server close').catch((err: Error) => t.diagnostic(err.message));
    await rm(dir, { recursive: true, force: true });
  }
});
