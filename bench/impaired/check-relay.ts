// Self-check of the impaired link, no µTP involved:
//   node build/bench/impaired/check-relay.js
// 1. The model: the same seed gives the same decisions per packet index per
//    direction (whatever the arrival times), loss and duplication rates come
//    out as configured, the rate limiter holds its rate and its queue bound.
// 2. The relay process on loopback: numbered datagrams go through it to an
//    echo socket and back; every datagram seen on either side is accounted
//    for by the relay's counters, one-way delays stay within delay + jitter
//    (+ scheduling slack), and reordering happens.
// Exits 1 on any failed check.
import dgram from 'node:dgram';
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LINK, LinkDirection, draws, type Delivery, type Scenario } from './link.js';
import type { RelayCounters } from './relay.js';

let failures = 0;
function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

function model(): void {
  const sc: Scenario = { ...DEFAULT_LINK, name: 'm', loss: 0.05, dup: 0.02, jitterMs: 50, rateMiB: 0 };
  const a = new LinkDirection(sc, 7, 0);
  const b = new LinkDirection(sc, 7, 0);
  const other = new LinkDirection(sc, 7, 1);
  const n = 200_000;
  let same = true;
  let differs = false;
  for (let i = 0; i < n; i++) {
    // Different arrival times, same index: the decisions (drop, copies, jitter offsets) must match.
    const x = a.arrive(1000, i).map((d: Delivery) => [d.copy, d.due - i]);
    const y = b.arrive(1000, 5 * i + 3).map((d: Delivery) => [d.copy, d.due - (5 * i + 3)]);
    if (JSON.stringify(x) !== JSON.stringify(y)) same = false;
    const z = other.arrive(1000, i).map((d: Delivery) => [d.copy, d.due - i]);
    if (JSON.stringify(x) !== JSON.stringify(z)) differs = true;
  }
  check(same, 'same seed, same packet index -> same decisions regardless of timing');
  check(differs, 'the two directions draw independently');
  check(JSON.stringify(draws(1, 0, 42)) === JSON.stringify(draws(1, 0, 42)) && JSON.stringify(draws(1, 0, 42)) !== JSON.stringify(draws(2, 0, 42)), 'draws depend on seed');
  const lossRate = a.counters.dropped / n;
  const dupRate = a.counters.duplicated / (n - a.counters.dropped);
  check(Math.abs(lossRate - 0.05) < 0.003, `loss rate ${(lossRate * 100).toFixed(2)}% ~ 5%`);
  check(Math.abs(dupRate - 0.02) < 0.002, `dup rate ${(dupRate * 100).toFixed(2)}% ~ 2%`);

  // Rate limiter: offer 8 MiB/s for 2 s to a 4 MiB/s link with a 256 KiB queue.
  const r = new LinkDirection({ ...DEFAULT_LINK, name: 'r', rateMiB: 4, queueKiB: 256 }, 1, 0);
  let lastFinish = 0;
  let deliveredBytes = 0;
  for (let t = 0; t < 2000; t += 1000 / ((8 * 1024 * 1024) / 1400)) {
    for (const d of r.arrive(1400, t)) {
      lastFinish = Math.max(lastFinish, d.due - DEFAULT_LINK.delayMs);
      deliveredBytes += 1400;
    }
  }
  const rate = deliveredBytes / (1024 * 1024) / (lastFinish / 1000);
  check(Math.abs(rate - 4) < 0.05, `bottleneck rate ${rate.toFixed(3)} MiB/s ~ 4`);
  check(r.counters.maxQueueMs <= (256 * 1024) / ((4 * 1024 * 1024) / 1000) + 0.01, `queue delay bounded: max ${r.counters.maxQueueMs.toFixed(1)} ms <= 62.5`);
  check(r.counters.queueDrops > 0, `overload tail-drops (${r.counters.queueDrops})`);
}

async function live(): Promise<void> {
  const sc: Scenario = { ...DEFAULT_LINK, name: 'live', loss: 0.05, dup: 0.03, delayMs: 25, jitterMs: 50, rateMiB: 4 };
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
  const sentAt = new Map<number, number>();
  const oneWay: number[] = [];
  let atEcho = 0;
  echo.on('message', (buf, rinfo) => {
    atEcho++;
    oneWay.push(performance.now() - (sentAt.get(buf.readUInt32BE(0)) ?? NaN));
    echo.send(buf, rinfo.port, rinfo.address);
  });
  const relay = fork(fileURLToPath(new URL('./relay.js', import.meta.url)), [JSON.stringify(sc), '99', String(echo.address().port)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = (): void => {
    if (relay.pid !== undefined && relay.exitCode === null) process.kill(relay.pid, 'SIGKILL');
  };
  process.on('exit', kill);
  const port = await new Promise<number>((resolve) => relay.once('message', (m: { port: number }) => resolve(m.port)));
  const client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  let back = 0;
  let outOfOrder = 0;
  let maxSeen = -1;
  client.on('message', (buf) => {
    back++;
    const i = buf.readUInt32BE(0);
    if (i < maxSeen) outOfOrder++;
    maxSeen = Math.max(maxSeen, i);
  });
  const n = 3000;
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(1000);
    b.writeUInt32BE(i, 0);
    sentAt.set(i, performance.now());
    client.send(b, port, '127.0.0.1');
    if (i % 3 === 2) await new Promise((resolve) => setTimeout(resolve, 1)); // ~1-3 MB/s: under the rate
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  relay.send('counters');
  const c = await new Promise<RelayCounters>((resolve) => relay.once('message', resolve));
  relay.send('exit');
  client.close();
  echo.close();
  const [fwd, rev] = c.dirs;
  console.log(`     forward: ${JSON.stringify(fwd)}\n     reverse: ${JSON.stringify(rev)}\n     late >2 ms ${c.late2ms}, >10 ms ${c.late10ms}, max ${c.maxLateMs.toFixed(1)} ms`);
  check(fwd.received === n, `relay saw all ${n} datagrams (${fwd.received})`);
  check(fwd.delivered === atEcho && fwd.delivered === fwd.received - fwd.dropped - fwd.queueDrops + fwd.duplicated, `forward accounting: delivered ${fwd.delivered} = echo got ${atEcho}`);
  check(rev.received === atEcho, `reverse: relay saw every echo (${rev.received})`);
  check(rev.delivered === back && rev.delivered === rev.received - rev.dropped - rev.queueDrops + rev.duplicated, `reverse accounting: delivered ${rev.delivered} = client got ${back}`);
  check(fwd.queueDrops === 0 && rev.queueDrops === 0, 'no queue drops under the rate');
  check(fwd.reordered > 100 && outOfOrder > 100, `reordering happens (relay ${fwd.reordered}+${rev.reordered}, client saw ${outOfOrder})`);
  const sorted = [...oneWay].sort((x, y) => x - y);
  const lo = sorted[0] ?? NaN;
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
  check(lo >= sc.delayMs - 1, `one-way delay min ${lo.toFixed(1)} ms >= ${sc.delayMs}`);
  check(p99 <= sc.delayMs + sc.jitterMs + 10, `one-way delay p99 ${p99.toFixed(1)} ms <= ${sc.delayMs + sc.jitterMs} + 10 slack`);
}

model();
await live();
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exitCode = failures ? 1 : 0;
