import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freeUdpPort, hasIPv6Loopback, listeningPort, run, start } from './cli.js';

/** `microtp send` / `microtp recv` as built commands on loopback: sha256 at both ends, --json, Ctrl-C. */

interface JsonReport {
  role: string;
  file: string;
  size: number;
  bytes: number;
  interrupted: boolean;
  error: string | null;
  sha256: { local: string | null; peer: string | null; match: boolean };
}

let dir: string;
let file: string;
let data: Buffer;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'microtp-cli-'));
  data = randomBytes(2 * 1024 * 1024 + 123);
  file = join(dir, 'payload.bin');
  writeFileSync(file, data);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('microtp send / recv', () => {
  test('--json at both ends: one JSON object each, sha256 equal and matching the file', async () => {
    const port = await freeUdpPort();
    const out = join(dir, 'json-out.bin');
    const receiver = start(['recv', '127.0.0.1', String(port), '-o', out, '--json']);
    await new Promise((resolve) => setTimeout(resolve, 300)); // --json prints no "listening" line
    const sender = await run(['send', file, '127.0.0.1', String(port), '--json']);
    const received = await receiver.done;
    assert.equal(sender.code, 0, sender.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.equal(sender.stderr, '');
    assert.equal(received.stderr, '');
    const sent = JSON.parse(sender.stdout.toString()) as JsonReport;
    const got = JSON.parse(received.stdout.toString()) as JsonReport;
    assert.equal(sender.stdout.toString().trim().split('\n').length, 1);
    const expected = sha256(data);
    assert.deepEqual(sent.sha256, { local: expected, peer: expected, match: true });
    assert.deepEqual(got.sha256, { local: expected, peer: expected, match: true });
    assert.equal(sent.bytes, data.length);
    assert.equal(got.size, data.length);
    assert.ok(readFileSync(out).equals(data));
  });

  test('human summaries on stderr name both sha256 and say they match', async () => {
    const out = join(dir, 'human-out.bin');
    const receiver = start(['recv', '127.0.0.1', '0', '-o', out]);
    const port = await listeningPort(receiver);
    const sender = await run(['send', file, '127.0.0.1', String(port)]);
    const received = await receiver.done;
    assert.equal(sender.code, 0, sender.stderr);
    assert.equal(received.code, 0, received.stderr);
    for (const text of [sender.stderr, received.stderr]) {
      assert.match(text, /sha256 match: OK/);
      assert.equal(text.match(new RegExp(sha256(data), 'g'))?.length, 2);
      assert.match(text, /MiB\/s average, \d+ retransmits/);
    }
    assert.doesNotMatch(sender.stderr, /\r/); // stderr is not a terminal: no progress line
  });

  test('IPv6: recv on ::1, send to [::1]; -o - writes the file to stdout', async (t) => {
    if (!(await hasIPv6Loopback())) return t.skip('no IPv6 loopback (::1) on this machine');
    const receiver = start(['recv', '::1', '0', '-o', '-']);
    const port = await listeningPort(receiver);
    const sender = await run(['send', file, '[::1]', String(port)]);
    const received = await receiver.done;
    assert.equal(sender.code, 0, sender.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.match(received.stderr, /listening on \[::1\]:\d+/);
    assert.ok(received.stdout.equals(data));
  });

  test('without -o the sender\'s name is used, and an existing file is never overwritten', async () => {
    const cwd = join(dir, 'cwd');
    rmSync(cwd, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'payload.bin'), 'keep me');
    const receiver = start(['recv', '127.0.0.1', '0'], { cwd });
    const port = await listeningPort(receiver);
    const sender = await run(['send', file, '127.0.0.1', String(port)]);
    const received = await receiver.done;
    assert.equal(received.code, 1);
    assert.match(received.stderr, /payload.bin exists \(choose another name with -o <file>\)/);
    assert.equal(sender.code, 1);
    assert.match(sender.stderr, /the peer refused: payload.bin exists/);
    assert.equal(readFileSync(join(cwd, 'payload.bin'), 'utf8'), 'keep me');
  });

  test('Ctrl-C on the sender mid-transfer: summary so far, exit 130; the receiver sees the reset', async () => {
    // The receiver writes to a stdout nobody reads: its window closes and the transfer stalls
    // part way, so the interrupt lands mid-transfer whatever the machine's speed.
    const receiver = start(['recv', '127.0.0.1', '0', '-o', '-'], { stallStdout: true });
    const port = await listeningPort(receiver);
    const sender = start(['send', file, '127.0.0.1', String(port)]);
    await receiver.waitStderr(/sends payload.bin/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    sender.child.kill('SIGINT');
    const sent = await sender.done;
    receiver.readStdout();
    assert.equal(sent.code, 130, sent.stderr);
    assert.match(sent.stderr, /^interrupted: sent .* of 2\.0 MiB to 127\.0\.0\.1:\d+/m);
    assert.match(sent.stderr, /sha256 at peer +\(not received\)/);
    const received = await receiver.done;
    assert.equal(received.code, 1);
    assert.match(received.stderr, /reset the connection/);
  });

  test('Ctrl-C on a receiver still waiting: summary, exit 130', async () => {
    const receiver = start(['recv', '127.0.0.1', '0']);
    await listeningPort(receiver);
    receiver.child.kill('SIGINT');
    const received = await receiver.done;
    assert.equal(received.code, 130);
    assert.match(received.stderr, /^interrupted: received 0 B from \(nobody\)/m);
  });

  test('a sender with nobody listening: explained, exit 1', async () => {
    // A live µTP endpoint that is not accepting: recv closes its listener after one connection.
    const receiver = start(['recv', '127.0.0.1', '0', '-o', '-'], { stallStdout: true });
    const port = await listeningPort(receiver);
    const first = start(['send', file, '127.0.0.1', String(port)]);
    await receiver.waitStderr(/sends payload.bin/);
    const second = await run(['send', file, '127.0.0.1', String(port), '--json']);
    assert.equal(second.code, 1);
    const report = JSON.parse(second.stdout.toString()) as JsonReport;
    assert.match(report.error ?? '', /refused the connection: nothing listens there/);
    first.child.kill('SIGINT');
    await first.done;
    receiver.readStdout();
    await receiver.done;
  });
});
