// `BENCH_SUITES=fuzz npm run bench`: the mutation fuzzer of test/helpers/fuzz.ts for 10^6
// datagrams (FUZZ_ITERATIONS, FUZZ_SEED), in the simulator: prints datagrams/s, iterations and
// the invariant failures (with one reproducing example each). Exit code 1 on any failure of an
// invariant that is not listed in FUZZ_KNOWN (comma list; default: none, so known bugs show).
import { runFuzz } from '../test/helpers/fuzz.js';

const iterations = Number(process.env.FUZZ_ITERATIONS ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? 0x2026);
const known = new Set((process.env.FUZZ_KNOWN ?? '').split(',').map((s) => s.trim()).filter(Boolean));

const r = runFuzz({ iterations, seed });
const rate = (n: number): string => Math.round(n / r.seconds).toLocaleString('en-US');
console.log(`fuzz: ${r.iterations.toLocaleString('en-US')} mutated datagrams (seed ${seed}) in ${r.seconds.toFixed(1)} s: ${rate(r.datagrams)} mutated datagrams/s, ${rate(r.datagrams + r.genuineDatagrams)} datagrams/s in all`);
console.log(`  corpus ${r.corpusSize}, pairs ${r.pairs}, genuine datagrams ${r.genuineDatagrams}, bytes verified ${r.bytesVerified}`);
console.log(`  closed by fuzz ${r.closedByFuzz}, in-window packets ${r.insideWindow}, explained (on-path-like) splices ${r.explainedSplices}`);
let failed = false;
for (const [name, count] of Object.entries(r.failures)) {
  const mark = count === 0 ? 'ok' : known.has(name) ? 'KNOWN' : 'FAIL';
  if (count > 0 && !known.has(name)) failed = true;
  console.log(`  ${mark.padEnd(5)} ${name}: ${count} invariant failures`);
}
for (const [name, example] of Object.entries(r.examples)) console.log(`\n  first ${name} failure: ${example}`);
process.exitCode = failed ? 1 : 0;
