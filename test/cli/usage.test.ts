import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { run } from './cli.js';

/** The dispatcher and argument checks of the built `microtp` command: usage, exit 2, help. */

describe('microtp usage', () => {
  test('no command: overall usage on stderr, exit 2', async () => {
    const r = await run([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Usage: microtp <command>/);
    for (const name of ['listen', 'connect', 'send', 'recv', 'bench']) assert.match(r.stderr, new RegExp(`^  ${name} `, 'm'));
  });

  test('unknown command: says so, lists the commands, exit 2', async () => {
    const r = await run(['sned', 'a', 'b']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "sned"/);
    assert.match(r.stderr, /microtp <command> --help/);
  });

  test('--help for each command: its usage on stdout, exit 0', async () => {
    for (const name of ['listen', 'connect', 'send', 'recv', 'bench']) {
      const r = await run([name, '--help']);
      assert.equal(r.code, 0, name);
      assert.match(r.stdout.toString(), new RegExp(`^Usage: microtp ${name}`), name);
      assert.match(r.stdout.toString(), /Example/, name);
    }
    const viaHelp = await run(['help', 'recv']);
    assert.equal(viaHelp.code, 0);
    assert.match(viaHelp.stdout.toString(), /^Usage: microtp recv/);
  });

  test('--version names the package version and node', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), /^microtp \d+\.\d+\.\d+ \(node v\d+/);
  });

  const wrong: Array<[string[], RegExp]> = [
    [['send', 'file.bin', '127.0.0.1'], /expected <file> <host> <port>/],
    [['send', 'file.bin', '127.0.0.1', '6881', 'extra'], /too many arguments: extra/],
    [['connect', '127.0.0.1', '70000'], /port must be a whole number from 1 to 65535, got "70000"/],
    [['connect', '127.0.0.1', '0'], /from 1 to 65535, got "0"/],
    [['listen', 'http'], /port must be a whole number from 0 to 65535, got "http"/],
    [['recv'], /a port is missing/],
    [['recv', '6881', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['recv', '6881', '-o'], /argument missing|requires an argument/i],
    [['bench', '--size', 'lots'], /--size must be a positive number, got "lots"/],
    [['bench', '127.0.0.1'], /expected no arguments \(loopback\) or <host> <port>/],
  ];
  for (const [args, message] of wrong) {
    test(`wrong arguments: microtp ${args.join(' ')} -> message, usage, exit 2`, async () => {
      const r = await run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, new RegExp(`Usage: microtp ${args[0]}`));
      assert.equal(r.stdout.length, 0);
    });
  }

  test('a file that is not there: a plain message, exit 1 (not a usage error)', async () => {
    const r = await run(['send', '/nonexistent/file.bin', '127.0.0.1', '6881']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read \/nonexistent\/file.bin \(ENOENT\)/);
    assert.doesNotMatch(r.stderr, /Usage:|    at /);
  });

  test('a host that does not resolve: a plain message, exit 1', async () => {
    const r = await run(['connect', 'no-such-host.invalid', '6881']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot resolve host "no-such-host.invalid"/);
  });
});
