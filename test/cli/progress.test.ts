/**
 * The progress line's arithmetic (src/cli/progress.ts), on a clock of the test's own: what the
 * last line says when the transfer's last bytes came long before it ended.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Progress } from '../../src/cli/progress.js';

const MiB = 1024 * 1024;

/**
 * A Progress on a terminal that keeps what is written to it, on the test's clock: `advance(ms)`
 * moves the clock and fires the redraw timer (node:test's mock timers) as often as it falls due.
 */
function driven(t: TestContext, label: string, total: number) {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let clock = 0;
  const written: string[] = [];
  const stream = { isTTY: true, columns: 200, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream;
  const progress = new Progress({ stream, label, total, show: 'receiver', now: () => clock });
  progress.start();
  return {
    progress,
    advance(ms: number): void {
      for (let step = 0; step < ms; step += 250) {
        clock += 250;
        t.mock.timers.tick(250);
      }
    },
    /** Each redraw starts with \r; what follows up to the erase-to-end-of-line code is the line. */
    lines: (): string[] => written.filter((s) => s.startsWith('\r')).map((s) => s.slice(1).replace('\x1b[K', '')),
  };
}

test("the last line shows the whole transfer's average rate and ETA 0:00, even when its last bytes came seconds before it ended", (t) => {
  // A sender that wrote everything in 1 s and then waited 4 s for its FIN to be acked (a loaded
  // CI machine): over the last 2 s nothing moved, and the line ended "0.0 MiB/s  ETA -:--".
  const { progress, advance, lines } = driven(t, 'send eight.bin', 8 * MiB);
  advance(750);
  progress.update(8 * MiB);
  advance(4250);
  assert.match(lines().at(-1)!, /100% {2}0\.0 MiB\/s {2}ETA 0:00/, 'while waiting: nothing moves now, nothing is left');
  progress.stop();
  const last = lines().at(-1)!;
  assert.match(last, /8\.0 MiB \/ 8\.0 MiB {2}100% {2}1\.6 MiB\/s {2}ETA 0:00/, last);
});

test('while bytes still come, the rate is over the last 2 s and the ETA follows it', (t) => {
  const { progress, advance, lines } = driven(t, 'recv x', 10 * MiB);
  for (let i = 1; i <= 12; i++) {
    progress.update((i - 1) * 0.25 * MiB); // 1 MiB/s
    advance(250);
  }
  progress.update(3 * MiB);
  advance(250);
  assert.match(lines().at(-1)!, /3\.0 MiB \/ 10\.0 MiB {2}30% {2}1\.0 MiB\/s {2}ETA 0:07/);
  progress.stop();
});
