import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * utp-native's own tape suites (vendored unchanged but for the require line, in
 * test/compat/utp-native-suite/) run against microtp: each file in a child `node`, where
 * `require('utp-native')` resolves through node_modules/utp-native -> the repository, i.e. the
 * package's `require` entry (dist/, built by `npm test`), exactly as `npm install
 * utp-native@npm:microtp` would. skip.cjs skips the tests below by name, and fails the run if a
 * name matches no test; every other test must pass, and nothing may be written to stderr (a
 * require(esm) warning would be).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const suite = path.join(root, 'test/compat/utp-native-suite');

const ANNOUNCED_ON_PROOF =
  "microtp announces an incoming connection once the initiator's first packet after the SYN-ACK proves its address (anti-spoofing), libutp on the SYN";
const UNREAD_DATA =
  "'end', and so 'close', wait until received data is read (stream rules, as net); utp-native closed a connection once both FINs were exchanged, dropping unread data";

/** Tests that cannot pass because of a deliberate, documented difference (README, "Switching from utp-native"). */
const SKIPS: Record<string, Record<string, string>> = {
  'net.js': {
    'server + connect': `asserts the server saw 'connection' before the client's 'connect': ${ANNOUNCED_ON_PROOF}`,
    'server + connect with resolve': 'same as "server + connect"',
    'server immediate close': `the client never reads the server's data: ${UNREAD_DATA}`,
  },
  'sockets.js': {},
  'udp.js': {},
  'timeouts.js': {
    'connection timeout. this may take >20s':
      "asserts err.message === 'UTP_ETIMEDOUT': microtp errors carry POSIX codes as net does (code 'ETIMEDOUT', message 'uTP connect timed out'); it also takes 7 s",
    'write timeout. this may take >20s':
      "asserts 'UTP_ETIMEDOUT': microtp answers data for a connection it closed with a RESET, so the client gets ECONNRESET at once instead of timing out",
    'server max connections. this may take >20s': `the third client connects before the server counts the second (${ANNOUNCED_ON_PROOF}), and is refused only at that proof; and the server never reads, so its connections stay open after the clients' destroy() and get reset (${UNREAD_DATA}). utp-native.test.ts covers maxConnections`,
  },
};

/** node_modules/utp-native in the suite's folder -> the repository (gitignored; made here). */
function linkPackage(): void {
  const link = path.join(suite, 'node_modules/utp-native');
  mkdirSync(path.dirname(link), { recursive: true });
  let current: string | undefined;
  try {
    current = readlinkSync(link);
  } catch {
    current = undefined;
  }
  if (current === undefined) symlinkSync(path.relative(path.dirname(link), root), link, 'dir');
}

function run(file: string, skips: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', './skip.cjs', file],
      { cwd: suite, env: { ...process.env, UTP_NATIVE_SUITE_SKIP: JSON.stringify(skips) }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

for (const [file, skips] of Object.entries(SKIPS)) {
  test(`utp-native's ${file} passes against microtp (skipped by name: ${Object.keys(skips).length})`, { timeout: 90_000 }, async () => {
    linkPackage();
    const { code, stdout, stderr } = await run(file, skips);
    assert.equal(stderr, '', 'nothing on stderr (no warning, no crash)');
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^# ok$/m);
    assert.doesNotMatch(stdout, /^not ok/m);
    const skipped = stdout.split('\n').filter((line) => line.startsWith('# SKIP '));
    assert.equal(skipped.length, Object.keys(skips).length, `skipped exactly the listed tests:\n${skipped.join('\n')}`);
  });
}
