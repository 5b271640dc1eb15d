/**
 * The bench workers' main-thread CPU reading (bench/main-thread-cpu.ts): a schedstat line that holds
 * no figure must give no figure, never 0 or NaN, so the bench prints '-' rather than a made-up split.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mainBetween, mainThreadMicros, schedstatMicros } from '../../bench/main-thread-cpu.js';

test('the first field of a schedstat line, ns to us', () => {
  assert.equal(schedstatMicros('1306344000 2500 17\n'), 1306344);
});

test('a kernel without sched_info ("0 0 0"), an empty file or garbage give no figure', () => {
  assert.equal(schedstatMicros('0 0 0\n'), undefined);
  assert.equal(schedstatMicros(''), undefined);
  assert.equal(schedstatMicros('n/a\n'), undefined);
});

test('no schedstat file: no figure, and no span from or to a missing reading', () => {
  assert.equal(mainThreadMicros('/nonexistent/schedstat'), undefined);
  assert.equal(mainBetween(undefined, 5), undefined);
  assert.equal(mainBetween(5, undefined), undefined);
  assert.equal(mainBetween(5, 12), 7);
});

test('a file of zeros read at both ends of the span gives no span (not a main thread that used 0 s)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'microtp-schedstat-'));
  try {
    const path = join(dir, 'schedstat');
    writeFileSync(path, '0 0 0\n');
    assert.equal(mainBetween(mainThreadMicros(path), mainThreadMicros(path)), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on Linux the real reading moves with the main thread', { skip: process.platform !== 'linux' && 'schedstat is Linux only' }, () => {
  const start = mainThreadMicros();
  assert.ok(start !== undefined && start > 0);
  const spinUntil = Date.now() + 20;
  while (Date.now() < spinUntil); // burn some CPU on this thread
  assert.ok((mainBetween(start, mainThreadMicros()) ?? 0) > 0);
});
