/**
 * The throughput benches' medians and ratios (bench/transfer.ts), on made-up transfer results: the
 * main-thread split of each side's CPU (the rest is V8's compiler and GC threads) must reach the
 * medians and the ratio lines when the workers measured it, and stay out of the table when they
 * could not (no /proc schedstat).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coresBusy, printSummary, resultLine, summarize, type TransferResult } from '../../bench/transfer.js';

function result(stack: TransferResult['stack'], run: number, cpu: number, main: number | undefined): TransferResult {
  const r: TransferResult = { stack, run, ok: true, bytesReceived: 1, mibPerSec: 100 + run, senderCpuSecPerGiB: cpu, receiverCpuSecPerGiB: cpu + 1 };
  if (main !== undefined) Object.assign(r, { senderMainCpuSecPerGiB: main, receiverMainCpuSecPerGiB: main + 1 });
  return r;
}

function printed(fn: () => void): string {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(' '));
  try {
    fn();
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

describe('main-thread CPU in the bench summary', () => {
  test('medians of the main-thread figures, and their ratios beside the totals', () => {
    const results = [result('microtp', 1, 8, 6), result('microtp', 2, 9, 7), result('microtp', 3, 7, 5), result('utp-native', 1, 7, 7), result('utp-native', 2, 7, 7), result('utp-native', 3, 7, 7)];
    const [ours, libutp] = summarize(['microtp', 'utp-native'], results, 3);
    assert.equal(ours?.senderMainCpuSecPerGiB, 6);
    assert.equal(ours?.receiverMainCpuSecPerGiB, 7);
    assert.equal(libutp?.senderMainCpuSecPerGiB, 7);
    const out = printed(() => printSummary([ours!, libutp!]));
    assert.match(out, /main thread: send {3}recv/);
    assert.match(out, /vs utp-native +throughput x1\.00 {2}sender CPU x1\.14 {2}receiver CPU x1\.13 {2}\(main threads: sender x0\.86 receiver x0\.88\)/);
    assert.match(resultLine(results[0]!), /CPU s\/GiB sender 8\.00 receiver 9\.00 \(main threads 6\.00 and 7\.00\);?/);
  });

  test('without the split (no schedstat), the table and lines look as before', () => {
    const results = [result('microtp', 1, 8, undefined), result('udx-native', 1, 8, undefined)];
    const out = printed(() => printSummary(summarize(['microtp', 'udx-native'], results, 1)));
    assert.doesNotMatch(out, /main thread/);
    assert.match(out, /receiver CPU x1\.00$/m);
    // bench/gauge/ab-refs.ts parses this prefix of the line.
    assert.match(resultLine(results[0]!), /^101\.0 MiB\/s, CPU s\/GiB sender 8\.00 receiver 9\.00$/);
  });
});

describe('main-thread CPU measured on one side only', () => {
  function oneSided(side: 'sender' | 'receiver'): TransferResult {
    const r = result('microtp', 1, 8, undefined);
    if (side === 'sender') r.senderMainCpuSecPerGiB = 6;
    else r.receiverMainCpuSecPerGiB = 7;
    return r;
  }

  test("a transfer's line keeps the receiver's figure when the sender has none", () => {
    assert.match(resultLine(oneSided('receiver')), /\(main threads - and 7\.00\)/);
    assert.match(resultLine(oneSided('sender')), /\(main threads 6\.00 and -\)/);
  });

  test('the table shows the main-thread columns when only the receivers measured them', () => {
    const results = [oneSided('receiver'), { ...oneSided('receiver'), stack: 'utp-native' as const, receiverMainCpuSecPerGiB: 14 }];
    const out = printed(() => printSummary(summarize(['microtp', 'utp-native'], results, 1)));
    assert.match(out, /main thread: send {3}recv/);
    assert.match(out, /\(main threads: sender x- receiver x0\.50\)/);
    assert.doesNotMatch(out, /NaN/);
  });
});

describe('cores busy in the bench summary', () => {
  test('end-to-end MiB/s times both sides CPU per GiB, the median over transfers', () => {
    const r = (run: number, e2e: number, cpu: number): TransferResult => ({ ...result('microtp', run, cpu, undefined), e2eMibPerSec: e2e });
    // 1024 MiB/s at 1 + 1 CPU-seconds per GiB keeps two cores busy.
    assert.equal(coresBusy({ ...r(1, 1024, 1), senderCpuSecPerGiB: 1, receiverCpuSecPerGiB: 1 }), 2);
    // Per transfer 0.375, 0.8125 and 15.25 cores (CPU 1+2, 6+7, 30+31): the median is 0.8125. The
    // product of the medians (128 MiB/s, 13 s/GiB) would give 1.625.
    const [ours] = summarize(['microtp'], [r(1, 128, 1), r(2, 64, 6), r(3, 256, 30)], 3);
    assert.equal(ours?.coresBusy, 0.8125);
    assert.match(printed(() => printSummary([ours!])), /cores busy\n.* 0\.81$/m);
  });

  test('a transfer without an end-to-end rate or a side CPU counts for nothing', () => {
    assert.equal(coresBusy(result('microtp', 1, 6, undefined)), undefined);
    const oneSided: TransferResult = { ...result('microtp', 1, 6, undefined), e2eMibPerSec: 100 };
    delete oneSided.receiverCpuSecPerGiB;
    assert.equal(coresBusy(oneSided), undefined);
    assert.match(printed(() => printSummary(summarize(['microtp'], [result('microtp', 1, 6, undefined)], 1))), / -$/m);
  });
});
