// Preloaded (node --require) by the runner: skips, by name, the utp-native tests that cannot pass
// because of a deliberate, documented difference (the reasons are in ../utp-native-suite.test.ts
// and the README). Names listed here must exist: an unknown one fails the run.
const path = require('node:path')
const tapePath = require.resolve('tape')
const tape = require(tapePath)
const skips = JSON.parse(process.env.UTP_NATIVE_SUITE_SKIP || '{}')
const seen = new Set()
function wrapped (name, ...rest) {
  if (typeof name === 'string' && Object.prototype.hasOwnProperty.call(skips, name)) {
    seen.add(name)
    // tape 4 prints nothing for a skipped test: say it here, in TAP's comment syntax.
    console.log('# SKIP ' + name + ' -- ' + skips[name])
    return tape.skip(name, ...rest)
  }
  return tape(name, ...rest)
}
Object.assign(wrapped, tape)
require.cache[tapePath].exports = wrapped
// The suite must test microtp, not the real utp-native installed as a devDependency.
const resolved = require.resolve('utp-native', { paths: [__dirname] })
if (!resolved.startsWith(path.resolve(__dirname, '../../..') + path.sep + 'dist' + path.sep)) {
  throw new Error('utp-native resolves to ' + resolved + ', not to microtp')
}
tape.onFinish(() => {
  for (const name of Object.keys(skips)) if (!seen.has(name)) {
    console.log('not ok - skip list names an unknown test: ' + name)
    process.exitCode = 1
  }
})
