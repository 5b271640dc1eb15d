/**
 * `microtp plot`: the trace reader, the SVG renderer on a small synthetic trace (well-formed XML,
 * every panel and legend entry present, marks where the events are), and the command's exit codes
 * for wrong arguments.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { renderSvg } from '../../src/cli/plot/render-svg.js';
import { extractPlotData, parseTrace, TraceFormatError } from '../../src/cli/plot/trace-data.js';
import { sackRanges } from '../../src/trace/qlog-writer.js';

const root = mkdtempSync(join(tmpdir(), 'microtp-plot-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const HEADER = {
  qlog_version: '0.3',
  qlog_format: 'JSON-SEQ',
  trace: {
    common_fields: { time_format: 'relative', reference_time: 0, local_address: '10.0.0.1', local_port: 5000, remote_address: '10.0.0.2', remote_port: 6881, recv_id: 7 },
    vantage_point: { name: 'microtp', type: 'client' },
  },
};

/** 2 s of a sender: slow start, then at the target; a loss and its resend at 1 s, a timeout at 1.5 s. */
function syntheticEvents(): object[] {
  const events: object[] = [{ time: 0, name: 'utp:connection_state_updated', data: { old: null, new: 'syn-sent' } }];
  for (let t = 10, seq = 1; t <= 2000; t += 10, seq++) {
    events.push({ time: t, name: 'utp:packet_sent', data: { header: { packet_type: 'data', seq_nr: seq, ack_nr: 0, wnd_size: 1048576 }, raw: { length: 1400, payload_length: 1374 }, resend: false } });
    events.push({
      time: t + 5,
      name: 'utp:metrics_updated',
      data: { cwnd: Math.min(200_000, 2800 * 2 ** (t / 100)), bytes_in_flight: 50_000, smoothed_rtt: 60, latest_rtt: 55 + (t % 30), rtt_variance: 5, rto: 500, queuing_delay: Math.min(100, t / 5), base_delay: 20, target_delay: 100, slow_start: t < 500, peer_window: 1048576 },
    });
  }
  events.push({ time: 1000, name: 'utp:packet_lost', data: { seq_nr: 90, payload_length: 1374 } });
  events.push({ time: 1001, name: 'utp:packet_retransmitted', data: { packet_type: 'data', seq_nr: 90, payload_length: 1374 } });
  events.push({ time: 1001, name: 'utp:packet_sent', data: { header: { packet_type: 'data', seq_nr: 90 }, raw: { length: 1400, payload_length: 1374 }, resend: true } });
  events.push({ time: 1500, name: 'utp:timeout', data: { cwnd: 1400, rto: 1000, bytes_in_flight: 0 } });
  events.push({ time: 2001, name: 'utp:connection_state_updated', data: { old: 'connected', new: 'closed' } });
  return events;
}

function jsonSeq(records: object[]): string {
  return records.map((r) => `\x1e${JSON.stringify(r)}\n`).join('');
}

/** Checks that `svg` is well-formed XML as far as tags go: every element closed, in order. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let consumed = 0;
  for (const match of svg.matchAll(tag)) {
    const between = svg.slice(consumed, match.index);
    assert.ok(!between.includes('<') && !/&(?!amp;|lt;|gt;|quot;)/.test(between), `stray markup before ${match[0].slice(0, 40)}`);
    consumed = match.index + match[0].length;
    const [, closing, name, , selfClosing] = match;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  assert.equal(svg.slice(consumed).trim(), '', 'nothing after </svg>');
}

describe('plot: reading traces', () => {
  test('JSON-SEQ and NDJSON give the same events; a cut-short record is counted, not fatal', () => {
    const records = [HEADER, ...syntheticEvents()];
    const seq = parseTrace(jsonSeq(records));
    const nd = parseTrace(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    assert.equal(seq.events.length, records.length - 1);
    assert.deepEqual(nd.events, seq.events);
    assert.equal(seq.header.qlog_version, '0.3');
    const cut = parseTrace(jsonSeq(records).slice(0, -20));
    assert.equal(cut.skipped, 1);
    assert.throws(() => parseTrace('hello\nworld\n'), TraceFormatError);
  });

  test('selective ACK masks become seq_nr ranges (bit i acks ack + 2 + i, wrapping)', () => {
    assert.deepEqual(sackRanges(100, Uint8Array.of(0b0000_0111, 0, 0, 0b1000_0000)), [[102, 104], [133, 133]]);
    assert.deepEqual(sackRanges(0xfffe, Uint8Array.of(0b11, 0, 0, 0)), [[0, 1]]);
    assert.deepEqual(sackRanges(5, new Uint8Array(4)), []);
  });

  test('series: window, delay with target, rate bins, marks, slow-start exit', () => {
    const d = extractPlotData(parseTrace(jsonSeq([HEADER, ...syntheticEvents()])), { bin: 0.1 });
    assert.equal(d.title, 'µTP client 10.0.0.1:5000 → 10.0.0.2:6881 (recv_id 7)');
    assert.equal(d.cwnd.length, 201, 'one point per metrics event, plus the timeout');
    assert.deepEqual(d.losses, [1]);
    assert.deepEqual(d.retransmits, [1.001]);
    assert.deepEqual(d.timeouts, [1.5]);
    assert.equal(d.slowStartExit, 0.505);
    assert.equal(d.target[0]![1], 100);
    // Every new byte is in some bin, about 10 packets of 1374 bytes per 100 ms: 1.1 Mbit/s.
    const bytes = d.goodput.values.reduce((sum, v) => sum + (v * 1e6 * d.goodput.width) / 8, 0);
    assert.ok(Math.abs(bytes - 200 * 1374) < 1e-6, `${bytes} bytes in the bins`);
    assert.ok(Math.abs(d.goodput.values[7]! - 1.0992) < 0.12);
    assert.ok(d.sendRate.values[10]! > d.goodput.values[10]!, 'the resend counts in the send rate only');
  });
});

describe('plot: the SVG', () => {
  test('is well-formed and has every panel, legend entry and mark', () => {
    const svg = renderSvg(extractPlotData(parseTrace(jsonSeq([HEADER, ...syntheticEvents()]))));
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assertWellFormed(svg);
    for (const panel of ['window', 'delay', 'rate']) assert.ok(svg.includes(`data-panel="${panel}"`), panel);
    for (const text of ['window (KiB)', 'delay (ms)', 'rate (Mbit/s)', 'events', 'time (s)', 'cwnd', 'bytes in flight', 'smoothed RTT', 'queueing delay', 'target (100 ms)', 'new data sent', 'all data sent (with resends)', 'slow start ends', '1 timeout', 'µTP client 10.0.0.1:5000 → 10.0.0.2:6881']) {
      assert.ok(svg.includes(text), `has "${text}"`);
    }
    assert.equal((svg.match(/<polyline/g) ?? []).length >= 6, true, 'lines for window, delay and rates');
  });

  test('a receiver trace says why the window and delay panels are empty; a title option replaces the title', () => {
    const receiver = [
      { ...HEADER, trace: { ...HEADER.trace, vantage_point: { name: 'microtp', type: 'server' } } },
      ...Array.from({ length: 50 }, (_, i) => ({ time: i * 10, name: 'utp:packet_received', data: { header: { packet_type: 'data', seq_nr: i }, raw: { length: 1400, payload_length: 1374 }, verdict: 'valid' } })),
    ];
    const svg = renderSvg(extractPlotData(parseTrace(jsonSeq(receiver))), { title: 'A & B <test>' });
    assertWellFormed(svg);
    assert.ok(svg.includes('this side sent no data'));
    assert.ok(svg.includes('data received'));
    assert.ok(svg.includes('A &amp; B &lt;test&gt;'));
  });
});

describe('plot: the command', () => {
  /**
   * Runs the command's module in a child process (as main.ts would, with argv after `plot`):
   * its stdout and stderr are its own, not the test reporter's.
   */
  const commandUrl = new URL('../../src/cli/commands/plot.js', import.meta.url).href;
  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const script = `const m = await import(${JSON.stringify(commandUrl)}); process.exitCode = await m.default.run(process.argv.slice(1));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', ...argv], { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  test('wrong arguments: usage on stderr, exit code 2', async () => {
    for (const argv of [[], ['--bogus', 'x.sqlog'], ['a.sqlog', 'b.sqlog'], ['--bin', 'fast', 'a.sqlog'], ['--start', '-1', 'a.sqlog'], ['--start', '2', '--end', '1', 'a.sqlog'], ['-o']]) {
      const r = await run(argv);
      assert.equal(r.code, 2, `exit 2 for ${JSON.stringify(argv)}`);
      assert.match(r.stderr, /Usage: microtp plot/, `usage for ${JSON.stringify(argv)}`);
      assert.equal(r.stdout, '');
    }
  });

  test('--help on stdout with exit 0; a missing or foreign file exits 1 with the reason', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: microtp plot/);
    const missing = await run([join(root, 'nope.sqlog')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*ENOENT/);
    const foreign = join(root, 'foreign.txt');
    writeFileSync(foreign, 'not a trace\n');
    const bad = await run([foreign]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a qlog trace/);
  });

  test('writes the SVG next to the trace by default, or where -o says', async () => {
    const trace = join(root, 'run.sqlog');
    writeFileSync(trace, jsonSeq([HEADER, ...syntheticEvents()]));
    assert.equal((await run([trace])).code, 0);
    assert.match(readFileSync(join(root, 'run.svg'), 'utf8'), /^<svg/);
    const out = join(root, 'zoom.svg');
    assert.equal((await run([trace, '-o', out, '--start', '0.5', '--end', '1.5', '--bin', '50'])).code, 0);
    assert.ok(readFileSync(out, 'utf8').includes('bins of 50 ms'));
    const piped = await run([trace, '-o', '-']);
    assert.match(piped.stdout, /^<svg[\s\S]*<\/svg>\n$/);
  });
});
