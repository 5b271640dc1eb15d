// Issue 7, "microtp replaces utp-native with no code change": the real webtorrent 2.8.5 and
// 3.0.21 (test/clients, where the name utp-native is installed as a link to this checkout, and
// nothing sits between webtorrent and microtp) move a multi-piece torrent to and from
// libtorrent 2.0 over µTP on loopback, verified by sha256. libtorrent has TCP off, and each
// test proves that every peer connection was µTP from both ends.
//
// Needs test/clients installed (see test/clients/README.md); skips by name without it,
// except under CI (process.env.CI), where a missing install is a failure.
// Times are not checked here: bench/webtorrent.ts compares them with the real utp-native.
//
// Env (debugging):
//   MICROTP_WT_DEBUG=1               copies both children's stderr to ours.
//   MICROTP_WT_STACK=utp-native      runs the same cases over the real utp-native (libutp) via
//                                    test/clients/real-utp-native.cjs, to tell harness or
//                                    client problems from microtp ones.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { clientsMissing, hasLibtorrent, INSTALL_COMMAND, isMicrotp, transfer, WEBTORRENT, type Direction, type Stack, type WtMajor } from './wt-transfer.js';

// Per transfer, startup included: a 6 MiB transfer takes about a second on loopback.
const TRANSFER_TIMEOUT_MS = 60_000;
const BYTES = 6 * 1024 * 1024 + 12_345;
const STACK: Stack = process.env['MICROTP_WT_STACK'] === 'utp-native' ? 'utp-native' : 'microtp';

function unavailable(t: TestContext): boolean {
  const missing = clientsMissing() ?? (hasLibtorrent ? null : 'python3-libtorrent is not installed (/usr/bin/python3 -c "import libtorrent")');
  if (!missing) return false;
  // .ci/run installs both; there a missing piece is a broken CI, not a reason to skip.
  if (process.env['CI']) assert.fail(`${missing}; .ci/run should have installed it (${INSTALL_COMMAND})`);
  t.skip(`${missing}; install with: ${INSTALL_COMMAND}`);
  return true;
}

const cases: Array<[WtMajor, Direction]> = [
  ['2', 'webtorrent-seeds'],
  ['2', 'libtorrent-seeds'],
  ['3', 'webtorrent-seeds'],
  ['3', 'libtorrent-seeds'],
];

for (const [wt, direction] of cases) {
  const name =
    direction === 'webtorrent-seeds'
      ? `webtorrent ${WEBTORRENT[wt]} seeds, libtorrent downloads, over ${STACK} µTP only`
      : `libtorrent seeds, webtorrent ${WEBTORRENT[wt]} downloads, over ${STACK} µTP only`;
  test(name, { timeout: TRANSFER_TIMEOUT_MS + 30_000 }, async (t) => {
    if (unavailable(t)) return;
    const r = await transfer({ wt, direction, stack: STACK, bytes: BYTES, timeoutMs: TRANSFER_TIMEOUT_MS, echoStderr: !!process.env['MICROTP_WT_DEBUG'] });

    assert.equal(r.webtorrent, WEBTORRENT[wt]);
    // Without this, a webtorrent that found no utp-native at all would still pass over... nothing:
    // it would fall back to TCP, which libtorrent refuses; with it, we know microtp was used.
    if (STACK === 'microtp') assert.ok(isMicrotp(r.utpModule), `webtorrent's require('utp-native') loaded ${r.utpModule}, not this checkout`);
    else assert.ok(r.utpModule?.includes('/node_modules/utp-native/') && !isMicrotp(r.utpModule), `not the real utp-native: ${r.utpModule}`);
    assert.equal(r.sha256, r.expectedSha256, 'downloaded file matches the seeded one');

    // µTP only, seen from webtorrent: every wire is a uTP one, in the direction this case
    // makes (libtorrent dials the webtorrent seed; the webtorrent downloader dials the
    // libtorrent seed), and not one TCP socket was opened or accepted.
    const expectedWire = direction === 'webtorrent-seeds' ? 'utpIncoming' : 'utpOutgoing';
    assert.ok(r.wtWires.length >= 1, 'webtorrent had a peer connection');
    assert.deepEqual(r.wtWires, r.wtWires.map(() => expectedWire), `webtorrent wire types: ${r.wtWires.join(', ')}`);
    assert.deepEqual(r.wtTcp, [], 'webtorrent opened or accepted no TCP socket');
    // ...and from libtorrent (TCP off anyway): every peer it had carried the utp_socket
    // flag, and every connection alert named uTP.
    assert.ok(r.ltPeers.length >= 1, 'libtorrent saw the peer');
    assert.deepEqual(r.ltPeers.filter((p) => p['utp'] !== true), [], 'libtorrent peers without utp_socket');
    assert.ok(r.ltConnections.length >= 1, 'libtorrent reported the connection');
    assert.deepEqual(r.ltConnections.filter((c) => c['utp'] !== true), [], 'libtorrent connections not over uTP');
    t.diagnostic(`${(BYTES / 1048576).toFixed(1)} MiB in ${r.seconds.toFixed(2)} s; wires ${r.wtWires.join(',')}; libtorrent peers ${r.ltPeers.length}`);
  });
}

// The evidence above must be able to say "TCP": the same transfer with webtorrent's utp: false
// and libtorrent on TCP only has to show TCP wires, TCP sockets and no utp_socket flag. Without
// this, a probe that always said "uTP" (a wrong flag bit, an event that never fires) would pass.
test('negative control: the µTP-only evidence reports a TCP transfer as TCP', { timeout: TRANSFER_TIMEOUT_MS + 30_000 }, async (t) => {
  if (unavailable(t)) return;
  const r = await transfer({ wt: '3', direction: 'libtorrent-seeds', stack: STACK, bytes: BYTES, timeoutMs: TRANSFER_TIMEOUT_MS, tcp: true, echoStderr: !!process.env['MICROTP_WT_DEBUG'] });
  assert.equal(r.sha256, r.expectedSha256);
  assert.deepEqual(r.wtWires, ['tcpOutgoing']);
  assert.ok(r.wtTcp.some((s) => s['direction'] === 'out'), 'the TCP socket was seen');
  assert.ok(r.ltPeers.length >= 1 && r.ltPeers.every((p) => p['utp'] === false), `libtorrent peers: ${JSON.stringify(r.ltPeers)}`);
  assert.ok(r.ltConnections.length >= 1 && r.ltConnections.every((c) => c['utp'] === false), `libtorrent connections: ${JSON.stringify(r.ltConnections)}`);
});
