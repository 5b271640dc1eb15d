/**
 * The CommonJS entry (`require('microtp')`, `require('microtp/utp-native')`, and
 * `require('utp-native')` once aliased to microtp): utp-native's callable API.
 *
 * It loads the ES module itself (require(esm), unflagged and silent since Node 20.19) instead of a
 * second, CommonJS build: one copy of the code, so `import` and `require` users in one process
 * share one module instance (no dual-package hazard: one utp.connect pool, one set of classes).
 */
import compat = require('./utp-native.js');

export = compat.default;
