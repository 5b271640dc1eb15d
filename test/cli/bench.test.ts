import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { run, start } from './cli.js';

/** `microtp bench`: the loopback self-test and a remote sink. Shapes only: no timing assertions. */

describe('microtp bench', () => {
  test('loopback: a pasteable Markdown table with versions, throughput, latency and retransmits', async () => {
    const r = await run(['bench', '--size', '4', '--pings', '5']);
    assert.equal(r.code, 0, r.stderr);
    const table = r.stdout.toString();
    assert.match(table, /^\| microtp bench \| \|\n\|---\|---\|\n/);
    assert.match(table, /^\| microtp \| \d+\.\d+\.\d+ \|$/m);
    assert.match(table, new RegExp(`^\\| node \\| ${process.version} \\|$`, 'm'));
    assert.match(table, /^\| throughput \| [\d.]+ MiB\/s \(4\.0 MiB in [\d.]+ s\) \|$/m);
    assert.match(table, /^\| ping-pong \| median [\d.]+ ms, p90 [\d.]+ ms \(5 round trips of 64 B\) \|$/m);
    assert.match(table, /^\| retransmits \| \d+ \(fast \d+, timeouts \d+\) \|$/m);
    assert.match(table, /loopback, sink in a child process/);
  });

  test('--json against a sink started with bench --serve', async () => {
    const sink = start(['bench', '--serve', '0', '--host', '127.0.0.1']);
    const port = Number((await sink.waitStdout(/sink listening on 127\.0\.0\.1:(\d+)/))[1]);
    const r = await run(['bench', '127.0.0.1', String(port), '--size', '2', '--pings', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.toString()) as Record<string, unknown> & { size: number; rate: number; pingMs: { count: number } };
    assert.equal(report.size, 2 * 1024 * 1024);
    assert.ok(report.rate > 0);
    assert.equal(report.pingMs.count, 3);
    assert.equal(report['where'], 'remote sink');
    assert.equal(report['node'], process.version);
    sink.child.kill('SIGINT');
    assert.equal((await sink.done).code, 0);
  });
});
