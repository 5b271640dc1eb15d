// Multi-flow scenarios of the bottleneck bench (issue 8: LEDBAT inter-flow fairness), per stack,
// through the same tbf router as the single-flow runs (run.ts):
//   latecomer  one flow alone, a second flow of the same stack joins after BOTTLENECK_LATECOMER_JOIN_S
//   four       four flows starting BOTTLENECK_FOUR_GAP_S apart
// Measured over the last third of the run (all flows running by then): each flow's goodput,
// Jain's fairness index, the flows' goodput as % of the link rate, the ping-measured added delay
// (as the single-flow runs measure it), and for microtp each flow's base delay at the end against
// the true base delay (the latency-drift check; see baseErrors in metrics.ts for how the clock
// offset between the peers' µTP timestamps is taken out). All flows of a run share one sender and
// one receiver process (worker.ts), so they share that offset.
import { num, list } from '../env.js';
import { PathRun, utpReceiver, utpSender, type Child, type MicrotpCc, type UtpStack } from './harness.js';
import {
  baseErrors,
  goodputMbit,
  jain,
  lastThird,
  parseBytes,
  parseStats,
  foldWrap,
  rateSeries,
  round,
  type DelayStats,
  type StatsRecord,
} from './metrics.js';
import { tbfFor, type TbfConfig } from './netns.js';
import { renderSvg, type Panel, type Series } from './plot.js';
import { fmt, STACK_LABEL, textTable } from './report.js';

export type MultiScenario = 'latecomer' | 'four';

export interface MultiConfig {
  queueMs: number;
  latecomer: { rates: number[]; seconds: number; joinS: number };
  four: { rates: number[]; seconds: number; gapS: number };
  plot: boolean;
}

export function multiConfigFromEnv(): MultiConfig {
  const cfg: MultiConfig = {
    queueMs: num('BOTTLENECK_MULTI_QUEUE_MS', 400),
    latecomer: { rates: list('BOTTLENECK_LATECOMER_RATES', '5,10,50'), seconds: num('BOTTLENECK_LATECOMER_SECONDS', 60), joinS: num('BOTTLENECK_LATECOMER_JOIN_S', 20) },
    four: { rates: list('BOTTLENECK_FOUR_RATES', '10'), seconds: num('BOTTLENECK_FOUR_SECONDS', 90), gapS: num('BOTTLENECK_FOUR_GAP_S', 10) },
    plot: process.env.BOTTLENECK_MULTI_PLOT !== '0',
  };
  for (const s of ['latecomer', 'four'] as const) {
    const starts = startsOf(cfg, s);
    if (lastThird(cfg[s].seconds)[0] <= starts[starts.length - 1]!) {
      throw new Error(`${s}: the last flow starts at ${starts[starts.length - 1]} s, not before the last third of ${cfg[s].seconds} s`);
    }
  }
  return cfg;
}

/** When each flow starts, in seconds after the first. */
export function startsOf(cfg: MultiConfig, scenario: MultiScenario): number[] {
  return scenario === 'latecomer' ? [0, cfg.latecomer.joinS] : [0, 1, 2, 3].map((i) => i * cfg.four.gapS);
}

// ---------------------------------------------------------------- targets (issue 8)

export const TARGETS = { jain: 0.9, linkPct: 90, p90Ms: 115, baseErrorMs: 10 } as const;

/** Which of issue 8's targets a microtp run met (a target with nothing to judge it by is absent). */
export interface Checks {
  jain?: boolean;
  linkPct?: boolean;
  p90?: boolean; // latecomer only
  drift?: boolean; // microtp only
}

function checks(r: MultiRunResult): Checks {
  const c: Checks = {};
  if (r.jain !== undefined) c.jain = r.jain >= TARGETS.jain;
  if (r.linkPct !== undefined) c.linkPct = r.linkPct >= TARGETS.linkPct;
  if (r.scenario === 'latecomer' && r.delay?.p90 !== undefined) c.p90 = r.delay.p90 <= TARGETS.p90Ms;
  const errors = r.flows.map((f) => f.baseErrorMs);
  if (r.stack === 'microtp' && errors.every((e) => e !== undefined)) c.drift = errors.every((e) => Math.abs(e!) <= TARGETS.baseErrorMs);
  return c;
}

// ---------------------------------------------------------------- one run

export interface FlowResult {
  startS: number; // planned, seconds after flow 0 connected
  connectedS?: number; // when its connect completed, seconds after flow 0's
  goodputMbit?: number; // over the window
  cwnd?: number; // microtp, bytes, end of run
  baseDelayMs?: number; // microtp, end of run (clock offset included)
  baseErrorMs?: number; // microtp: baseDelayMs minus the true base delay
  retransmits?: number; // microtp, end of run
  timeouts?: number;
}

export interface MultiRunResult {
  scenario: MultiScenario;
  stack: UtpStack;
  microtpCc?: string; // the congestionControl option given to microtp ('default' when none)
  rateMbit: number;
  queueMs: number;
  ok: boolean;
  error?: string;
  tbf: TbfConfig;
  seconds: number;
  window: [number, number]; // seconds after flow 0 connected
  baseRttMs?: number;
  baseRttMinMs?: number;
  flows: FlowResult[];
  jain?: number;
  linkPct?: number; // all flows' goodput / link rate
  linkUtilPct?: number; // all frames through tbf / rate
  tbfDrops?: number;
  delay?: DelayStats; // added delay, ms
  /** microtp: the sender's performance.timeOrigin minus the receiver's (ms): the offset µTP's delay samples carry. */
  clockOffsetMs?: number;
  /** microtp: the true base delay, clock offset included: the lower of the lowest base any flow reported and clockOffsetMs + half the lowest idle ping RTT (metrics.ts baseErrors). */
  trueBaseMs?: number;
  /** microtp: how far above trueBaseMs the lowest base any flow reported was (~0.1 ms when a flow saw the empty path with a lone packet). */
  lowestAboveTrueMs?: number;
  checks?: Checks & { pass: boolean }; // microtp: issue 8's targets
  series: {
    pings: Array<[number, number | null]>; // [s since flow 0 connected, added delay ms | null = lost]
    qdisc: Array<[number, number, number]>; // [s, backlog bytes, drops so far]
    flows: Array<{ received: Array<[number, number]>; stats: Array<[number, StatsRecord]> }>; // [s, cumulative bytes]; microtp socket.stats() every 100 ms
  };
}

/** What a multi-flow run needs of the bench's configuration (run.ts's Config has it). */
export interface MultiRunSettings {
  pingHz: number;
  baseS: number;
  microtpCc: MicrotpCc;
  multi: MultiConfig;
}

const WRAP_MS = 2 ** 32 / 1000; // µTP timestamps are 32-bit microseconds, in ms

/** `ORIGIN <timeOrigin>` of a worker. */
function origin(child: Child): number | undefined {
  const line = child.lines.find((l) => l.startsWith('ORIGIN '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

export async function runMultiFlow(cfg: MultiRunSettings, scenario: MultiScenario, stack: UtpStack, rateMbit: number): Promise<MultiRunResult> {
  const { queueMs } = cfg.multi;
  const seconds = cfg.multi[scenario].seconds;
  const starts = startsOf(cfg.multi, scenario);
  const window = lastThird(seconds);
  const tbf = tbfFor(rateMbit, queueMs);
  const result: MultiRunResult = {
    scenario, stack, ...(stack === 'microtp' ? { microtpCc: cfg.microtpCc ?? 'default' } : {}), rateMbit, queueMs, ok: false, tbf, seconds, window,
    flows: starts.map((startS) => ({ startS })),
    series: { pings: [], qdisc: [], flows: [] },
  };
  const run = new PathRun(tbf, String(Math.ceil(cfg.baseS + seconds + 40)));
  return run.attempt(result, async () => {
    let recv: Child | undefined;
    await run.open(cfg.pingHz, cfg.baseS, () => [(recv = utpReceiver(stack, cfg.microtpCc, run.maxS))]);
    const send = run.add(utpSender(stack, cfg.microtpCc, starts.map((s) => s * 1000), run.maxS));
    run.startSampling();
    const t0 = Number((await send.waitFor('CONNECTED', 15_000)).split(' ')[1]);
    const path = await run.complete(t0, seconds, window, [send], [recv], queueMs);

    // ---- metrics
    const { rel, w0, w1 } = path;
    Object.assign(result, path.summary);
    result.series.pings = path.pings;
    result.series.qdisc = path.qdisc;

    for (const line of send.lines) {
      if (!line.startsWith('CONNECTED ')) continue;
      const [, t, i] = line.split(' ');
      result.flows[Number(i)]!.connectedS = rel(Number(t));
    }
    const missing = result.flows.findIndex((f) => f.connectedS === undefined);
    if (missing >= 0) throw new Error(`flow ${missing + 1} of ${starts.length} never connected`);
    // The receiver numbers connections in accept order: the flows' order, as they start seconds apart.
    const stats = parseStats(send.lines);
    const rates: number[] = [];
    result.flows.forEach((f, i) => {
      const bytes = parseBytes(recv!.lines, i);
      const st = stats[i] ?? [];
      result.series.flows.push({ received: bytes.map(([t, b]) => [rel(t), b]), stats: st.map(([t, rec]) => [rel(t), rec]) });
      const g = goodputMbit(bytes, w0, w1);
      if (g === undefined) throw new Error(`the receiver did not report flow ${i + 1} over the whole window`);
      f.goodputMbit = round(g);
      rates.push(g);
      const last = st[st.length - 1]?.[1];
      for (const k of ['cwnd', 'retransmits', 'timeouts'] as const) if (typeof last?.[k] === 'number') f[k] = last[k];
      if (typeof last?.baseDelay === 'number') f.baseDelayMs = last.baseDelay;
    });
    result.jain = round(jain(rates));
    result.linkPct = round((100 * rates.reduce((s, x) => s + x, 0)) / rateMbit, 1);
    if (stack === 'microtp') {
      // The receiver's clock minus the sender's (as µTP's delay samples carry it), folded as they are.
      const [so, ro] = [origin(send), origin(recv!)];
      if (so !== undefined && ro !== undefined) result.clockOffsetMs = round(foldWrap(so - ro, WRAP_MS));
      // The path's one-way delay: half the lowest idle ping RTT (~0.1 ms on these veths).
      const known = result.clockOffsetMs === undefined || result.baseRttMinMs === undefined ? undefined : result.clockOffsetMs + result.baseRttMinMs / 2;
      const drift = baseErrors(stats.map((st) => st.map(([, rec]) => (typeof rec.baseDelay === 'number' ? rec.baseDelay : 0))), known);
      drift.errors.forEach((e, i) => {
        if (e !== undefined) result.flows[i]!.baseErrorMs = round(e, 2);
      });
      if (drift.trueBase !== undefined) result.trueBaseMs = round(drift.trueBase);
      if (drift.lowest !== undefined && drift.trueBase !== undefined) result.lowestAboveTrueMs = round(drift.lowest - drift.trueBase, 2);
    }
    if (stack === 'microtp') {
      const c = checks(result);
      result.checks = { ...c, pass: Object.values(c).every(Boolean) };
    }
  });
}

/** Every multi-flow run of the configuration, microtp beside libutp for each scenario and rate. */
export function multiFlowPlan(cfg: MultiConfig, scenarios: readonly string[], stacks: readonly UtpStack[]): Array<[MultiScenario, UtpStack, number]> {
  const plan: Array<[MultiScenario, UtpStack, number]> = [];
  for (const s of ['latecomer', 'four'] as const) {
    if (!scenarios.includes(s)) continue;
    for (const rate of cfg[s].rates) for (const stack of stacks) plan.push([s, stack, rate]);
  }
  return plan;
}

/** Seconds the plan takes, about. */
export function multiFlowEstimateS(cfg: MultiConfig, plan: ReadonlyArray<[MultiScenario, UtpStack, number]>, baseS: number): number {
  return plan.reduce((sum, [s]) => sum + cfg[s].seconds + baseS + 3 + cfg.queueMs / 1000, 0);
}

// ---------------------------------------------------------------- report

const mark = (pass: boolean | undefined): string => (pass === undefined ? '' : pass ? ' ok' : ' FAIL');
const signed = (x: number | undefined): string => (x === undefined ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}`);

/** One line of progress while the plan runs. */
export function multiFlowLine(r: MultiRunResult): string {
  const head = `  ${r.scenario.padEnd(9)} ${STACK_LABEL[r.stack].padEnd(7)} ${String(r.rateMbit).padStart(3)} Mbit `;
  if (!r.ok) return `${head}FAILED: ${r.error}`;
  return (
    head +
    `flows ${r.flows.map((f) => fmt(f.goodputMbit, 2)).join(' / ')} Mbit/s, Jain ${fmt(r.jain, 2)}, ${fmt(r.linkPct)} % of link, ` +
    `added delay median ${fmt(r.delay?.median)} ms p90 ${fmt(r.delay?.p90)} ms` +
    (r.stack === 'microtp' ? `, base error ${r.flows.map((f) => signed(f.baseErrorMs)).join(' / ')} ms (lowest base seen ${fmt(r.lowestAboveTrueMs, 2)} ms above the true one)` : '')
  );
}

/** The results table, targets in the head, a mark beside each measured value of a microtp row. */
export function multiFlowTable(results: readonly MultiRunResult[]): string {
  const head = [
    'scenario', 'stack', 'cc', 'rate Mbit', 'flows Mbit/s (last third)', `Jain >=${TARGETS.jain}`, `of link % >=${TARGETS.linkPct}`,
    'delay med ms', `p90 ms <=${TARGETS.p90Ms}*`, `base error ms <=${TARGETS.baseErrorMs}`, 'lowest seen - true ms', 'link util %', 'drops', 'verdict',
  ];
  const rows = results.map((r) => {
    const labels = [r.scenario, STACK_LABEL[r.stack], r.microtpCc ?? '-', String(r.rateMbit)];
    if (!r.ok) return [...labels, `FAILED: ${r.error}`];
    const c: Checks = r.checks ?? {};
    const verdict = r.checks === undefined ? '(reference)' : r.checks.pass ? 'PASS' : 'FAIL';
    return [
      ...labels,
      r.flows.map((f) => fmt(f.goodputMbit, 2)).join(' / '),
      fmt(r.jain, 2) + mark(c.jain),
      fmt(r.linkPct) + mark(c.linkPct),
      fmt(r.delay?.median),
      fmt(r.delay?.p90) + mark(c.p90),
      r.stack === 'microtp' ? r.flows.map((f) => signed(f.baseErrorMs)).join(' / ') + mark(c.drift) : '-',
      fmt(r.lowestAboveTrueMs, 2),
      fmt(r.linkUtilPct),
      r.tbfDrops === undefined ? '-' : String(r.tbfDrops),
      verdict,
    ];
  });
  return textTable(head, rows, 5);
}

export function multiFlowReport(results: readonly MultiRunResult[]): string {
  return [
    `\nmulti-flow results (issue 8), ${results[0]?.queueMs ?? '-'} ms tbf queue, measured over the last third of each run. ` +
      'flows: each flow\'s goodput in start order; of link: their sum / tbf rate; delay: ping RTT - idle RTT (ms); ' +
      'base error: each microtp flow\'s base delay at the end minus the true one (the lower of the lowest any flow of the run reported and ' +
      'the two processes\' clock offset, from their timeOrigins, plus half the idle ping RTT); lowest seen - true: how far above the true base the lowest reported one was. ' +
      `Marks on microtp rows: targets of issue 8 (* p90 applies to latecomer only); libutp rows are the reference.`,
    multiFlowTable(results),
  ].join('\n');
}

// ---------------------------------------------------------------- plot

const FLOW_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];
const flowColor = (i: number): string => FLOW_COLORS[i % FLOW_COLORS.length]!;

/** One column a stack (microtp, libutp): goodput per flow, queueing delay, and microtp's cwnd and base delay error per flow. */
export function plotMultiFlow(results: readonly MultiRunResult[], scenario: MultiScenario, rate: number): string {
  const runs = results.filter((r) => r.ok && r.scenario === scenario && r.rateMbit === rate);
  const rows: Array<Array<Panel | null>> = [[], [], [], []];
  const first = runs[0]!;
  const tbf = first.tbf;
  for (const r of runs) {
    const name = `${STACK_LABEL[r.stack]}${r.microtpCc ? ` (${r.microtpCc})` : ''}`;
    const xMax = r.seconds;
    const starts = r.flows.map((f, i) => ({ x: f.connectedS ?? f.startS, label: `flow ${i + 1}`, color: flowColor(i) }));
    const vlines = [...starts, { x: r.window[0], label: 'last third', color: '#999' }];
    const perFlow = (pick: (rec: StatsRecord) => number | undefined): Series[] =>
      r.series.flows.map((f, i) => ({
        name: `flow ${i + 1}`,
        color: flowColor(i),
        points: f.stats.map(([t, rec]) => [t, pick(rec)] as const).filter((p): p is [number, number] => p[1] !== undefined),
      }));
    const n = r.flows.length;
    rows[0]!.push({
      title: `${name}: goodput per flow, 1 s bins (Jain ${fmt(r.jain, 2)}, ${fmt(r.linkPct)} % of link)`,
      yLabel: 'Mbit/s',
      xMax,
      vlines,
      yMax: rate * 1.2,
      series: r.series.flows.map((f, i) => ({ name: `flow ${i + 1}: ${fmt(r.flows[i]!.goodputMbit, 2)} Mbit/s in the last third`, color: flowColor(i), points: rateSeries(f.received, 1) })),
      hlines: [
        { y: rate, label: `link ${rate} Mbit/s`, color: '#7f7f7f' },
        { y: rate / n, label: `fair share ${+(rate / n).toFixed(2)} Mbit/s`, color: '#bbb' },
      ],
    });
    const ownDelay = r.stack === 'microtp' ? perFlow((rec) => (typeof rec.queuingDelay === 'number' ? rec.queuingDelay : undefined)).map((s) => ({ ...s, name: `${s.name}: microtp queuingDelay` })) : [];
    rows[1]!.push({
      title: `${name}: queueing delay (p90 ${fmt(r.delay?.p90)} ms in the last third)`,
      yLabel: 'ms',
      xMax,
      vlines,
      yMax: Math.max(r.queueMs * 1.15, 120),
      series: [
        { name: 'ping: RTT - base RTT', color: '#d62728', style: 'dots', points: r.series.pings.filter((p): p is [number, number] => p[1] !== null) },
        { name: 'tbf backlog / rate', color: '#7f7f7f', points: r.series.qdisc.map(([t, b]) => [t, ((b * 8) / tbf.rateBps) * 1000]) },
        ...ownDelay,
      ],
      // One label for both lines: 15 ms apart, two labels would overlap.
      hlines: [
        { y: 100, label: '', color: '#2ca02c' },
        { y: TARGETS.p90Ms, label: `LEDBAT target 100 ms (green), p90 target ${TARGETS.p90Ms} ms (red)`, color: '#d62728' },
      ],
    });
    const microtp = r.stack === 'microtp';
    const none = `${STACK_LABEL[r.stack]} (utp-native) exposes no stats`;
    rows[2]!.push({
      title: `${name}: congestion window per flow`,
      yLabel: 'KiB',
      xMax,
      vlines: starts,
      series: microtp ? perFlow((rec) => (typeof rec.cwnd === 'number' ? rec.cwnd / 1024 : undefined)) : [],
      ...(microtp ? { hlines: [{ y: (tbf.rateBps / 8) * 0.1 / 1024, label: '100 ms at link rate (all flows together)', color: '#2ca02c' }] } : { note: none }),
    });
    const trueBase = r.trueBaseMs;
    rows[3]!.push({
      title: `${name}: base delay minus the true base, per flow`,
      yLabel: 'ms',
      xMax,
      vlines: starts,
      series: microtp && trueBase !== undefined ? perFlow((rec) => (typeof rec.baseDelay === 'number' && rec.baseDelay > 0 ? rec.baseDelay - trueBase : undefined)) : [],
      ...(microtp ? { hlines: [{ y: TARGETS.baseErrorMs, label: `drift target ${TARGETS.baseErrorMs} ms`, color: '#d62728' }] } : { note: none }),
    });
  }
  const title = scenario === 'latecomer' ? 'latecomer: a second flow joins one already running' : `${first.flows.length} flows starting ${first.flows[1]?.startS ?? 0} s apart`;
  return renderSvg(
    `${title}, ${rate} Mbit/s bottleneck, ${first.queueMs} ms queue (${(tbf.queueBytes / 1000).toFixed(0)} kB tbf)`,
    `sender -> router (tbf) -> receiver namespaces, all flows of a column in one sender and one receiver process; delay: ping RTT minus idle base RTT; dotted verticals: where each flow starts (flow N), the last third; ${new Date().toISOString()}`,
    rows,
  );
}
