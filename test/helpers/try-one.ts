import { runScenario } from './scenario.js';
import { Pair } from './pair.js';
import { typeName } from './sim-network.js';
const s = JSON.parse(process.argv[2]!);
const orig = Pair.prototype.finish;
let pairRef: Pair | undefined;
Pair.prototype.finish = function (this: Pair, o) { pairRef = this; return orig.call(this, o); };
const cap: any[] = [];
const origAdvance = Pair.prototype.advance;
try { runScenario(s, { liveness: process.argv[3] !== 'noliveness' }); console.log('ok'); } catch (e) { console.log(String(e).slice(0, 2000)); }
