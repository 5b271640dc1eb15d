import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * `require('microtp')` from a real CommonJS file, through node_modules links named microtp and
 * utp-native (what `npm install utp-native@npm:microtp` makes): the package's `exports` and its
 * CommonJS entry in dist/ (built by `npm test`), in a child `node` whose stderr must stay empty
 * (require(esm) must not warn on the supported Node versions).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const project = mkdtempSync(path.join(tmpdir(), 'microtp-require-'));
after(() => rmSync(project, { recursive: true, force: true }));

const CHECK = String.raw`
const assert = require('node:assert/strict')
const utp = require('utp-native')
assert.equal(typeof utp, 'function', 'module.exports is the callable utp()')
assert.equal(typeof utp.createServer, 'function')
assert.equal(typeof utp.connect, 'function')
// webtorrent decides whether it has uTP with Object.keys(require('utp-native')).length > 0.
assert.deepEqual(Object.keys(utp).sort(), ['connect', 'createServer'])
assert.equal(require('microtp'), utp, 'the same module under both names')
assert.equal(require('microtp/utp-native'), utp)
const socket = utp()
for (const name of ['bind', 'listen', 'connect', 'send', 'address', 'close', 'firewall', 'setTTL',
  'setSendBufferSize', 'setRecvBufferSize', 'getSendBufferSize', 'getRecvBufferSize', 'ref', 'unref', 'on']) {
  assert.equal(typeof socket[name], 'function', name)
}
assert.deepEqual(socket.connections, [])
assert.equal(socket.maxConnections, 0)
assert.ok(utp.createServer() instanceof utp)
import('microtp')
  .then((microtp) => {
    // import keeps the net-like API.
    for (const name of ['createServer', 'connect', 'createSocket', 'Socket', 'Server', 'SharedSocket']) {
      assert.equal(typeof microtp[name], 'function', name)
    }
    return import('microtp/utp-native')
  })
  .then((compat) => {
    assert.equal(compat.default, utp, 'import and require share one instance (no dual package)')
    console.log('ok')
  })
`;

function run(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: project, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("require('utp-native') aliased to microtp, and require('microtp'): utp-native's callable API, silently", { timeout: 30_000 }, async () => {
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(root, path.join(project, 'node_modules/utp-native'), 'dir');
  symlinkSync(root, path.join(project, 'node_modules/microtp'), 'dir');
  writeFileSync(path.join(project, 'check.cjs'), CHECK);
  const { code, stdout, stderr } = await run('check.cjs');
  assert.equal(stderr, '');
  assert.equal(code, 0);
  assert.equal(stdout, 'ok\n');
});
