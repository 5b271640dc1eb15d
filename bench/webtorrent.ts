// `BENCH_SUITES=webtorrent npm run bench`: the real webtorrent (2.8.5 and 3.0.21, test/clients)
// moving a torrent to and from libtorrent 2.0 over µTP on loopback, once with utp-native
// aliased to microtp (as installed) and once with the real utp-native (libutp), switched by
// `node -r test/clients/real-utp-native.cjs` on the webtorrent process only. Same driver,
// same webtorrent code, same libtorrent; only the module behind require('utp-native') differs.
// Each transfer is also checked (sha256, every connection µTP at both ends); a failed one is
// reported, not timed.
//
// Time = the downloader's own clock, first connect attempt (libtorrent: connect_peer;
// webtorrent: addPeer) to last piece: it includes connection setup and, for libtorrent, its
// tick before it dials (up to ~0.5 s), so small sizes understate throughput.
//
// Env: BENCH_WT_MB (default 64) per transfer, BENCH_WT_RUNS (default 3) per cell, runs of the
// two stacks interleaved; BENCH_WT_VERSIONS (default 2,3); BENCH_WT_TIMEOUT_S (default 120).
import { clientsMissing, hasLibtorrent, INSTALL_COMMAND, isMicrotp, transfer, WEBTORRENT, type Direction, type Stack, type TransferResult, type WtMajor } from '../test/interop/wt-transfer.js';

const MiB = 1024 * 1024;
const mb = Number(process.env.BENCH_WT_MB ?? 64);
const runs = Number(process.env.BENCH_WT_RUNS ?? 3);
const timeoutMs = Number(process.env.BENCH_WT_TIMEOUT_S ?? 120) * 1000;
const versions = (process.env.BENCH_WT_VERSIONS ?? '2,3').split(',').map((s) => s.trim()) as WtMajor[];
for (const v of versions) if (!(v in WEBTORRENT)) throw new Error(`unknown webtorrent major ${v}; known: ${Object.keys(WEBTORRENT).join(', ')}`);
const directions: Direction[] = ['webtorrent-seeds', 'libtorrent-seeds'];
const stacks: Stack[] = ['microtp', 'utp-native'];
// Not a multiple of the 256 KiB piece, like the test.
const bytes = Math.round(mb * MiB) + 12_345;

/** Why this run does not count, or null: the same evidence the test asserts. */
function invalid(stack: Stack, r: TransferResult): string | null {
  if (r.sha256 !== r.expectedSha256) return 'sha256 mismatch';
  if (isMicrotp(r.utpModule) !== (stack === 'microtp')) return `wrong utp-native loaded: ${r.utpModule}`;
  if (!r.wtWires.length || r.wtWires.some((w) => !w.startsWith('utp'))) return `webtorrent wires: ${r.wtWires.join(',')}`;
  if (r.wtTcp.length) return `${r.wtTcp.length} TCP sockets`;
  if (!r.ltPeers.length || r.ltPeers.some((p) => p['utp'] !== true)) return 'libtorrent peer without utp_socket';
  return null;
}

const missing = clientsMissing() ?? (hasLibtorrent ? null : 'python3-libtorrent is not installed');
if (missing) {
  console.log(`webtorrent bench skipped: ${missing}; install with: ${INSTALL_COMMAND}`);
  process.exit(0);
}

console.log(`webtorrent <-> libtorrent over µTP on loopback: ${(bytes / MiB).toFixed(2)} MiB per transfer, ${runs} run(s) per cell, median shown`);
const times = new Map<string, number[]>();
const failures: string[] = [];
for (const wt of versions) {
  for (const direction of directions) {
    for (let run = 0; run < runs; run++) {
      for (const stack of run % 2 ? [...stacks].reverse() : stacks) {
        const key = `${wt}|${direction}|${stack}`;
        try {
          const r = await transfer({ wt, direction, stack, bytes, timeoutMs });
          const bad = invalid(stack, r);
          if (bad) throw new Error(bad);
          times.set(key, [...(times.get(key) ?? []), r.seconds]);
          process.stderr.write(`  webtorrent ${WEBTORRENT[wt]} ${direction} ${stack} run ${run + 1}: ${r.seconds.toFixed(2)} s\n`);
        } catch (err) {
          const msg = (err as Error).message.split('\n')[0] ?? '';
          failures.push(`webtorrent ${WEBTORRENT[wt]} ${direction} ${stack} run ${run + 1}: ${msg}`);
          process.stderr.write(`  webtorrent ${WEBTORRENT[wt]} ${direction} ${stack} run ${run + 1}: FAILED ${(err as Error).message}\n`);
        }
      }
    }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pad = (s: string, n: number): string => s.padEnd(n);
const num = (x: number | undefined, digits: number): string => (x === undefined ? '-' : x.toFixed(digits));
console.log('');
console.log(`${pad('webtorrent', 11)}${pad('direction', 18)}${pad('microtp s', 11)}${pad('MiB/s', 8)}${pad('utp-native s', 14)}${pad('MiB/s', 8)}microtp/utp-native (time; >1 = slower)`);
for (const wt of versions) {
  for (const direction of directions) {
    const m = times.get(`${wt}|${direction}|microtp`);
    const u = times.get(`${wt}|${direction}|utp-native`);
    const ms = m?.length ? median(m) : undefined;
    const us = u?.length ? median(u) : undefined;
    console.log(
      `${pad(WEBTORRENT[wt], 11)}${pad(direction, 18)}${pad(num(ms, 2), 11)}${pad(num(ms && bytes / MiB / ms, 1), 8)}${pad(num(us, 2), 14)}${pad(num(us && bytes / MiB / us, 1), 8)}${ms && us ? (ms / us).toFixed(2) : '-'}`,
    );
  }
}
if (failures.length) {
  console.log(`\n${failures.length} failed transfer(s):\n  ${failures.join('\n  ')}`);
  process.exitCode = 1;
}
