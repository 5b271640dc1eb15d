// `npm run bench`: bulk-transfer throughput of microtp against two native
// anchors on loopback, sender and receiver in two forked processes
// (bench/throughput.ts). This process only orchestrates and stays idle.
//
// Env: BENCH_MB (default 256) per transfer, BENCH_RUNS (default 2) per stack,
// BENCH_STACKS (default microtp,microtp-baseline,utp-native,udx-native; also
// utp-native-defaults, dgram-blast, tcp; microtp-baseline is microtp at BENCH_BASELINE_REF, see
// bench/baseline.ts), BENCH_TIMEOUT_S (default 120) per transfer,
// BENCH_UTP_SOCKBUF (default 1048576) for utp-native, BENCH_JSON=1 to also
// write bench/results/throughput-<date>.json.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { baselineEntry } from './baseline.js';
import { names } from './env.js';
import { STACKS } from './throughput.js';
import { MiB, printSummary, resultLine, runOrder, summarize, transfer, type TransferResult } from './transfer.js';

const WORKER = fileURLToPath(new URL('./throughput.js', import.meta.url));

const mb = Number(process.env.BENCH_MB ?? 256);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 120) * 1000;
const stacks = names('BENCH_STACKS', 'microtp,microtp-baseline,utp-native,udx-native', STACKS);
const bytes = Math.round(mb * MiB);

// stdout stays quiet so the table is readable; stderr is passed through.
const spawn = (_side: string, args: string[]) => fork(WORKER, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });

async function main(): Promise<void> {
  console.log(`bench: ${mb} MiB per transfer, ${runs} run(s) per stack, 127.0.0.1, sender and receiver in separate processes`);
  // Build the baseline once, here, so neither worker pays for it inside a timed transfer.
  if (stacks.includes('microtp-baseline')) console.log(`microtp-baseline: ${baselineEntry()}`);
  const results: TransferResult[] = [];
  for (let run = 1; run <= runs; run++) {
    for (const stack of runOrder(stacks, run)) {
      const r = await transfer({ stack, run, bytes, timeoutMs, receiverArgs: [], senderArgs: [], spawn });
      results.push(r);
      console.log(`  run ${run} ${stack.padEnd(19)} ${resultLine(r)}`);
    }
  }

  const summary = summarize(stacks, results, runs);
  console.log('\nmedians (MiB/s: receiver first byte -> last byte; e2e: sender connect() -> last byte; CPU = user+system)');
  printSummary(summary);

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
