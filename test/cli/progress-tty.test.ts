import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, listeningPort, start } from './cli.js';

/**
 * The live progress line needs stderr to be a terminal, so the command runs under a
 * pseudo-terminal: util-linux `script`, or python3's pty module where script is missing.
 */

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

/** argv that runs `args` (node dist/cli/main.js ...) under a pty, its output on our stdout; or the reason why not. */
function underPty(args: string[]): string[] | string {
  const command = [process.execPath, CLI, ...args];
  if (spawnSync('script', ['--version']).status === 0) {
    return ['script', '-qfec', command.map(quote).join(' '), '/dev/null'];
  }
  if (spawnSync('python3', ['-c', 'import pty']).status === 0) {
    return ['python3', '-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', ...command];
  }
  return 'no pseudo-terminal tool: neither util-linux script nor python3 is installed';
}

function runUnder(argv: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

let dir: string;
let file: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'microtp-tty-'));
  file = join(dir, 'eight.bin');
  writeFileSync(file, randomBytes(8 * 1024 * 1024));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('microtp progress line on a terminal', () => {
  test('send and recv under a pty draw a \\r-separated progress line with %, MiB/s, ETA and rtt', async (t) => {
    const probe = underPty([]);
    if (typeof probe === 'string') return t.skip(probe);
    const receiverArgv = underPty(['recv', '127.0.0.1', '0', '-o', join(dir, 'out.bin')]) as string[];
    // The receiver under a pty too: its "listening" line (with the port) arrives on our stdout.
    const receiver = spawn(receiverArgv[0]!, receiverArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = '';
    receiver.stdout.setEncoding('utf8').on('data', (s: string) => (received += s));
    const receiverDone = new Promise<number | null>((resolve) => receiver.on('close', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      const check = (): void => {
        const match = /listening on \S*:(\d+)/.exec(received);
        if (match) resolve(Number(match[1]));
      };
      receiver.stdout.on('data', check);
      receiver.on('close', () => reject(new Error(`receiver exited: ${received}`)));
    });

    const sender = await runUnder(underPty(['send', file, '127.0.0.1', String(port)]) as string[]);
    assert.equal(sender.code, 0, sender.output);
    assert.equal(await receiverDone, 0, received);

    for (const [who, output] of [['send', sender.output], ['recv', received]] as const) {
      const redraws = output.split('\r').filter((segment) => segment.startsWith(`${who} eight.bin`));
      assert.ok(redraws.length >= 1, `${who}: no progress line in ${JSON.stringify(output.slice(0, 500))}`);
      const last = redraws.at(-1)!;
      assert.match(last, /8\.0 MiB \/ 8\.0 MiB {2}100% {2}[\d.]+ MiB\/s {2}ETA \d+:\d\d/, who);
      assert.match(output, /sha256 match: OK/, who);
    }
    // The sender's line carries the connection's view too.
    assert.match(sender.output, /rtt [\d.]+ ms {2}cwnd [\d.]+ (KiB|MiB) {2}qdelay [\d.]+ ms/);
  });

  test('with --json nothing but the JSON object, even on a terminal', async (t) => {
    const probe = underPty([]);
    if (typeof probe === 'string') return t.skip(probe);
    const receiver = start(['recv', '127.0.0.1', '0', '-o', join(dir, 'out2.bin')]);
    const port = await listeningPort(receiver);
    const sender = await runUnder(underPty(['send', file, '127.0.0.1', String(port), '--json']) as string[]);
    assert.equal(sender.code, 0, sender.output);
    assert.doesNotMatch(sender.output, /\r(?!\n)/); // a pty turns \n into \r\n; no bare \r redraws
    const report = JSON.parse(sender.output.trim()) as { sha256: { match: boolean } };
    assert.equal(report.sha256.match, true);
    assert.equal((await receiver.done).code, 0);
  });
});
