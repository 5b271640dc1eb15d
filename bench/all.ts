// `npm run bench`: every benchmark, one after another, each in its own process so one's
// sockets, timers and CPU use do not leak into the next. Pick with BENCH_SUITES (comma list,
// default all): throughput (loopback, vs utp-native and udx-native), impaired (seeded lossy
// relay, vs libutp), bottleneck (tbf router in network namespaces, vs libutp and TCP cubic, and
// several flows of one stack: latecomer, four flows (issue 8);
// needs root, skips itself otherwise), fuzz (10^6 mutated datagrams into a simulated live
// pair, 10^6 blind injections into a live transfer, 10^6 spoofed SYN-cookie guesses; bench/fuzz.ts),
// webtorrent (the real webtorrent 2.x/3.x with libtorrent, over microtp vs over utp-native;
// needs test/clients installed, skips itself otherwise), idle (50,000 idle connections: CPU share
// and bytes per connection end; bench/idle-connections.ts), gauge (the throughput gauge: two network
// namespaces over a 1500-MTU veth, microtp vs libutp, udx-native, a raw dgram blast and TCP, 1 and 64
// connections; needs root, skips itself otherwise; bench/gauge/run.ts), connects (10,000 simultaneous
// connects to one server, each echoing 4 KiB, then the handshakes alone; bench/connects.ts). Each suite's own env knobs are in its file / README.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SUITES: Record<string, string> = {
  throughput: './run.js',
  impaired: './impaired/run.js',
  bottleneck: './bottleneck/run.js',
  fuzz: './fuzz.js',
  webtorrent: './webtorrent.js',
  idle: './idle-connections.js',
  gauge: './gauge/run.js',
  connects: './connects.js',
};

const chosen = (process.env.BENCH_SUITES ?? Object.keys(SUITES).join(',')).split(',').map((s) => s.trim());
let failed = false;
for (const name of chosen) {
  const script = SUITES[name];
  if (!script) throw new Error(`unknown suite ${name}; known: ${Object.keys(SUITES).join(', ')}`);
  console.log(`\n===== ${name} =====`);
  // --expose-gc: the idle suite measures bytes per connection after a forced collection.
  const result = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL(script, import.meta.url))], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.log(`${name}: exited with ${result.status ?? result.signal}`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
