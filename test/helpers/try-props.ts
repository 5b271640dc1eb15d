import fc from 'fast-check';
import { runScenario, scenarioArb, blindForgeArb, onPathForgeArb, optimisticArb, staleAckForgeArb } from './scenario.js';
import { InvariantError } from './pair.js';
const which = process.argv[2] ?? 'faults';
const arbs: Record<string, any> = {
  faults: scenarioArb({ faults: true, destroy: true }),
  blind: scenarioArb({ faults: true, destroy: false, forger: blindForgeArb }),
  onpath: scenarioArb({ faults: true, destroy: true, forger: onPathForgeArb }),
  stale: scenarioArb({ faults: true, destroy: false, forger: staleAckForgeArb }),
  optimistic: scenarioArb({ faults: true, destroy: false, forger: optimisticArb }),
};
const ignore = new Set((process.argv[4] ?? '').split(',').filter(Boolean)) as any;
const t0 = Date.now();
const r = fc.check(fc.property(arbs[which], (s: any) => { runScenario(s, { liveness: which === 'faults' || which === 'optimistic' || which === 'stale', ignore }); }), { seed: Number(process.env.SEED ?? 42), numRuns: Number(process.argv[3] ?? 50) });
console.log(which, 'failed', r.failed, 'runs', r.numRuns, 'ms', Date.now() - t0);
if (r.failed) { console.log('seed', r.seed, 'path', r.counterexamplePath); console.log(JSON.stringify(r.counterexample)); console.log(String((r.errorInstance as any)?.message ?? r.errorInstance).slice(0, 1500)); }
