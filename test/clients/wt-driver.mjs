// One real webtorrent client (2.x or 3.x, as installed in this dir) in its own process,
// driven by test/interop/webtorrent.test.ts and bench/webtorrent.ts. webtorrent loads
// require('utp-native') itself (lib/utp.cjs); this package installs that name as a link
// to the microtp checkout, so this script contains no transport code at all.
//
//   node wt-driver.mjs seed     --wt 2|3 --data FILE [--piece-length N]
//       Seeds FILE (webtorrent makes the torrent), writes FILE.wt<N>.torrent, prints
//       {"event":"ready","port","torrentPath","infoHash",...} and waits for peers to
//       connect; runs until stdin closes or SIGTERM, then prints "stopped".
//   node wt-driver.mjs download --wt 2|3 --torrent FILE --dir DIR --peer HOST:PORT
//       Downloads the torrent into DIR from that one peer (webtorrent connects out),
//       prints {"event":"done","seconds","sha256",...} and exits 0.
//   --tcp (either mode): webtorrent's utp: false (the test's negative control).
//
// stdout carries only JSON lines; every line also says which file answered
// require('utp-native') ("utpModule") so a test can tell microtp from libutp.
// Other events: "wire" (each peer connection: webtorrent's wire.type, i.e. utpIncoming,
// utpOutgoing, tcpIncoming, tcpOutgoing), "tcp" (any TCP socket webtorrent opened or
// accepted, seen through node's diagnostics_channel, so nothing is patched), "progress".
import { createHash } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    wt: { type: 'string' },
    data: { type: 'string' },
    torrent: { type: 'string' },
    dir: { type: 'string' },
    peer: { type: 'string' },
    'piece-length': { type: 'string', default: String(256 * 1024) },
    // Negative control only (webtorrent.test.ts): utp: false, so that the test can show its
    // µTP evidence tells TCP apart. Never used for the µTP transfers.
    tcp: { type: 'boolean', default: false },
  },
});
const mode = positionals[0];
if (!['seed', 'download'].includes(mode) || !['2', '3'].includes(args.wt)) {
  console.error('usage: wt-driver.mjs seed|download --wt 2|3 ...');
  process.exit(2);
}

const T0 = performance.now();
const emit = (obj) => process.stdout.write(JSON.stringify({ ...obj, t: +((performance.now() - T0) / 1000).toFixed(3) }) + '\n');
const fail = (err) => {
  emit({ event: 'error', message: String(err?.stack ?? err) });
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// Counted before webtorrent is even loaded: any TCP connection, in or out, is a failure
// of the "µTP only" claim. (webtorrent always listens on TCP too; libtorrent has TCP off.)
const tcp = [];
dc.subscribe('net.client.socket', ({ socket }) => {
  tcp.push('out');
  emit({ event: 'tcp', direction: 'out', remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
});
dc.subscribe('net.server.socket', ({ socket }) => {
  tcp.push('in');
  emit({ event: 'tcp', direction: 'in', remote: `${socket.remoteAddress}:${socket.remotePort}` });
});

const pkg = `webtorrent${args.wt}`;
const { default: WebTorrent } = await import(pkg);
const require = createRequire(import.meta.url);
const wtVersion = require(`${pkg}/package.json`).version;
// lib/utp.cjs's exports ARE the exports of whatever require('utp-native') returned
// (or {} if that threw); find that module's file in the CJS cache.
const utpExports = createRequire(require.resolve(`${pkg}/package.json`))('./lib/utp.cjs');
const utpModule = Object.values(require.cache).find((m) => m?.exports === utpExports && !m.filename.endsWith('utp.cjs'))?.filename ?? null;
const info = { webtorrent: wtVersion, utpModule, utpSupported: WebTorrent.UTP_SUPPORT };

const client = new WebTorrent({
  // Nothing but the one peer we add: no discovery, no port mapping, no PEX.
  dht: false,
  tracker: false,
  lsd: false,
  utPex: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  // webtorrent's default anyway; says what is under test.
  utp: !args.tcp,
  // Plaintext: lt_peer.py turns encryption off (3.x defaults to offering BEP 8 PE first).
  secure: 0,
});
client.on('error', fail);
if (!client.utp && !args.tcp) fail(new Error(`webtorrent has uTP off: require('utp-native') failed in ${pkg}/lib/utp.cjs (see its warning on stderr)`));

const wires = [];
function watch(torrent) {
  torrent.on('wire', (wire, addr) => {
    wires.push(wire.type);
    emit({ event: 'wire', type: wire.type, addr });
  });
  torrent.on('error', fail);
  const timer = setInterval(() => {
    emit({ event: 'progress', progress: +torrent.progress.toFixed(4), downloaded: torrent.downloaded, uploaded: torrent.uploaded, numPeers: torrent.numPeers });
  }, 1000);
  timer.unref();
}

function sha256File(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

function stopOnEof(onStop) {
  process.stdin.resume();
  process.stdin.on('end', onStop);
  process.on('SIGTERM', onStop);
}

function listening() {
  return client.listening ? Promise.resolve() : new Promise((resolve) => client.once('listening', resolve));
}

if (mode === 'seed') {
  await listening();
  const torrent = await new Promise((resolve) => {
    const t = client.seed(args.data, { pieceLength: Number(args['piece-length']), announce: [], private: false }, resolve);
    watch(t);
  });
  const torrentPath = `${args.data}.wt${args.wt}.torrent`;
  await writeFile(torrentPath, torrent.torrentFile);
  emit({ event: 'ready', ...info, port: client.address().port, torrentPath, infoHash: torrent.infoHash, pieceLength: torrent.pieceLength, pieces: torrent.pieces.length, length: torrent.length });
  let stopping = false;
  stopOnEof(() => {
    if (stopping) return;
    stopping = true;
    emit({ event: 'stopped', wires, tcp, uploaded: torrent.uploaded });
    client.destroy(() => process.exit(0));
  });
} else {
  await listening();
  let started = 0;
  const torrent = client.add(await readFile(args.torrent), { path: args.dir, announce: [] });
  watch(torrent);
  torrent.once('infoHash', () => {
    emit({ event: 'torrent', ...info, port: client.address().port, infoHash: torrent.infoHash });
    started = performance.now();
    torrent.addPeer(args.peer);
  });
  torrent.once('done', () => {
    const seconds = (performance.now() - started) / 1000;
    const path = `${args.dir}/${torrent.files[0].path}`;
    const { length, downloaded } = torrent;
    // destroy() first: it closes the store, so every piece is on disk before we hash the file.
    client.destroy(async (err) => {
      if (err) fail(err);
      emit({ event: 'done', ...info, seconds, length, downloaded, sha256: await sha256File(path), wires, tcp });
      process.exit(0);
    });
  });
  stopOnEof(() => fail(new Error('stopped before the download finished')));
}
