import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { hasIPv6Loopback, listeningPort, run, start } from './cli.js';

/**
 * `microtp listen` / `microtp connect` as netcat over µTP, run as built commands on loopback:
 * bytes go through exactly, each side's EOF half-closes while the other side goes on sending.
 */

async function pipeBothWays(host: string, connectHost: string, toListener: Buffer, toConnector: Buffer): Promise<void> {
  const listener = start(['listen', host, '0'], { stdin: toConnector });
  const port = await listeningPort(listener);
  const connector = await run(['connect', connectHost, String(port)], { stdin: toListener });
  const listened = await listener.done;
  assert.equal(connector.code, 0, connector.stderr);
  assert.equal(listened.code, 0, listened.stderr);
  assert.ok(listened.stdout.equals(toListener), `listener got ${listened.stdout.length} of ${toListener.length} bytes`);
  assert.ok(connector.stdout.equals(toConnector), `connector got ${connector.stdout.length} of ${toConnector.length} bytes`);
}

describe('microtp listen / connect', () => {
  // Each direction's EOF comes while the other direction still has most of its data to send:
  // the FIN must only end that direction (half-close), not the connection.
  test('byte-exact both ways; the connector ends first, the listener keeps sending', async () => {
    await pipeBothWays('127.0.0.1', '127.0.0.1', randomBytes(1000), randomBytes(3 * 1024 * 1024 + 7));
  });

  test('byte-exact both ways; the listener ends first, the connector keeps sending', async () => {
    await pipeBothWays('127.0.0.1', '127.0.0.1', randomBytes(3 * 1024 * 1024 + 11), randomBytes(0));
  });

  test('IPv6: listen on ::1, connect to [::1]', async (t) => {
    if (!(await hasIPv6Loopback())) return t.skip('no IPv6 loopback (::1) on this machine');
    await pipeBothWays('::1', '[::1]', randomBytes(200_000), randomBytes(100_000));
  });

  test('a name is resolved: connect localhost', async () => {
    await pipeBothWays('127.0.0.1', 'localhost', Buffer.from('hello\n'), Buffer.from('world\n'));
  });

  test('-k serves one connection after another, each to stdout in turn; Ctrl-C ends it with 130', async () => {
    const listener = start(['listen', '127.0.0.1', '0', '-k']);
    const port = await listeningPort(listener);
    const first = randomBytes(300_000);
    const second = randomBytes(200_000);
    for (const data of [first, second]) {
      const connector = await run(['connect', '127.0.0.1', String(port)], { stdin: data });
      assert.equal(connector.code, 0, connector.stderr);
    }
    await listener.waitStderr(/closed \(200000 bytes received\)/);
    listener.child.kill('SIGINT');
    const listened = await listener.done;
    assert.equal(listened.code, 130, listened.stderr);
    assert.ok(listened.stdout.equals(Buffer.concat([first, second])));
    assert.equal(listened.stderr.match(/connection from/g)?.length, 2);
  });

  test('without -k: one connection; a second one is refused (explained, exit 1); Ctrl-C on connect: 130', async () => {
    // Both ends keep stdin open, so the first connection stays up while the second knocks.
    const listener = start(['listen', '127.0.0.1', '0'], { stdin: 'keep' });
    const port = await listeningPort(listener);
    const first = start(['connect', '127.0.0.1', String(port)], { stdin: 'keep' });
    first.child.stdin!.write('one');
    await listener.waitStdout(/one/);
    const refused = await run(['connect', '127.0.0.1', String(port)], { stdin: 'two' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /127\.0\.0\.1:\d+ refused the connection: nothing listens there/);
    first.child.kill('SIGINT');
    assert.equal((await first.done).code, 130);
    const listened = await listener.done; // the connection was reset: it ends, with an error
    assert.equal(listened.code, 1);
    assert.match(listened.stderr, /reset the connection/);
    assert.equal(listened.stdout.toString(), 'one');
  });
});
