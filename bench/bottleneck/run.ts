// Bottleneck bench: bulk µTP transfers through a real kernel bottleneck (tbf on a router
// namespace, see netns.ts), for microtp and libutp (utp-native), measuring for each
// (rate, queue) point:
//   - goodput of the transfer as a fraction of the link rate, over a measurement window;
//   - the queueing delay it adds, seen by a small UDP ping (sender ns -> echo in receiver ns,
//     through the same tbf queue): RTT minus the base RTT measured before the transfer;
//   - with a competing TCP cubic flow (Python, TCP_CONGESTION=cubic on its own socket), the
//     µTP flow's share of what both got;
//   - several flows of one stack sharing the link (latecomer, four flows: multi-flow.ts).
// The microtp sender records socket.stats() every 100 ms; at one point (default 20 Mbit/s,
// 400 ms) an SVG plot (PNG too when rsvg-convert is installed) of cwnd and delay over time is
// written to bench/results/.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`), `ip`, `tc`, python3. Run alone with
// `node build/bench/bottleneck/run.js` after `npx tsc -p tsconfig.all.json`. Env (README.md has them all):
//   BOTTLENECK_SCENARIOS    default alone,compete,latecomer,four
//   BOTTLENECK_MICROTP_CC   ledbat | ledbat++: microtp's congestionControl (unset: library default)
//   BOTTLENECK_LATECOMER_*, BOTTLENECK_FOUR_*, BOTTLENECK_MULTI_*: see multi-flow.ts
//   BOTTLENECK_RATES        Mbit/s list           default 5,20,50
//   BOTTLENECK_QUEUES_MS    queue sizes in ms     default 200,400,1000 (bytes = rate x time)
//   BOTTLENECK_SECONDS      transfer length       default 20 (measured after BOTTLENECK_WARMUP_S, default 5)
//   BOTTLENECK_STACKS       default microtp,utp-native; 'cubic' adds a TCP-cubic-alone reference
//   BOTTLENECK_COMPETE      rate:queue list for runs against TCP cubic, 'all' or 'none'; default 20:400
//   BOTTLENECK_COMPETE_SECONDS  default 30, measured over the middle (BOTTLENECK_COMPETE_TRIM_S=5 cut each end)
//   BOTTLENECK_PING_HZ      default 20;  BOTTLENECK_BASE_S  idle pings before each transfer, default 2
//   BOTTLENECK_PLOT         rate:queue to plot, default 20:400, or 'none'
//   BOTTLENECK_JSON=1       also write bench/results/bottleneck-<date>.json (with the time series)
//   BOTTLENECK_PYTHON       default /usr/bin/python3 when present, else python3
//   BOTTLENECK_REQUIRE=1    exit 1 (instead of 0 with "skipped") when namespaces cannot be made
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { list, names, num } from '../env.js';
import { Child, killAllNow, PathRun, TCP_PORT, utpReceiver, utpSender, type MicrotpCc, type UtpStack } from './harness.js';
import { goodputMbit, parseBytes, parseStats, rateSeries, round, type DelayStats } from './metrics.js';
import { multiConfigFromEnv, multiFlowEstimateS, multiFlowLine, multiFlowPlan, multiFlowReport, plotMultiFlow, runMultiFlow, type MultiConfig, type MultiRunResult, type MultiScenario } from './multi-flow.js';
import { NS, RECEIVER_ADDR, createNamespaces, removeNamespaces, tbfFor, type TbfConfig } from './netns.js';
import { renderSvg, type Panel, type Series } from './plot.js';
import { fmt, STACK_LABEL, textTable, writePlot } from './report.js';
import { TCP_PY } from './tcp.js';

export type FlowStack = 'microtp' | 'utp-native' | 'cubic';
const FLOW_STACKS: readonly FlowStack[] = ['microtp', 'utp-native', 'cubic'];
export type Scenario = 'alone' | 'compete' | MultiScenario;
const SCENARIOS: readonly Scenario[] = ['alone', 'compete', 'latecomer', 'four'];
const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url)); // build/bench/bottleneck -> bench/results

// ---------------------------------------------------------------- configuration

type PointKey = `${number}:${number}`;
const key = (rate: number, queue: number): PointKey => `${rate}:${queue}`;
function points(name: string, def: string): Set<PointKey> | 'all' {
  const raw = (process.env[name] ?? def).trim();
  if (raw === 'all') return 'all';
  if (raw === '' || raw === 'none') return new Set();
  return new Set(
    raw.split(',').map((p) => {
      const [r, q] = p.split(':').map(Number);
      if (!(r! > 0) || !(q! > 0)) throw new Error(`${name}: expected rate:queueMs pairs, got '${raw}'`);
      return key(r!, q!);
    }),
  );
}

export interface Config {
  scenarios: Scenario[];
  microtpCc: MicrotpCc;
  multi: MultiConfig;
  rates: number[];
  queuesMs: number[];
  seconds: number;
  warmupS: number;
  stacks: FlowStack[];
  compete: Set<PointKey> | 'all';
  competeSeconds: number;
  competeTrimS: number;
  pingHz: number;
  baseS: number;
  plot: Set<PointKey> | 'all';
  json: boolean;
  python: string;
}

export function configFromEnv(): Config {
  const stacks = (process.env.BOTTLENECK_STACKS ?? 'microtp,utp-native').split(',').map((s) => s.trim()) as FlowStack[];
  for (const s of stacks) if (!FLOW_STACKS.includes(s)) throw new Error(`BOTTLENECK_STACKS: unknown ${s}; known: ${FLOW_STACKS.join(', ')}`);
  const cc = process.env.BOTTLENECK_MICROTP_CC;
  if (cc !== undefined && cc !== 'ledbat' && cc !== 'ledbat++') throw new Error(`BOTTLENECK_MICROTP_CC: expected ledbat or ledbat++, got '${cc}'`);
  const cfg: Config = {
    scenarios: names('BOTTLENECK_SCENARIOS', SCENARIOS.join(','), SCENARIOS),
    microtpCc: cc,
    multi: multiConfigFromEnv(),
    rates: list('BOTTLENECK_RATES', '5,20,50'),
    queuesMs: list('BOTTLENECK_QUEUES_MS', '200,400,1000'),
    seconds: num('BOTTLENECK_SECONDS', 20),
    warmupS: num('BOTTLENECK_WARMUP_S', 5),
    stacks,
    compete: points('BOTTLENECK_COMPETE', '20:400'),
    competeSeconds: num('BOTTLENECK_COMPETE_SECONDS', 30),
    competeTrimS: num('BOTTLENECK_COMPETE_TRIM_S', 5),
    pingHz: num('BOTTLENECK_PING_HZ', 20),
    baseS: num('BOTTLENECK_BASE_S', 2),
    plot: points('BOTTLENECK_PLOT', '20:400'),
    json: process.env.BOTTLENECK_JSON === '1',
    python: process.env.BOTTLENECK_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'),
  };
  if (cfg.warmupS >= cfg.seconds) throw new Error('BOTTLENECK_WARMUP_S must be below BOTTLENECK_SECONDS');
  if (2 * cfg.competeTrimS >= cfg.competeSeconds) throw new Error('BOTTLENECK_COMPETE_TRIM_S must be below half of BOTTLENECK_COMPETE_SECONDS');
  if (!(cfg.pingHz > 0 && cfg.pingHz <= 200)) throw new Error('BOTTLENECK_PING_HZ must be in (0, 200]');
  return cfg;
}

// ---------------------------------------------------------------- one run

type Mode = 'alone' | 'vs-cubic';

export interface RunResult {
  stack: FlowStack;
  rateMbit: number;
  queueMs: number;
  mode: Mode;
  ok: boolean;
  error?: string;
  tbf: TbfConfig;
  seconds: number;
  window: [number, number]; // seconds after the flow connected
  baseRttMs?: number; // median of the idle pings
  baseRttMinMs?: number;
  goodputMbit?: number; // the flow's payload over the window
  goodputPct?: number; // of the tbf rate
  competitorMbit?: number; // the TCP cubic flow's goodput over the same window
  competitorPct?: number;
  sharePct?: number; // our goodput / (ours + TCP)
  linkUtilPct?: number; // all bytes through tbf (with headers) / rate
  tbfDrops?: number; // over the window
  delay?: DelayStats; // added delay, ms
  timeouts?: number; // microtp stats, end of run
  retransmits?: number;
  series: {
    pings: Array<[number, number | null]>; // [s since connect, added delay ms | null = lost]
    stats: Array<[number, Record<string, number | boolean>]>; // microtp socket.stats() every 100 ms
    received: Array<[number, number]>; // [s, cumulative bytes]
    competitor: Array<[number, number]>;
    qdisc: Array<[number, number, number]>; // [s, backlog bytes, drops so far]
  };
}

async function runOne(cfg: Config, stack: FlowStack, rateMbit: number, queueMs: number, mode: Mode): Promise<RunResult> {
  const tbf = tbfFor(rateMbit, queueMs);
  const seconds = mode === 'alone' ? cfg.seconds : cfg.competeSeconds;
  const window: [number, number] = mode === 'alone' ? [cfg.warmupS, cfg.seconds] : [cfg.competeTrimS, cfg.competeSeconds - cfg.competeTrimS];
  const result: RunResult = {
    stack, rateMbit, queueMs, mode, ok: false, tbf, seconds, window,
    series: { pings: [], stats: [], received: [], competitor: [], qdisc: [] },
  };
  const run = new PathRun(tbf, String(Math.ceil(cfg.baseS + seconds + 40))); // every child ends itself by then
  return run.attempt(result, async () => {
    // Receivers: the measured flow, and the TCP sink when competing.
    const tcpFlow = stack === 'cubic' || mode === 'vs-cubic';
    const utpFlow = stack !== 'cubic';
    let recv: Child | undefined;
    let sink: Child | undefined;
    await run.open(cfg.pingHz, cfg.baseS, () => {
      if (utpFlow) recv = utpReceiver(stack as UtpStack, cfg.microtpCc, run.maxS);
      if (tcpFlow) sink = new Child('tcp sink', NS.receiver, cfg.python, ['-c', TCP_PY, 'sink', RECEIVER_ADDR, String(TCP_PORT), run.maxS]);
      return [recv, sink].filter((c) => c !== undefined);
    });

    // Senders, started together.
    const send = utpFlow ? run.add(utpSender(stack as UtpStack, cfg.microtpCc, [0], run.maxS)) : undefined;
    const tcp = tcpFlow ? run.add(new Child('tcp cubic sender', NS.sender, cfg.python, ['-c', TCP_PY, 'send', RECEIVER_ADDR, String(TCP_PORT), run.maxS])) : undefined;
    run.startSampling();
    const [utpConnected, tcpConnected] = await Promise.all([send?.waitFor('CONNECTED', 15_000), tcp?.waitFor('CONNECTED', 15_000)]);
    const t0 = Number((utpConnected ?? tcpConnected)!.split(' ')[1]);

    // Run, watching for early failures.
    const path = await run.complete(t0, seconds, window, [send, tcp], [recv, sink], queueMs);

    // ---- metrics
    const { rel, w0, w1 } = path;
    Object.assign(result, path.summary);
    result.series.pings = path.pings;
    result.series.qdisc = path.qdisc;
    const flowBytes = parseBytes((recv ?? sink)!.lines);
    result.series.received = flowBytes.map(([t, b]) => [rel(t), b]);
    const g = goodputMbit(flowBytes, w0, w1);
    if (g === undefined) throw new Error('the receiver did not report over the whole window');
    result.goodputMbit = round(g);
    result.goodputPct = round((100 * g) / rateMbit, 1);
    if (mode === 'vs-cubic' && sink) {
      const tcpBytes = parseBytes(sink.lines);
      result.series.competitor = tcpBytes.map(([t, b]) => [rel(t), b]);
      const c = goodputMbit(tcpBytes, w0, w1);
      if (c !== undefined) {
        result.competitorMbit = round(c);
        result.competitorPct = round((100 * c) / rateMbit, 1);
        if (g + c > 0) result.sharePct = round((100 * g) / (g + c), 1);
      }
    }
    if (send) {
      result.series.stats = (parseStats(send.lines)[0] ?? []).map(([t, rec]) => [rel(t), rec]);
      const last = result.series.stats[result.series.stats.length - 1]?.[1];
      if (typeof last?.timeouts === 'number') result.timeouts = last.timeouts;
      if (typeof last?.retransmits === 'number') result.retransmits = last.retransmits;
    }
  });
}

// ---------------------------------------------------------------- report


function table(results: RunResult[]): string {
  const head = ['stack', 'rate Mbit', 'queue ms', 'with', 'goodput %', 'delay med ms', 'p90 ms', 'ping loss %', 'share vs TCP %', 'TCP %', 'link util %', 'drops', 'base RTT ms'];
  const rows = results.map((r) =>
    r.ok
      ? [
          STACK_LABEL[r.stack], String(r.rateMbit), String(r.queueMs), r.mode === 'alone' ? '-' : 'cubic',
          fmt(r.goodputPct), fmt(r.delay?.median), fmt(r.delay?.p90), fmt(r.delay?.lossPct),
          fmt(r.sharePct), fmt(r.competitorPct), fmt(r.linkUtilPct), r.tbfDrops === undefined ? '-' : String(r.tbfDrops), fmt(r.baseRttMs, 3),
        ]
      : [STACK_LABEL[r.stack], String(r.rateMbit), String(r.queueMs), r.mode === 'alone' ? '-' : 'cubic', `FAILED: ${r.error}`],
  );
  return textTable(head, rows, 4);
}

const COLORS = { cwnd: '#1f77b4', flight: '#ff7f0e', ping: '#d62728', backlog: '#7f7f7f', own: '#2ca02c', rtt: '#9467bd', extra: ['#8c564b', '#e377c2', '#17becf', '#bcbd22'], tcp: '#000000' };

/** microtp's own delay estimates from stats(): every field named like delay or queu except
 *  base delays and the raw sample (values above 5000 are taken as µs), else lastDelaySample minus
 *  its minimum (µs -> ms); and the smoothed rtt. */
function ownDelaySeries(stats: RunResult['series']['stats']): Series[] {
  const out: Series[] = [];
  const keys = new Set<string>();
  for (const [, s] of stats) for (const k of Object.keys(s)) if (/delay|queu/i.test(k) && !/base|lastDelaySample/i.test(k) && typeof s[k] === 'number') keys.add(k);
  // Without a queueing-delay field of its own, estimate one from the raw one-way samples.
  const samples = stats.map(([t, s]) => [t, s.lastDelaySample] as const).filter((x): x is readonly [number, number] => typeof x[1] === 'number' && x[1] > 0);
  if (samples.length && ![...keys].some((k) => /queu/i.test(k))) {
    const min = Math.min(...samples.map((x) => x[1]));
    out.push({ name: 'microtp lastDelaySample - min', color: COLORS.own, points: samples.map(([t, v]) => [t, (v - min) / 1000]) });
  }
  const rtt = stats.filter(([, s]) => typeof s.rtt === 'number').map(([t, s]) => [t, s.rtt as number] as [number, number]);
  if (rtt.length) out.push({ name: 'microtp rtt (stats)', color: COLORS.rtt, points: rtt, style: 'dash' });
  [...keys].slice(0, COLORS.extra.length).forEach((k, i) => {
    const pts = stats.filter(([, s]) => typeof s[k] === 'number').map(([t, s]) => [t, s[k] as number] as [number, number]);
    const us = Math.max(...pts.map((p) => Math.abs(p[1]))) > 5000;
    out.push({ name: `microtp ${k}${us ? ' (µs->ms)' : ''}`, color: COLORS.extra[i]!, points: us ? pts.map(([t, v]) => [t, v / 1000]) : pts });
  });
  return out;
}

function plotPoint(results: RunResult[], rate: number, queue: number): string {
  const stacks = [...new Set(results.map((r) => r.stack))];
  const at = (stack: FlowStack, mode: Mode): RunResult | undefined => results.find((r) => r.ok && r.stack === stack && r.mode === mode && r.rateMbit === rate && r.queueMs === queue);
  const tbf = tbfFor(rate, queue);
  const kib = 1024;
  const rows: Array<Array<Panel | null>> = [[], [], [], []];
  for (const stack of stacks) {
    const r = at(stack, 'alone');
    const c = at(stack, 'vs-cubic');
    const name = STACK_LABEL[stack];
    const xMax = r?.seconds ?? 1;
    const vlines = r ? r.window.map((x) => ({ x })) : [];
    const st = r?.series.stats ?? [];
    const num = (k: string): Array<[number, number]> => st.filter(([, s]) => typeof s[k] === 'number').map(([t, s]) => [t, (s[k] as number) / kib]);
    rows[0]!.push({
      title: `${name}: congestion window`,
      yLabel: 'KiB',
      xMax,
      vlines,
      series: st.length ? [{ name: 'cwnd', color: COLORS.cwnd, points: num('cwnd') }, { name: 'bytesInFlight', color: COLORS.flight, points: num('bytesInFlight') }] : [],
      hlines: [
        { y: tbf.queueBytes / kib, label: `tbf queue limit ${(tbf.queueBytes / kib).toFixed(0)} KiB`, color: '#7f7f7f' },
        { y: (tbf.rateBps / 8) * 0.1 / kib, label: '100 ms at link rate', color: '#2ca02c' },
      ],
      ...(st.length ? {} : { note: r ? (stack === 'utp-native' ? 'libutp (utp-native) exposes no cwnd' : stack === 'cubic' ? 'TCP cubic: cwnd not recorded' : 'no stats') : 'no run' }),
    });
    const delay: Series[] = [];
    if (r) {
      delay.push({ name: 'ping: RTT - base RTT', color: COLORS.ping, style: 'dots', points: r.series.pings.filter((p): p is [number, number] => p[1] !== null) });
      delay.push({ name: 'tbf backlog / rate', color: COLORS.backlog, points: r.series.qdisc.map(([t, b]) => [t, ((b * 8) / tbf.rateBps) * 1000]) });
      delay.push(...ownDelaySeries(st));
    }
    rows[1]!.push({
      title: `${name}: queueing delay (alone)`,
      yLabel: 'ms',
      xMax,
      vlines,
      series: delay,
      hlines: [{ y: 100, label: 'LEDBAT target 100 ms', color: '#2ca02c' }],
      yMax: Math.max(queue * 1.15, 120),
      ...(r ? {} : { note: 'no run' }),
    });
    rows[2]!.push({
      title: `${name}: goodput (alone), 0.5 s bins`,
      yLabel: 'Mbit/s',
      xMax,
      vlines,
      yMax: rate * 1.2,
      series: r ? [{ name: name, color: COLORS.cwnd, points: rateSeries(r.series.received) }] : [],
      hlines: [{ y: rate, label: `link ${rate} Mbit/s`, color: '#7f7f7f' }],
      ...(r ? {} : { note: 'no run' }),
    });
    rows[3]!.push(
      c
        ? {
            title: `${name} vs TCP cubic: goodput (share ${fmt(c.sharePct)} %)`,
            yLabel: 'Mbit/s',
            xMax: c.seconds,
            vlines: c.window.map((x) => ({ x })),
            yMax: rate * 1.2,
            series: [
              { name, color: COLORS.cwnd, points: rateSeries(c.series.received) },
              { name: 'tcp cubic', color: COLORS.tcp, points: rateSeries(c.series.competitor) },
            ],
            hlines: [{ y: rate, label: `link ${rate} Mbit/s`, color: '#7f7f7f' }],
          }
        : null,
    );
  }
  if (rows[3]!.every((p) => p === null)) rows.pop();
  return renderSvg(
    `µTP through a ${rate} Mbit/s bottleneck with a ${queue} ms queue (${(tbf.queueBytes / 1000).toFixed(0)} kB tbf)`,
    `sender -> router (tbf) -> receiver namespaces; delay: ping RTT minus idle base RTT; dotted verticals: measurement window; ${new Date().toISOString()}`,
    rows,
  );
}

// ---------------------------------------------------------------- main

export interface BottleneckReport {
  skipped?: string;
  results: RunResult[];
  multiFlow: MultiRunResult[];
  files: string[];
}

export async function runBottleneck(cfg: Config = configFromEnv()): Promise<BottleneckReport> {
  const files: string[] = [];
  const results: RunResult[] = [];
  const multiFlow: MultiRunResult[] = [];
  if (process.platform !== 'linux') return { skipped: 'needs Linux network namespaces', results, multiFlow, files };
  const onExit = (): void => {
    killAllNow();
    removeNamespaces();
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    console.error(`bottleneck: ${sig}, cleaning up`);
    onExit();
    process.exit(130);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    try {
      createNamespaces();
      execFileSync('ip', ['netns', 'exec', NS.sender, cfg.python, '-c', 'import socket; s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    } catch (err) {
      return { skipped: err instanceof Error ? err.message : String(err), results, multiFlow, files };
    }
    const wanted = (set: Set<PointKey> | 'all', r: number, q: number): boolean => set === 'all' || set.has(key(r, q));
    const plan: Array<[FlowStack, number, number, Mode]> = [];
    for (const rate of cfg.rates)
      for (const q of cfg.queuesMs) {
        if (cfg.scenarios.includes('alone')) for (const s of cfg.stacks) plan.push([s, rate, q, 'alone']);
        if (cfg.scenarios.includes('compete') && wanted(cfg.compete, rate, q)) for (const s of cfg.stacks) if (s !== 'cubic') plan.push([s, rate, q, 'vs-cubic']);
      }
    const multiPlan = multiFlowPlan(cfg.multi, cfg.scenarios, cfg.stacks.filter((s): s is UtpStack => s !== 'cubic'));
    const estimate =
      plan.reduce((sum, [, , q, m]) => sum + (m === 'alone' ? cfg.seconds : cfg.competeSeconds) + cfg.baseS + 3 + q / 1000, 0) + multiFlowEstimateS(cfg.multi, multiPlan, cfg.baseS);
    console.log(
      `bottleneck: ${plan.length + multiPlan.length} runs, about ${Math.ceil(estimate / 60)} min; tbf on the router toward the receiver; ping ${cfg.pingHz}/s; ` +
        `alone: ${cfg.seconds} s, measured from ${cfg.warmupS} s; vs TCP cubic: ${cfg.competeSeconds} s, measured ${cfg.competeTrimS}-${cfg.competeSeconds - cfg.competeTrimS} s; ` +
        `latecomer: ${cfg.multi.latecomer.seconds} s, second flow at ${cfg.multi.latecomer.joinS} s; four: ${cfg.multi.four.seconds} s, ${cfg.multi.four.gapS} s apart; ` +
        `microtp congestionControl: ${cfg.microtpCc ?? 'library default'}`,
    );
    for (const [stack, rate, q, mode] of plan) {
      const r = await runOne(cfg, stack, rate, q, mode);
      results.push(r);
      console.log(
        `  ${STACK_LABEL[stack].padEnd(9)} ${String(rate).padStart(3)} Mbit ${String(q).padStart(4)} ms ${mode === 'alone' ? '       ' : 'vs cubic'} ` +
          (r.ok
            ? `goodput ${fmt(r.goodputPct)} %, added delay median ${fmt(r.delay?.median)} ms p90 ${fmt(r.delay?.p90)} ms` +
              (r.sharePct !== undefined ? `, share ${fmt(r.sharePct)} % (TCP ${fmt(r.competitorPct)} % of link)` : '')
            : `FAILED: ${r.error}`),
      );
    }
    for (const [scenario, stack, rate] of multiPlan) {
      const r = await runMultiFlow(cfg, scenario, stack, rate);
      multiFlow.push(r);
      console.log(multiFlowLine(r));
    }
    if (results.length) console.log(
      '\nbottleneck results. goodput: payload over the window / tbf rate (headers cap it near 95.7 % for 1400-byte' +
        ' µTP packets); delay: ping RTT - idle RTT (ms); share: µTP / (µTP + TCP cubic) goodput; link util: all frames through tbf / rate',
    );
    if (results.length) console.log(table(results));
    if (multiFlow.length) console.log(multiFlowReport(multiFlow));

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const toPlot = new Set(results.filter((r) => r.ok && wanted(cfg.plot, r.rateMbit, r.queueMs)).map((r) => key(r.rateMbit, r.queueMs)));
    const multiToPlot = cfg.multi.plot ? new Set(multiFlow.filter((r) => r.ok).map((r) => `${r.scenario}:${r.rateMbit}`)) : new Set<string>();
    if (toPlot.size || multiToPlot.size || cfg.json) mkdirSync(RESULTS_DIR, { recursive: true });
    for (const k of toPlot) {
      const [rate, q] = k.split(':').map(Number) as [number, number];
      files.push(...writePlot(`${RESULTS_DIR}bottleneck-${stamp}-${rate}mbit-${q}ms.svg`, plotPoint(results, rate, q)));
    }
    for (const k of multiToPlot) {
      const [scenario, rate] = k.split(':') as [MultiScenario, string];
      files.push(...writePlot(`${RESULTS_DIR}bottleneck-${stamp}-${scenario}-${rate}mbit-${cfg.multi.queueMs}ms.svg`, plotMultiFlow(multiFlow, scenario, Number(rate))));
    }
    if (cfg.json) {
      const file = `${RESULTS_DIR}bottleneck-${stamp}.json`;
      const env = { ...cfg, compete: cfg.compete === 'all' ? 'all' : [...cfg.compete], plot: cfg.plot === 'all' ? 'all' : [...cfg.plot], node: process.version, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim() };
      // Summaries indented, each run's time series on one line (they are most of the bytes).
      const runs = (rs: ReadonlyArray<{ series: unknown }>): string =>
        rs.map(({ series, ...summary }) => `${JSON.stringify(summary, null, 1).slice(0, -2)},\n "series": ${JSON.stringify(series)}\n}`).join(',\n');
      writeFileSync(file, `{"env": ${JSON.stringify(env, null, 1)},\n"results": [\n${runs(results)}\n],\n"multiFlow": [\n${runs(multiFlow)}\n]}\n`);
      files.push(file);
    }
    for (const f of files) console.log(`wrote ${f}`);
    return { results, multiFlow, files };
  } finally {
    killAllNow();
    const errs = removeNamespaces();
    for (const e of errs) console.error(`bottleneck cleanup: ${e}`);
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await runBottleneck();
  if (report.skipped) {
    console.log(`bottleneck: skipped: ${report.skipped}`);
    if (process.env.BOTTLENECK_REQUIRE === '1') process.exitCode = 1;
  } else if ([...report.results, ...report.multiFlow].some((r) => !r.ok)) process.exitCode = 1;
}
