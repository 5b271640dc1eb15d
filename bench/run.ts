// `npm run bench`: bulk-transfer throughput of microtp against two native
// anchors on loopback, sender and receiver in two forked processes
// (bench/throughput.ts). This process only orchestrates and stays idle.
//
// Env: BENCH_MB (default 256) per transfer, BENCH_RUNS (default 2) per stack,
// BENCH_STACKS (default microtp,microtp-baseline,utp-native,udx-native; also
// utp-native-defaults; microtp-baseline is microtp at BENCH_BASELINE_REF, see
// bench/baseline.ts), BENCH_TIMEOUT_S (default 120) per transfer,
// BENCH_UTP_SOCKBUF (default 1048576) for utp-native, BENCH_JSON=1 to also
// write bench/results/throughput-<date>.json.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { baselineEntry } from './baseline.js';
import { STACKS, type ReceiverDone, type SenderStats, type StackName } from './throughput.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const WORKER = fileURLToPath(new URL('./throughput.js', import.meta.url));

const mb = Number(process.env.BENCH_MB ?? 256);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 120) * 1000;
const stacks = (process.env.BENCH_STACKS ?? 'microtp,microtp-baseline,utp-native,udx-native').split(',').map((s) => s.trim()) as StackName[];
for (const s of stacks) if (!STACKS.includes(s)) throw new Error(`unknown stack ${s}; known: ${STACKS.join(', ')}`);
const bytes = Math.round(mb * MiB);

interface Result {
  stack: StackName;
  run: number;
  ok: boolean;
  error?: string;
  bytesReceived: number; // on failure: as of the receiver's last progress report (1 s)
  failedAfterSeconds?: number; // sender start -> failure
  seconds?: number; // receiver's first byte -> last byte
  mibPerSec?: number; // over `seconds`
  e2eMibPerSec?: number; // sender's connect() -> receiver's last byte
  senderCpuSecPerGiB?: number;
  receiverCpuSecPerGiB?: number;
}

type Msg = { type: 'ready'; port: number } | { type: 'progress'; bytes: number } | { type: 'error'; message: string } | ReceiverDone | SenderStats;

function spawnWorker(args: string[]): ChildProcess {
  // stdout stays quiet so the table is readable; stderr is passed through.
  return fork(WORKER, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

/** Next message of `type` from child, rejecting on an error message or exit. */
function next<T extends Msg['type']>(child: ChildProcess, type: T, who: string): Promise<Extract<Msg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Msg): void => {
      if (msg.type === 'error') finish(() => reject(new Error(`${who}: ${msg.message}`)));
      else if (msg.type === type) finish(() => resolve(msg as Extract<Msg, { type: T }>));
    };
    const onExit = (code: number | null, signal: string | null): void => finish(() => reject(new Error(`${who} exited (${signal ?? code})`)));
    const finish = (settle: () => void): void => {
      child.off('message', onMessage).off('exit', onExit);
      settle();
    };
    child.on('message', onMessage).on('exit', onExit);
  });
}

/** Terminates a child: polite 'exit' first, SIGKILL if it is still there after 2 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send('exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

async function transfer(stack: StackName, run: number): Promise<Result> {
  const result: Result = { stack, run, ok: false, bytesReceived: 0 };
  const receiver = spawnWorker(['receiver', stack, String(bytes)]);
  let sender: ChildProcess | undefined;
  let senderSpawnedAt: number | undefined;
  receiver.on('message', (msg: Msg) => {
    if (msg.type === 'progress') result.bytesReceived = msg.bytes;
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        const { port } = await next(receiver, 'ready', 'receiver');
        sender = spawnWorker(['sender', stack, String(bytes), String(port)]);
        senderSpawnedAt = performance.now();
        // The sender never says 'done'; waiting on it only surfaces its errors or death.
        const done = await Promise.race([next(receiver, 'done', 'receiver'), next(sender, 'done', 'sender')]);
        const stats = next(sender, 'stats', 'sender');
        sender.send('stop');
        const { startAt, cpuMicros } = await stats;
        const seconds = (done.lastByteAt - done.firstByteAt) / 1000;
        Object.assign(result, {
          ok: true,
          bytesReceived: done.bytes,
          seconds,
          mibPerSec: done.bytes / MiB / seconds,
          e2eMibPerSec: done.bytes / MiB / ((done.lastByteAt - startAt) / 1000),
          senderCpuSecPerGiB: cpuMicros / 1e6 / (done.bytes / GiB),
          receiverCpuSecPerGiB: done.cpuMicros / 1e6 / (done.bytes / GiB),
        });
      })(),
      deadline,
    ]);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    if (senderSpawnedAt !== undefined) result.failedAfterSeconds = (performance.now() - senderSpawnedAt) / 1000;
  } finally {
    clearTimeout(timer);
    await Promise.all([stop(receiver), sender ? stop(sender) : undefined]);
  }
  return result;
}

const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : x.toFixed(digits));

async function main(): Promise<void> {
  console.log(`bench: ${mb} MiB per transfer, ${runs} run(s) per stack, 127.0.0.1, sender and receiver in separate processes`);
  // Build the baseline once, here, so neither worker pays for it inside a timed transfer.
  if (stacks.includes('microtp-baseline')) console.log(`microtp-baseline: ${baselineEntry()}`);
  const results: Result[] = [];
  for (let run = 1; run <= runs; run++) {
    // Interleave stacks and rotate their order so machine noise and warm-up spread evenly.
    const order = stacks.map((_, i) => stacks[(i + run - 1) % stacks.length] as StackName);
    for (const stack of order) {
      const r = await transfer(stack, run);
      results.push(r);
      const line = r.ok
        ? `${fmt(r.mibPerSec)} MiB/s, CPU s/GiB sender ${fmt(r.senderCpuSecPerGiB, 2)} receiver ${fmt(r.receiverCpuSecPerGiB, 2)}`
        : `FAILED: ${r.error} (receiver had ${fmt(r.bytesReceived / MiB)} MiB` +
          (r.failedAfterSeconds ? `, ~${fmt(r.bytesReceived / MiB / r.failedAfterSeconds)} MiB/s)` : ')');
      console.log(`  run ${run} ${stack.padEnd(19)} ${line}`);
    }
  }

  const summary = stacks.map((stack) => {
    const ok = results.filter((r) => r.stack === stack && r.ok);
    const pick = (k: 'mibPerSec' | 'e2eMibPerSec' | 'senderCpuSecPerGiB' | 'receiverCpuSecPerGiB'): number | undefined =>
      median(ok.map((r) => r[k]).filter((x): x is number => x !== undefined));
    return {
      stack,
      ok: ok.length,
      runs,
      mibPerSec: pick('mibPerSec'),
      e2eMibPerSec: pick('e2eMibPerSec'),
      senderCpuSecPerGiB: pick('senderCpuSecPerGiB'),
      receiverCpuSecPerGiB: pick('receiverCpuSecPerGiB'),
    };
  });

  console.log('\nmedians (MiB/s: receiver first byte -> last byte; e2e: sender connect() -> last byte; CPU = user+system)');
  console.log('stack                ok   MiB/s   e2e MiB/s   send CPU s/GiB   recv CPU s/GiB');
  for (const s of summary) {
    console.log(
      `${s.stack.padEnd(19)} ${`${s.ok}/${s.runs}`.padStart(4)} ${fmt(s.mibPerSec).padStart(7)} ${fmt(s.e2eMibPerSec).padStart(11)}` +
        ` ${fmt(s.senderCpuSecPerGiB, 2).padStart(16)} ${fmt(s.receiverCpuSecPerGiB, 2).padStart(16)}`,
    );
  }

  const ours = summary.find((s) => s.stack === 'microtp');
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : (a / b).toFixed(2));
  if (ours) {
    console.log('\nmicrotp / anchor (throughput: higher is better; CPU: lower is better)');
    for (const s of summary.filter((x) => x !== ours)) {
      console.log(
        `  vs ${s.stack.padEnd(19)} throughput x${ratio(ours.mibPerSec, s.mibPerSec)}` +
          `  sender CPU x${ratio(ours.senderCpuSecPerGiB, s.senderCpuSecPerGiB)}  receiver CPU x${ratio(ours.receiverCpuSecPerGiB, s.receiverCpuSecPerGiB)}`,
      );
    }
  }

  if (process.env.BENCH_JSON === '1') {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url)); // build/bench -> bench/results
    mkdirSync(dir, { recursive: true });
    const file = `${dir}throughput-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    const env = { mb, runs, timeoutMs, utpSockbuf: process.env.BENCH_UTP_SOCKBUF ?? 1048576, node: process.version };
    writeFileSync(file, `${JSON.stringify({ env, summary, results }, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  }
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
