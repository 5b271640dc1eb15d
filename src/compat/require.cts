/**
 * The CommonJS entry (`require('microtp')`, `require('microtp/utp-native')`, and
 * `require('utp-native')` once aliased to microtp): utp-native's callable API.
 *
 * It loads the ES module itself (require(esm), unflagged and silent since Node 20.19) instead of a
 * second, CommonJS build: one copy of the code, so `import` and `require` users in one process
 * share one module instance (no dual-package hazard: one utp.connect pool, one set of classes).
 */
// A type-only import with resolution-mode (TypeScript 5.3+), not `import x = require()`, which
// TypeScript before 5.8 rejects in the emitted .d.cts when the target is an ES module.
import type { Utp } from './utp-native.js' with { 'resolution-mode': 'import' };

const utp = (require('./utp-native.js') as { default: Utp }).default;
export = utp;
