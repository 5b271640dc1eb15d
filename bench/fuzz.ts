// `BENCH_SUITES=fuzz npm run bench`: the adversarial soaks of issue 6, in the simulator.
//  1. the mutation fuzzer of test/helpers/fuzz.ts for 10^6 datagrams (FUZZ_ITERATIONS,
//     FUZZ_SEED): datagrams/s and invariant failures (one reproducing example each);
//  2. a blind attacker (test/helpers/injection.ts) who knows the 4-tuple and both connection ids
//     injects 10^6 forged DATA/FIN/STATE/RESET with random seq/ack into a 1 MiB transfer
//     (INJECTION_FORGED): bytes spliced must be 0, the transfer intact and not torn down;
//  3. 10^6 spoofed STATEs with no SYN to a listening endpoint (SPOOFED_STATES): SYN-cookie
//     guesses, which must confirm 0 connections.
// Exit code 1 on any failure; FUZZ_KNOWN (comma list of invariant names) marks fuzz invariants
// as known instead.
import { Endpoint } from '../src/protocol/endpoint.js';
import { runFuzz } from '../test/helpers/fuzz.js';
import { runInjection, spoofedStates } from '../test/helpers/injection.js';
import { mulberry32 } from '../test/helpers/random.js';

const iterations = Number(process.env.FUZZ_ITERATIONS ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? 0x2026);
const forged = Number(process.env.INJECTION_FORGED ?? 1_000_000);
const spoofed = Number(process.env.SPOOFED_STATES ?? 1_000_000);
const known = new Set((process.env.FUZZ_KNOWN ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const n = (x: number): string => Math.round(x).toLocaleString('en-US');
let failed = false;

const r = runFuzz({ iterations, seed });
console.log(`fuzz: ${n(r.iterations)} mutated datagrams (seed ${seed}) in ${r.seconds.toFixed(1)} s: ${n(r.datagrams / r.seconds)} mutated datagrams/s, ${n((r.datagrams + r.genuineDatagrams) / r.seconds)} datagrams/s in all`);
console.log(`  corpus ${r.corpusSize}, pairs ${r.pairs}, genuine datagrams ${r.genuineDatagrams}, bytes verified ${r.bytesVerified}`);
console.log(`  closed by fuzz ${r.closedByFuzz}, in-window packets ${r.insideWindow}, explained (on-path-like) splices ${r.explainedSplices}`);
for (const [name, count] of Object.entries(r.failures)) {
  const mark = count === 0 ? 'ok' : known.has(name) ? 'KNOWN' : 'FAIL';
  if (count > 0 && !known.has(name)) failed = true;
  console.log(`  ${mark.padEnd(5)} ${name}: ${count} invariant failures`);
}
for (const [name, example] of Object.entries(r.examples)) console.log(`\n  first ${name} failure: ${example}`);

if (forged > 0) {
  const started = performance.now();
  const clean = runInjection({ forged: 0 });
  const attacked = runInjection({ forged });
  const seconds = (performance.now() - started) / 1000;
  const ok = attacked.splicedBytes === 0 && attacked.intact && !attacked.tornDown;
  if (!ok) failed = true;
  const byType = Object.entries(attacked.acceptedByType).map(([t, c]) => `${t} ${c}`).join(', ');
  console.log(`\nblind injection: ${n(attacked.forged)} forged packets into a 1 MiB transfer (${seconds.toFixed(1)} s)`);
  console.log(`  ${ok ? 'ok   ' : 'FAIL '} spliced bytes ${attacked.splicedBytes}, intact ${attacked.intact}, torn down ${attacked.tornDown}${attacked.errors.length ? ` (${attacked.errors.join(', ')})` : ''}`);
  console.log(`  passed validation: ${attacked.accepted} (${byType}); transfer ${attacked.transferMs.toFixed(0)} virtual ms attacked vs ${clean.transferMs.toFixed(0)} clean`);
}

if (spoofed > 0) {
  const endpoint = new Endpoint({ random: mulberry32(seed) });
  endpoint.listening = true;
  const started = performance.now();
  const confirmed = spoofedStates(endpoint, spoofed, seed, (i) => i * 0.01);
  if (confirmed > 0) failed = true;
  console.log(`\nspoofed STATEs with no SYN (SYN-cookie guesses): ${n(spoofed)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  ${confirmed === 0 ? 'ok   ' : 'FAIL '} connections confirmed: ${confirmed}, connections left: ${endpoint.size}`);
}
process.exitCode = failed ? 1 : 0;
