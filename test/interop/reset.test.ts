// Interop: the RESETs microtp sends for packets of unknown connections are honoured by real
// peers, libtorrent (python3-libtorrent) and libutp (utp-native), whichever side initiated.
//
// Each test gets a live uTP connection between microtp and the peer with data moving, then
// "crashes" microtp: its UDP socket is closed with no RESET or FIN going out (a send seam drops
// everything from then on), and a fresh microtp endpoint binds the same port. The peer's next
// packets (retransmissions of unacked data) reach that endpoint, which knows nothing of the
// connection and answers with a RESET naming the peer's recv id by guess (endpoint.ts resetId:
// id+1 on a non-listening endpoint, id-1 on a listening one). The peer must then drop the
// connection with a reset error, long before its own retransmission timeout would.
//
// Times (crash -> peer reports the connection gone) go to the test diagnostics; they are not
// asserted, beyond "before the peer would have timed out by itself" (see PEER_GIVES_UP_MS).
//
// MICROTP_RESET_CONTROL=1 adds a control run per peer where the fresh socket stays silent,
// which measures how long the peer takes to notice on its own (libtorrent: utp_num_resends
// with doubling RTOs from utp_min_timeout 500 ms).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import utp from 'utp-native';
import * as microtp from '../../src/index.js';
import type { SendFunction } from '../../src/node/udp-driver.js';
import { download, type TorrentMeta } from './bt-wire.js';

const PYTHON = '/usr/bin/python3';
const HOST = '127.0.0.1';
const DEBUG = !!process.env['MICROTP_INTEROP_DEBUG'];
const CONTROL = !!process.env['MICROTP_RESET_CONTROL'];
// Compiled to build/test/interop/; the script is not copied, so point at the source.
const LT_PEER = fileURLToPath(new URL('../../../test/interop/lt_peer.py', import.meta.url));
const hasLibtorrent = spawnSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0;
/** Bytes microtp receives before it "crashes": the transfer is surely in full flow by then. */
const CRASH_AFTER = 256 * 1024;
/**
 * A RESET that works is seen within a millisecond of the first RESET, which goes out when the
 * peer retransmits (about 1 s after the crash here). Without one (MICROTP_RESET_CONTROL=1, and
 * with the old echoed-id RESET), libtorrent gives up with ETIMEDOUT about 4.9 s after the crash
 * (utp_num_resends 3, doubling RTOs from utp_min_timeout 500 ms) and libutp with UTP_ETIMEDOUT
 * after about 32 s. A bound well below 4.9 s tells "honoured" from "timed out anyway".
 */
const PEER_GIVES_UP_MS = 3_000;
const TEST_TIMEOUT = 30_000;

// --- a microtp endpoint that can crash, and its successor on the same port -------------------

interface Crashable {
  shared: microtp.SharedSocket;
  port: number;
  /** Closes the UDP socket at once; nothing more is sent (no RESET, no FIN). */
  crash(): Promise<void>;
}

async function crashable(listen: boolean): Promise<Crashable> {
  let crashed = false;
  const udpSend: SendFunction = (socket, data, port, address, callback) => {
    if (crashed) process.nextTick(callback, null, 0);
    else socket.send(data, port, address, callback);
  };
  const shared = microtp.createSocket({ udpSend });
  shared.on('error', () => {});
  await new Promise<void>((resolve) => (listen ? shared.listen(0, HOST, resolve) : shared.bind(0, HOST, resolve)));
  return {
    shared,
    port: shared.address().port,
    async crash() {
      crashed = true;
      const closed = once(shared.udpSocket, 'close');
      shared.udpSocket.close();
      await closed;
    },
  };
}

interface Successor {
  shared: microtp.SharedSocket;
  /** performance.now() of each datagram it sent (all of them are RESETs here). */
  sent: number[];
  close(): Promise<void>;
}

/** A fresh microtp endpoint on `port`, with no memory of the crashed one's connections. */
async function successor(port: number, listen: boolean): Promise<Successor> {
  const sent: number[] = [];
  const udpSend: SendFunction = (socket, data, p, address, callback) => {
    sent.push(performance.now());
    socket.send(data, p, address, callback);
  };
  const shared = microtp.createSocket({ udpSend });
  shared.on('error', () => {});
  // Accepting nothing here: the test is about strays of the old connection.
  shared.on('connection', (s: Duplex) => s.destroy());
  await new Promise<void>((resolve) => (listen ? shared.listen(port, HOST, resolve) : shared.bind(port, HOST, resolve)));
  return { shared, sent, close: () => new Promise<void>((resolve) => shared.close(() => resolve())) };
}

/** The control: a plain UDP socket on `port` that swallows everything (the peer must time out). */
async function silentSuccessor(port: number): Promise<Successor> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((resolve) => socket.bind(port, HOST, resolve));
  return {
    shared: undefined as unknown as microtp.SharedSocket,
    sent: [],
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** Calls `then` once `socket` has delivered CRASH_AFTER bytes. */
function afterBytes(socket: Duplex, then: () => void): void {
  let got = 0;
  const onData = (chunk: Buffer): void => {
    got += chunk.length;
    if (got < CRASH_AFTER) return;
    socket.off('data', onData);
    then();
  };
  socket.on('data', onData);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, detail?: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms${detail ? `\n${detail()}` : ''}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function report(t: TestContext, what: string, crashAt: number, goneAt: number, next: Successor): void {
  const firstReset = next.sent[0];
  t.diagnostic(
    `${what}: peer reported the connection gone ${(goneAt - crashAt).toFixed(0)} ms after the crash` +
      (firstReset === undefined ? '' : `, ${(goneAt - firstReset).toFixed(0)} ms after our first RESET`) +
      `; RESETs sent: ${next.sent.length}`,
  );
}

// --- libtorrent ---------------------------------------------------------------------------

interface LtEvent {
  event: string;
  port?: number;
  error?: string;
  errorValue?: number;
  category?: string;
  op?: string;
}

interface LtPeer {
  child: ChildProcess;
  /** The next JSON line whose event is `name` (earlier other lines are skipped). */
  next(name: string): Promise<LtEvent & TorrentMeta>;
  stderrTail(): string;
  stop(): Promise<void>;
}

function startLtPeer(args: string[]): LtPeer {
  const child = spawn(PYTHON, [LT_PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr = (stderr + s).slice(-8000);
    if (DEBUG) process.stderr.write(s);
  });
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    lines.push(line);
    wake?.();
  });
  rl.on('close', () => {
    ended = true;
    wake?.();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    stderrTail: () => stderr.split('\n').slice(-25).join('\n'),
    async next(name) {
      for (;;) {
        const line = lines.shift();
        if (line !== undefined) {
          const event = JSON.parse(line) as LtEvent & TorrentMeta;
          if (event.event === name) return event;
          continue;
        }
        if (ended) throw new Error(`lt_peer.py exited before '${name}'; stderr:\n${stderr}`);
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    async stop() {
      child.stdin!.end();
      await withTimeout(exited, 5_000, 'lt_peer exit').catch(() => child.kill('SIGKILL'));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * libtorrent seeds; microtp downloads over a connection opened by `microtpInitiates` ? microtp :
 * libtorrent, crashes mid-transfer, and a successor takes the port.
 */
async function libtorrentCase(t: TestContext, microtpInitiates: boolean, silent: boolean): Promise<void> {
  if (!hasLibtorrent) {
    t.skip('python3-libtorrent not installed');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'microtp-lt-reset-'));
  const us = await crashable(!microtpInitiates);
  let lt: LtPeer | undefined;
  let next: Successor | undefined;
  try {
    const crashed = new Promise<number>((resolve) => {
      const start = (socket: Duplex, meta: TorrentMeta): void => {
        socket.on('error', () => {});
        download(socket, meta).catch(() => {}); // it never completes: we crash first
        afterBytes(socket, () => {
          const at = performance.now();
          void us.crash().then(() => resolve(at));
        });
      };
      const args = ['seed', dir, '--size', String(4 * 1024 * 1024), '--report-peers'];
      if (!microtpInitiates) args.push('--connect-port', String(us.port));
      lt = startLtPeer(args);
      const ready = lt.next('ready');
      if (microtpInitiates) {
        void ready.then((meta) => start(us.shared.connect(meta.port!, HOST), meta));
      } else {
        us.shared.on('connection', (socket: Duplex) => void ready.then((meta) => start(socket, meta)));
      }
    });
    const peer = lt!;
    const crashAt = await withTimeout(crashed, 20_000, 'transfer before the crash', peer.stderrTail);
    next = silent ? await silentSuccessor(us.port) : await successor(us.port, !microtpInitiates);
    const gone = await withTimeout(peer.next('peer_disconnected'), silent ? 60_000 : 10_000, 'libtorrent disconnect', peer.stderrTail);
    const goneAt = performance.now();
    report(t, `libtorrent (${silent ? 'control, no RESET' : 'RESET'}; error "${gone.error}" ${gone.category}:${gone.errorValue} op ${gone.op})`, crashAt, goneAt, next);
    if (silent) return;
    assert.ok(next.sent.length >= 1, 'the successor answered the strays with a RESET');
    assert.match(gone.error ?? '', /reset/i, `libtorrent's reason: ${JSON.stringify(gone)}`);
    assert.ok(goneAt - crashAt < PEER_GIVES_UP_MS, `libtorrent took ${goneAt - crashAt} ms: it timed out rather than honour the RESET`);
  } finally {
    us.shared.close();
    await lt?.stop();
    await next?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('libtorrent honours the RESET for a connection microtp initiated and forgot (crash, fresh endpoint on the port)', { timeout: TEST_TIMEOUT }, (t) =>
  libtorrentCase(t, true, false),
);

test('libtorrent honours the RESET for a connection microtp accepted and forgot (crash, fresh listening endpoint on the port)', { timeout: TEST_TIMEOUT }, (t) =>
  libtorrentCase(t, false, false),
);

test('control: libtorrent times out by itself when the port goes silent (MICROTP_RESET_CONTROL=1)', { timeout: 90_000 }, async (t) => {
  if (!CONTROL) {
    t.skip('measurement only: set MICROTP_RESET_CONTROL=1');
    return;
  }
  await libtorrentCase(t, true, true);
});

// --- libutp (utp-native) ---------------------------------------------------------------------

/** Writes forever (until the socket dies), so there is always unacked data to retransmit. */
function stream(socket: Duplex): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const pump = (): void => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', pump);
  pump();
}

async function libutpCase(t: TestContext, microtpInitiates: boolean, silent: boolean): Promise<void> {
  const us = await crashable(!microtpInitiates);
  let next: Successor | undefined;
  let server: utp.UTP | undefined;
  const sockets: Duplex[] = [];
  try {
    let peer: Duplex;
    let ours: Duplex;
    if (microtpInitiates) {
      const accepted = new Promise<Duplex>((resolve) => (server = utp.createServer(resolve)));
      await new Promise<void>((resolve) => server!.listen(0, HOST, resolve));
      ours = us.shared.connect(server!.address().port, HOST);
      sockets.push(ours);
      // libutp's acceptor stays in SYN_RECV, sending nothing, until the initiator's first DATA.
      ours.write('hello');
      peer = await withTimeout(accepted, 10_000, 'libutp accept');
    } else {
      // microtp confirms an incoming connection on the initiator's first DATA: stream at once.
      const accepted = once(us.shared, 'connection') as Promise<[Duplex]>;
      peer = utp.connect(us.port, HOST);
      stream(peer);
      [ours] = await withTimeout(accepted, 10_000, 'microtp accept');
      sockets.push(ours);
    }
    sockets.push(peer);
    ours.on('error', () => {});
    // utp-native turns libutp's on_error into destroy(error) at once, but emits 'error' only
    // with 'close', once libutp frees the socket on a later timeout tick (up to 500 ms on). Time
    // the destroy(error) call: that is when libutp honoured the RESET.
    const ended = new Promise<{ at: number; error: Error | undefined }>((resolve) => {
      const destroy = peer.destroy.bind(peer);
      peer.destroy = (error?: Error) => {
        if (error) resolve({ at: performance.now(), error });
        return destroy(error);
      };
      peer.on('error', () => {});
      peer.on('close', () => resolve({ at: performance.now(), error: undefined }));
    });
    const crashed = withTimeout(
      new Promise<number>((resolve) =>
        afterBytes(ours, () => {
          const at = performance.now();
          void us.crash().then(() => resolve(at));
        }),
      ),
      10_000,
      'transfer before the crash',
    );
    if (microtpInitiates) stream(peer);
    const crashAt = await crashed;
    next = silent ? await silentSuccessor(us.port) : await successor(us.port, !microtpInitiates);
    const end = await withTimeout(ended, silent ? 60_000 : 10_000, 'libutp close');
    report(t, `libutp (${silent ? 'control, no RESET' : 'RESET'}; error ${end.error?.message ?? 'none'})`, crashAt, end.at, next);
    if (silent) return;
    assert.ok(next.sent.length >= 1, 'the successor answered the strays with a RESET');
    assert.equal(end.error?.message, 'UTP_ECONNRESET', 'libutp reports the RESET');
    assert.ok(end.at - crashAt < PEER_GIVES_UP_MS, `libutp took ${end.at - crashAt} ms: it timed out rather than honour the RESET`);
  } finally {
    for (const s of sockets) s.destroy();
    us.shared.close();
    if (server) await Promise.race([new Promise<void>((resolve) => server!.close(() => resolve())), new Promise((r) => setTimeout(r, 3000).unref())]);
    await next?.close();
  }
}

test('libutp honours the RESET for a connection microtp initiated and forgot (crash, fresh endpoint on the port)', { timeout: TEST_TIMEOUT }, (t) =>
  libutpCase(t, true, false),
);

test('libutp honours the RESET for a connection microtp accepted and forgot (crash, fresh listening endpoint on the port)', { timeout: TEST_TIMEOUT }, (t) =>
  libutpCase(t, false, false),
);

test('control: libutp times out by itself when the port goes silent (MICROTP_RESET_CONTROL=1)', { timeout: 90_000 }, async (t) => {
  if (!CONTROL) {
    t.skip('measurement only: set MICROTP_RESET_CONTROL=1');
    return;
  }
  await libutpCase(t, true, true);
});
