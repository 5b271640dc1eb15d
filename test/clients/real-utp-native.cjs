// MEASUREMENT SWITCH, not an adapter: `node -r ./real-utp-native.cjs wt-driver.mjs ...` makes
// every require('utp-native') load the real libutp binding (utp-native@2.5.3, the microtp
// repo's own devDependency in the root node_modules) instead of the microtp link this
// package installs under that name. webtorrent's code is untouched either way; only the
// module behind the name changes, so the same driver times both stacks in one run
// (bench/webtorrent.ts). The pass/fail test never uses it.
'use strict';
const Module = require('node:module');
const path = require('node:path');

// Resolved from the repo root, where node_modules/utp-native is the real package (the
// clients dir's node_modules/utp-native is the symlink to the repo root, i.e. microtp).
const REAL = require.resolve('utp-native', { paths: [path.join(__dirname, '..', '..')] });
if (REAL.startsWith(path.join(__dirname, 'node_modules'))) {
  throw new Error(`real-utp-native.cjs: ${REAL} is the clients dir's own link, not the real utp-native`);
}
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'utp-native' ? REAL : resolve.call(this, request, ...rest);
};
