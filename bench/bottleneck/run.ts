// Bottleneck bench: bulk µTP transfers through a real kernel bottleneck (tbf on a router
// namespace, see netns.ts), for microtp and libutp (utp-native), measuring for each
// (rate, queue) point:
//   - goodput of the transfer as a fraction of the link rate, over a measurement window;
//   - the queueing delay it adds, seen by a small UDP ping (sender ns -> echo in receiver ns,
//     through the same tbf queue): RTT minus the base RTT measured before the transfer;
//   - with a competing TCP cubic flow (Python, TCP_CONGESTION=cubic on its own socket), the
//     µTP flow's share of what both got.
// The microtp sender records socket.stats() every 100 ms; at one point (default 20 Mbit/s,
// 400 ms) an SVG plot (PNG too when rsvg-convert is installed) of cwnd and delay over time is
// written to bench/results/.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`), `ip`, `tc`, python3. Run alone with
// `node build/bench/bottleneck/run.js` after `npx tsc -p tsconfig.all.json`. Env:
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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NS, RECEIVER_ADDR, createNamespaces, removeNamespaces, sampleQdisc, setBottleneck, tbfFor, type QdiscSample, type TbfConfig } from './netns.js';
import { renderSvg, type Panel, type Series } from './plot.js';
import { TCP_PY } from './tcp.js';

export type FlowStack = 'microtp' | 'utp-native' | 'cubic';
const FLOW_STACKS: readonly FlowStack[] = ['microtp', 'utp-native', 'cubic'];
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url)); // build/bench/bottleneck -> bench/results
const UTP_PORT = 7001;
const ECHO_PORT = 7002;
const TCP_PORT = 7003;

// ---------------------------------------------------------------- configuration

function list(name: string, def: string): number[] {
  const raw = process.env[name] ?? def;
  const xs = raw.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !(x > 0) || !Number.isFinite(x))) throw new Error(`${name}: expected positive numbers, got '${raw}'`);
  return xs;
}
function num(name: string, def: number): number {
  const x = Number(process.env[name] ?? def);
  if (!(x >= 0) || !Number.isFinite(x)) throw new Error(`${name}: expected a number, got '${process.env[name]}'`);
  return x;
}
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
  const cfg: Config = {
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

// ---------------------------------------------------------------- child processes

/** Every child we started and that has not exited, for the emergency cleanup. */
const live = new Set<ChildProcess>();

class Child {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  private stderr = '';
  private waiters: Array<{ prefix: string; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  private exited: Promise<void>;
  exitInfo: string | undefined;

  constructor(
    readonly label: string,
    ns: string,
    cmd: string,
    args: string[],
    onLine?: (line: string) => void,
  ) {
    // `ip netns exec` execs the command in place, so proc.pid is the worker itself.
    this.proc = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      onLine?.(line);
      for (const w of [...this.waiters]) {
        if (line.startsWith('ERROR')) w.reject(new Error(`${this.label}: ${line}`));
        else if (line.startsWith(w.prefix)) w.resolve(line);
        else continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
      }
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.exitInfo = `spawn failed: ${err.message}`;
        this.failWaiters();
        live.delete(this.proc);
        resolve();
      });
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = `exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        live.delete(this.proc);
        // Let the last stdout lines arrive before failing whoever still waits.
        setImmediate(() => this.failWaiters());
        resolve();
      });
    });
  }

  private failWaiters(): void {
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.label} ${this.exitInfo}`));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && this.exitInfo === undefined;
  }

  /** The first line (already seen or to come) starting with `prefix`. */
  waitFor(prefix: string, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((l) => l.startsWith(prefix) || l.startsWith('ERROR'));
    if (seen) return seen.startsWith('ERROR') ? Promise.reject(new Error(`${this.label}: ${seen}`)) : Promise.resolve(seen);
    if (!this.running) return Promise.reject(new Error(`${this.label} ${this.exitInfo}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== res);
        reject(new Error(`${this.label}: no '${prefix}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const res = (l: string): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ prefix, resolve: res, reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  errorLine(): string | undefined {
    return this.lines.find((l) => l.startsWith('ERROR'));
  }

  /** SIGTERM by PID, SIGKILL by PID after 2 s. */
  async stop(): Promise<void> {
    if (!this.running || this.proc.pid === undefined) return this.exited;
    const pid = this.proc.pid;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

function killAllNow(): void {
  for (const p of live) {
    if (p.pid === undefined) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
}

const nodeWorker = (label: string, ns: string, args: string[], onLine?: (l: string) => void): Child =>
  new Child(label, ns, process.execPath, [WORKER, ...args], onLine);

// ---------------------------------------------------------------- one run

type Mode = 'alone' | 'vs-cubic';

interface DelayStats {
  n: number;
  median: number | undefined;
  p90: number | undefined;
  max: number | undefined;
  lossPct: number | undefined; // pings sent in the window that never came back
}

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

interface PingLog {
  sent: Map<number, number>; // seq -> epoch ms
  rtt: Map<number, number>; // seq -> ms
}

function parsePing(child: Child): PingLog {
  const log: PingLog = { sent: new Map(), rtt: new Map() };
  for (const line of child.lines) {
    const [tag, a, b] = line.split(' ');
    if (tag === 'S') log.sent.set(Number(a), Number(b));
    else if (tag === 'R') log.rtt.set(Number(a), Number(b));
  }
  return log;
}

/** Cumulative-byte series [epoch ms, bytes] from B lines. */
function parseBytes(child: Child): Array<[number, number]> {
  return child.lines.filter((l) => l.startsWith('B ')).map((l) => {
    const [, t, b] = l.split(' ');
    return [Number(t), Number(b)];
  });
}

function bytesAt(series: Array<[number, number]>, t: number): number | undefined {
  if (series.length === 0) return undefined;
  const first = series[0]!;
  const last = series[series.length - 1]!;
  if (t < first[0] - 250 || t > last[0] + 250) return undefined; // not covered
  if (t <= first[0]) return first[1];
  if (t >= last[0]) return last[1];
  let lo = 0;
  let hi = series.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (series[mid]![0] <= t) lo = mid;
    else hi = mid;
  }
  const [t0, b0] = series[lo]!;
  const [t1, b1] = series[hi]!;
  return b0 + ((b1 - b0) * (t - t0)) / (t1 - t0 || 1);
}

function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

async function waitQueueEmpty(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const q = await sampleQdisc();
    if (q.backlog === 0) return;
    await sleep(100);
  }
  throw new Error('bottleneck queue did not drain within 5 s');
}

async function runOne(cfg: Config, stack: FlowStack, rateMbit: number, queueMs: number, mode: Mode): Promise<RunResult> {
  const tbf = tbfFor(rateMbit, queueMs);
  const seconds = mode === 'alone' ? cfg.seconds : cfg.competeSeconds;
  const window: [number, number] = mode === 'alone' ? [cfg.warmupS, cfg.seconds] : [cfg.competeTrimS, cfg.competeSeconds - cfg.competeTrimS];
  const result: RunResult = {
    stack, rateMbit, queueMs, mode, ok: false, tbf, seconds, window,
    series: { pings: [], stats: [], received: [], competitor: [], qdisc: [] },
  };
  const maxS = String(Math.ceil(cfg.baseS + seconds + 40)); // every child ends itself by then
  const children: Child[] = [];
  const qdisc: QdiscSample[] = [];
  let sampling = false;
  let sampler: Promise<void> | undefined;
  try {
    setBottleneck(tbf);
    await waitQueueEmpty();

    const echo = nodeWorker('echo', NS.receiver, ['echo', RECEIVER_ADDR, String(ECHO_PORT), maxS]);
    children.push(echo);
    await echo.waitFor('READY', 10_000);
    const ping = nodeWorker('ping', NS.sender, ['ping', RECEIVER_ADDR, String(ECHO_PORT), String(cfg.pingHz), maxS]);
    children.push(ping);

    // Receivers: the measured flow, and the TCP sink when competing.
    const tcpFlow = stack === 'cubic' || mode === 'vs-cubic';
    const utpFlow = stack !== 'cubic';
    let recv: Child | undefined;
    let sink: Child | undefined;
    if (utpFlow) {
      recv = nodeWorker(`${stack} receiver`, NS.receiver, ['recv', stack, RECEIVER_ADDR, String(UTP_PORT), maxS]);
      children.push(recv);
    }
    if (tcpFlow) {
      sink = new Child('tcp sink', NS.receiver, cfg.python, ['-c', TCP_PY, 'sink', RECEIVER_ADDR, String(TCP_PORT), maxS]);
      children.push(sink);
    }
    await Promise.all([recv?.waitFor('READY', 10_000), sink?.waitFor('READY', 10_000)]);
    await ping.waitFor('R ', 5000); // the echo path works
    await sleep(cfg.baseS * 1000); // idle pings: the base RTT

    // Senders, started together.
    let send: Child | undefined;
    let tcp: Child | undefined;
    if (utpFlow) {
      send = nodeWorker(`${stack} sender`, NS.sender, ['send', stack, RECEIVER_ADDR, String(UTP_PORT), maxS]);
      children.push(send);
    }
    if (tcpFlow) {
      tcp = new Child('tcp cubic sender', NS.sender, cfg.python, ['-c', TCP_PY, 'send', RECEIVER_ADDR, String(TCP_PORT), maxS]);
      children.push(tcp);
    }
    sampling = true;
    sampler = (async () => {
      while (sampling) {
        try {
          qdisc.push(await sampleQdisc());
        } catch {
          /* a missed sample only thins the series */
        }
        await sleep(200);
      }
    })();
    const [utpConnected, tcpConnected] = await Promise.all([send?.waitFor('CONNECTED', 15_000), tcp?.waitFor('CONNECTED', 15_000)]);
    const t0 = Number((utpConnected ?? tcpConnected)!.split(' ')[1]);

    // Run, watching for early failures.
    const deadline = t0 + seconds * 1000;
    while (Date.now() < deadline) {
      for (const c of children) {
        const e = c.errorLine();
        if (e) throw new Error(`${c.label}: ${e}`);
        if (!c.running) throw new Error(`${c.label} ${c.exitInfo}`);
      }
      await sleep(Math.min(250, Math.max(1, deadline - Date.now())));
    }
    sampling = false;
    await sampler;
    // Stop the senders first, then read everything (late ERRORs, e.g. the receiver timing out
    // after its sender is gone, do not count).
    await Promise.all([send?.stop(), tcp?.stop()]);
    // Pings sent just before the end are still in the queue: let them come back (the queue
    // drains within its size in time) so they are not counted as lost.
    await Promise.all([recv?.stop(), sink?.stop(), sleep(queueMs + 300)]);
    await Promise.all(children.map((c) => c.stop()));

    // ---- metrics
    const rel = (t: number): number => round((t - t0) / 1000);
    const w0 = t0 + window[0] * 1000;
    const w1 = t0 + window[1] * 1000;
    const wS = (w1 - w0) / 1000;
    const pings = parsePing(ping);
    const base = [...pings.sent].filter(([seq, t]) => t < t0 && seq > 0 && pings.rtt.has(seq)).map(([seq]) => pings.rtt.get(seq)!).sort((a, b) => a - b);
    const baseRtt = quantile(base, 0.5);
    if (baseRtt === undefined) throw new Error('no base RTT: no idle ping came back');
    result.baseRttMs = round(baseRtt);
    result.baseRttMinMs = round(base[0]!);
    const added: number[] = [];
    let lost = 0;
    for (const [seq, t] of pings.sent) {
      const rtt = pings.rtt.get(seq);
      result.series.pings.push([rel(t), rtt === undefined ? null : round(rtt - baseRtt)]);
      if (t < w0 || t > w1) continue;
      if (rtt === undefined) lost++;
      else added.push(rtt - baseRtt);
    }
    added.sort((a, b) => a - b);
    result.delay = {
      n: added.length,
      median: added.length ? round(quantile(added, 0.5)!, 2) : undefined,
      p90: added.length ? round(quantile(added, 0.9)!, 2) : undefined,
      max: added.length ? round(added[added.length - 1]!, 2) : undefined,
      lossPct: added.length + lost ? round((100 * lost) / (added.length + lost), 2) : undefined,
    };
    const goodput = (series: Array<[number, number]>): number | undefined => {
      const a = bytesAt(series, w0);
      const b = bytesAt(series, w1);
      return a === undefined || b === undefined ? undefined : ((b - a) * 8) / wS / 1e6;
    };
    const flowBytes = parseBytes((recv ?? sink)!);
    result.series.received = flowBytes.map(([t, b]) => [rel(t), b]);
    const g = goodput(flowBytes);
    if (g === undefined) throw new Error('the receiver did not report over the whole window');
    result.goodputMbit = round(g);
    result.goodputPct = round((100 * g) / rateMbit, 1);
    if (mode === 'vs-cubic' && sink) {
      const tcpBytes = parseBytes(sink);
      result.series.competitor = tcpBytes.map(([t, b]) => [rel(t), b]);
      const c = goodput(tcpBytes);
      if (c !== undefined) {
        result.competitorMbit = round(c);
        result.competitorPct = round((100 * c) / rateMbit, 1);
        if (g + c > 0) result.sharePct = round((100 * g) / (g + c), 1);
      }
    }
    const inWin = qdisc.filter((q) => q.t >= w0 && q.t <= w1);
    if (inWin.length >= 2) {
      const a = inWin[0]!;
      const b = inWin[inWin.length - 1]!;
      result.linkUtilPct = round((100 * ((b.bytes - a.bytes) * 8)) / ((b.t - a.t) / 1000) / tbf.rateBps, 1);
      result.tbfDrops = b.drops - a.drops;
    }
    const d0 = qdisc[0]?.drops ?? 0;
    result.series.qdisc = qdisc.map((q) => [rel(q.t), q.backlog, q.drops - d0]);
    if (send) {
      for (const line of send.lines) {
        if (!line.startsWith('T ')) continue;
        const sp = line.indexOf(' ', 2);
        const rec = JSON.parse(line.slice(sp + 1)) as Record<string, number | boolean>;
        for (const [k, v] of Object.entries(rec)) if (typeof v === 'number' && !Number.isInteger(v)) rec[k] = round(v);
        result.series.stats.push([rel(Number(line.slice(2, sp))), rec]);
      }
      const last = result.series.stats[result.series.stats.length - 1]?.[1];
      if (typeof last?.timeouts === 'number') result.timeouts = last.timeouts;
      if (typeof last?.retransmits === 'number') result.retransmits = last.retransmits;
    }
    result.ok = true;
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    sampling = false;
    await sampler;
    await Promise.all(children.map((c) => c.stop()));
  }
  return result;
}

// ---------------------------------------------------------------- report

const fmt = (x: number | undefined, d = 1): string => (x === undefined ? '-' : x.toFixed(d));
const STACK_LABEL: Record<FlowStack, string> = { microtp: 'microtp', 'utp-native': 'libutp', cubic: 'tcp-cubic' };

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
  const widths = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length > 5).map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.length <= 5 ? cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join('  ') : cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
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

function rateSeries(cum: Array<[number, number]>, binS = 0.5): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let prev = cum[0];
  for (const cur of cum) {
    if (!prev || cur[0] - prev[0] < binS) continue;
    out.push([(cur[0] + prev[0]) / 2, ((cur[1] - prev[1]) * 8) / (cur[0] - prev[0]) / 1e6]);
    prev = cur;
  }
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
  files: string[];
}

export async function runBottleneck(cfg: Config = configFromEnv()): Promise<BottleneckReport> {
  const files: string[] = [];
  const results: RunResult[] = [];
  if (process.platform !== 'linux') return { skipped: 'needs Linux network namespaces', results, files };
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
      return { skipped: err instanceof Error ? err.message : String(err), results, files };
    }
    const wanted = (set: Set<PointKey> | 'all', r: number, q: number): boolean => set === 'all' || set.has(key(r, q));
    const plan: Array<[FlowStack, number, number, Mode]> = [];
    for (const rate of cfg.rates)
      for (const q of cfg.queuesMs) {
        for (const s of cfg.stacks) plan.push([s, rate, q, 'alone']);
        if (wanted(cfg.compete, rate, q)) for (const s of cfg.stacks) if (s !== 'cubic') plan.push([s, rate, q, 'vs-cubic']);
      }
    const estimate = plan.reduce((sum, [, , q, m]) => sum + (m === 'alone' ? cfg.seconds : cfg.competeSeconds) + cfg.baseS + 3 + q / 1000, 0);
    console.log(
      `bottleneck: ${plan.length} runs, about ${Math.ceil(estimate / 60)} min; tbf on the router toward the receiver; ping ${cfg.pingHz}/s; ` +
        `alone: ${cfg.seconds} s, measured from ${cfg.warmupS} s; vs TCP cubic: ${cfg.competeSeconds} s, measured ${cfg.competeTrimS}-${cfg.competeSeconds - cfg.competeTrimS} s`,
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
    console.log(
      '\nbottleneck results. goodput: payload over the window / tbf rate (headers cap it near 95.7 % for 1400-byte' +
        ' µTP packets); delay: ping RTT - idle RTT (ms); share: µTP / (µTP + TCP cubic) goodput; link util: all frames through tbf / rate',
    );
    console.log(table(results));

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const toPlot = new Set(results.filter((r) => r.ok && wanted(cfg.plot, r.rateMbit, r.queueMs)).map((r) => key(r.rateMbit, r.queueMs)));
    if (toPlot.size || cfg.json) mkdirSync(RESULTS_DIR, { recursive: true });
    for (const k of toPlot) {
      const [rate, q] = k.split(':').map(Number) as [number, number];
      const svg = `${RESULTS_DIR}bottleneck-${stamp}-${rate}mbit-${q}ms.svg`;
      writeFileSync(svg, plotPoint(results, rate, q));
      files.push(svg);
      try {
        const png = svg.replace(/\.svg$/, '.png');
        execFileSync('rsvg-convert', ['-o', png, svg], { stdio: 'ignore', timeout: 30_000 });
        files.push(png);
      } catch {
        /* rsvg-convert (Debian: librsvg2-bin) not installed: the SVG is the plot */
      }
    }
    if (cfg.json) {
      const file = `${RESULTS_DIR}bottleneck-${stamp}.json`;
      const env = { ...cfg, compete: cfg.compete === 'all' ? 'all' : [...cfg.compete], plot: cfg.plot === 'all' ? 'all' : [...cfg.plot], node: process.version, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim() };
      // Summaries indented, each run's time series on one line (they are most of the bytes).
      const runs = results.map(({ series, ...summary }) => `${JSON.stringify(summary, null, 1).slice(0, -2)},\n "series": ${JSON.stringify(series)}\n}`);
      writeFileSync(file, `{"env": ${JSON.stringify(env, null, 1)},\n"results": [\n${runs.join(',\n')}\n]}\n`);
      files.push(file);
    }
    for (const f of files) console.log(`wrote ${f}`);
    return { results, files };
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
  } else if (report.results.some((r) => !r.ok)) process.exitCode = 1;
}
