// Before/after on the gauge: microtp at two or more git refs (each built as 'microtp-baseline',
// bench/baseline.ts, so both sides are built and run the same way), one transfer at a time,
// interleaved ref by ref, then medians per ref and each ref's ratio to the first. What a change
// gained, on this noisy machine: the runs of both sides meet the same load.
//
//   node build/bench/gauge/ab-refs.js RUNS REF_A REF_B [REF ...]
//   env: GAUGE_MB (default 128), GAUGE_CONNS (one count, default 1); needs root, as the gauge.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const GAUGE = fileURLToPath(new URL('./run.js', import.meta.url));

interface Run {
  mibps: number;
  senderCpu: number;
  receiverCpu: number;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[n >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

function once(ref: string): Run | undefined {
  const env = { ...process.env, BENCH_BASELINE_REF: ref, GAUGE_STACKS: 'microtp-baseline', GAUGE_RUNS: '1', GAUGE_CONNS: process.env.GAUGE_CONNS ?? '1' };
  const out = spawnSync(process.execPath, [GAUGE], { env, encoding: 'utf8' });
  const m = /([\d.]+) MiB\/s, CPU s\/GiB sender ([\d.]+) receiver ([\d.]+)/.exec(out.stdout);
  if (!m) {
    process.stderr.write(`${ref}: no result\n${out.stdout}${out.stderr}`);
    return undefined;
  }
  return { mibps: Number(m[1]), senderCpu: Number(m[2]), receiverCpu: Number(m[3]) };
}

const [runsArg, ...refs] = process.argv.slice(2);
const runs = Number(runsArg);
if (!Number.isInteger(runs) || runs < 1 || refs.length < 2) {
  console.error('usage: ab-refs.js RUNS REF_A REF_B [REF ...]');
  process.exit(2);
}
const results = new Map<string, Run[]>(refs.map((ref) => [ref, []]));
for (let i = 0; i < runs; i++) {
  for (const ref of refs) {
    const run = once(ref);
    if (!run) continue;
    results.get(ref)!.push(run);
    console.log(`run ${i + 1} ${ref.padEnd(12)} ${run.mibps.toFixed(1)} MiB/s, CPU s/GiB sender ${run.senderCpu.toFixed(2)} receiver ${run.receiverCpu.toFixed(2)}`);
  }
}
const first = results.get(refs[0]!)!;
const base = { mibps: median(first.map((r) => r.mibps)), senderCpu: median(first.map((r) => r.senderCpu)), receiverCpu: median(first.map((r) => r.receiverCpu)) };
console.log(`medians (${process.env.GAUGE_MB ?? 128} MiB per transfer, ${process.env.GAUGE_CONNS ?? 1} connection(s)); ratios to ${refs[0]}`);
for (const [ref, list] of results) {
  if (list.length === 0) continue;
  const mibps = median(list.map((r) => r.mibps));
  const senderCpu = median(list.map((r) => r.senderCpu));
  const receiverCpu = median(list.map((r) => r.receiverCpu));
  console.log(
    `${ref.padEnd(12)} n ${list.length}  ${mibps.toFixed(1)} MiB/s x${(mibps / base.mibps).toFixed(3)}  ` +
      `sender ${senderCpu.toFixed(2)} s/GiB x${(senderCpu / base.senderCpu).toFixed(3)}  receiver ${receiverCpu.toFixed(2)} s/GiB x${(receiverCpu / base.receiverCpu).toFixed(3)}`,
  );
}
