// The throughput gauge (issue 9): bulk transfers between two processes in two network
// namespaces joined by a 1500-MTU veth pair (bench/gauge/netns.ts), every stack in one run,
// runs interleaved, medians reported with microtp's ratio to each anchor:
//   microtp, utp-native (libutp, 1 MiB socket buffers), udx-native, dgram-blast (Node's dgram
//   with no acks: the ceiling for a transport on dgram; what arrives over the time it took),
//   tcp (the kernel's, through node:net).
// Then the same total over 64 connections on one socket at each end (aggregate MiB/s; the blast
// is single-flow only and its figure is the ceiling there too).
// Each side is bench/throughput.js, started with `ip netns exec` (the IPC channel is inherited);
// MiB/s is receiver first byte -> last byte, CPU s/GiB is process.cpuUsage (user + system) of
// each process; each transfer's line also gives the datagrams each namespace's kernel dropped for
// a full socket receive buffer (RcvbufErrors).
//
// Suite `gauge` of `npm run bench` (BENCH_SUITES=gauge). Needs root (`ip netns`); without it
// prints "skipped: <reason>" and exits 0 (GAUGE_REQUIRE=1: exit 1). Env:
//   GAUGE_MB       per transfer, default 128
//   GAUGE_RUNS     runs per stack and variant, default BENCH_RUNS or 3
//   GAUGE_STACKS   default microtp,utp-native,udx-native,dgram-blast,tcp (also microtp-baseline:
//                  microtp at BENCH_BASELINE_REF, for before/after in one run; see bench/baseline.ts)
//   GAUGE_CONNS    connection counts to run, default 1,64
//   GAUGE_TIMEOUT_S  per transfer, default 120;   GAUGE_JSON=1  also write bench/results/gauge-<date>.json
//   GAUGE_NODE_ARGS  extra node flags for both workers, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'
//   BENCH_SINK=pipe|devnull  receivers pipe into a discarding Writable or /dev/null instead of counting in 'data' (bench/throughput.ts)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { baselineEntry } from '../baseline.js';
import { list, names, positive } from '../env.js';
import { STACKS, type StackName } from '../throughput.js';
import { MiB, fmt, printSummary, resultLine, runOrder, summarize, transfer, type StackSummary, type TransferResult } from '../transfer.js';
import { GAUGE_NS, GAUGE_RECEIVER_ADDR, createGaugeNamespaces, removeGaugeNamespaces, udpReceiveBufferDrops } from './netns.js';

const WORKER = fileURLToPath(new URL('../throughput.js', import.meta.url));

const mb = positive('GAUGE_MB', 128);
const runs = positive('GAUGE_RUNS', process.env.BENCH_RUNS ?? 3);
const timeoutMs = positive('GAUGE_TIMEOUT_S', 120) * 1000;
const stacks = names('GAUGE_STACKS', 'microtp,utp-native,udx-native,dgram-blast,tcp', STACKS);
const connCounts = list('GAUGE_CONNS', '1,64');
const bytes = Math.round(mb * MiB);
const nodeArgs = (process.env.GAUGE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
/** The blast has no connections: it runs single-flow only. */
const stacksFor = (conns: number): StackName[] => (conns === 1 ? stacks : stacks.filter((s) => s !== 'dgram-blast'));

const live = new Set<ChildProcess>();
function spawnIn(side: 'receiver' | 'sender', args: string[]): ChildProcess {
  // `ip netns exec` execs node in place: the child's PID is the worker's, and fd 3 (IPC) and
  // NODE_CHANNEL_FD pass through.
  const ns = side === 'receiver' ? GAUGE_NS.receiver : GAUGE_NS.sender;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, WORKER, ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

function emergencyCleanup(): void {
  for (const child of live) if (child.pid !== undefined) child.kill('SIGKILL');
  removeGaugeNamespaces();
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) return skip('not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)');
  try {
    createGaugeNamespaces();
  } catch (err) {
    removeGaugeNamespaces();
    return skip(`cannot create network namespaces: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      emergencyCleanup();
      process.exit(1);
    });
  }
  try {
    await gauge();
  } finally {
    for (const child of live) if (child.pid !== undefined) child.kill('SIGKILL');
    const errors = removeGaugeNamespaces();
    if (errors.length) console.log(`cleanup: ${errors.join('; ')}`);
  }
}

/** Both namespaces' counts of datagrams dropped for a full socket buffer (the blast's receiver drops by design). */
function kernelDrops(): { receiver: number; sender: number } | undefined {
  const receiver = udpReceiveBufferDrops(GAUGE_NS.receiver);
  const sender = udpReceiveBufferDrops(GAUGE_NS.sender);
  return receiver === undefined || sender === undefined ? undefined : { receiver, sender };
}

function skip(reason: string): void {
  console.log(`skipped: ${reason}`);
  if (process.env.GAUGE_REQUIRE === '1') process.exitCode = 1;
}

async function gauge(): Promise<void> {
  console.log(
    `gauge: ${mb} MiB per transfer, ${runs} run(s), connections ${connCounts.join(' and ')}; ${GAUGE_NS.sender} -> ${GAUGE_NS.receiver} ` +
      `over a 1500-MTU veth; node ${process.version}, linux ${release()}`,
  );
  if (stacks.includes('microtp-baseline')) console.log(`microtp-baseline: ${baselineEntry()}`);
  const results = new Map<number, TransferResult[]>(connCounts.map((c) => [c, []]));
  for (let run = 1; run <= runs; run++) {
    for (const conns of connCounts) {
      for (const stack of runOrder(stacksFor(conns), run)) {
        const hostArgs = [GAUGE_RECEIVER_ADDR, String(conns)];
        const dropsBefore = kernelDrops();
        const r = await transfer({ stack, run, bytes, timeoutMs, receiverArgs: hostArgs, senderArgs: hostArgs, spawn: spawnIn });
        const dropsAfter = kernelDrops();
        if (dropsBefore && dropsAfter) r.kernelDrops = { receiver: dropsAfter.receiver - dropsBefore.receiver, sender: dropsAfter.sender - dropsBefore.sender };
        results.get(conns)!.push(r);
        console.log(`  run ${run} conns ${String(conns).padStart(2)} ${stack.padEnd(19)} ${resultLine(r)}`);
      }
    }
  }

  const summaries = new Map<number, StackSummary[]>();
  for (const conns of connCounts) summaries.set(conns, summarize(stacksFor(conns), results.get(conns)!, runs));
  const blast = summaries.get(1)?.find((s) => s.stack === 'dgram-blast');
  for (const conns of connCounts) {
    console.log(`\nmedians, ${conns} connection(s) (MiB/s: receiver first byte -> last byte; e2e: sender start -> last byte; CPU = user+system)`);
    const extra = conns !== 1 && blast ? [{ ...blast, stack: 'dgram-blast' as StackName }] : [];
    printSummary(summaries.get(conns)!, extra);
    if (extra.length) console.log('  (dgram-blast: the single-flow figure above)');
  }
  const single = summaries.get(1)?.find((s) => s.stack === 'microtp')?.mibPerSec;
  for (const conns of connCounts.filter((c) => c !== 1)) {
    const multi = summaries.get(conns)?.find((s) => s.stack === 'microtp')?.mibPerSec;
    if (single !== undefined && multi !== undefined) console.log(`microtp ${conns} connections / 1: x${fmt(multi / single, 2)}`);
  }

  if (process.env.GAUGE_JSON === '1') {
    const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url)); // build/bench/gauge -> bench/results
    mkdirSync(dir, { recursive: true });
    const file = `${dir}gauge-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    const config = { mb, runs, connCounts, stacks, node: process.version, kernel: release() };
    writeFileSync(file, `${JSON.stringify({ config, summaries: Object.fromEntries(summaries), results: Object.fromEntries(results) }, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  }
  if ([...results.values()].some((rs) => rs.some((r) => !r.ok))) process.exitCode = 1;
}

await main();
