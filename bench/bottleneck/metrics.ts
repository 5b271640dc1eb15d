// Pure metric code of the bottleneck bench (no processes, no namespaces), shared by the
// single-flow runs (run.ts) and the multi-flow scenarios (multi-flow.ts), and unit-tested by
// test/bench/bottleneck-metrics.test.ts. Times are epoch ms unless a name says seconds.

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** Linear-interpolated quantile of an ascending array; undefined when empty. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Jain's fairness index of per-flow rates: 1 when equal, 1/n when one flow has everything. */
export function jain(rates: readonly number[]): number {
  const sum = rates.reduce((s, x) => s + x, 0);
  const squares = rates.reduce((s, x) => s + x * x, 0);
  return squares === 0 ? 0 : (sum * sum) / (rates.length * squares);
}

/** The last third of a run of `seconds`, as [from, to] seconds after the first flow connected. */
export function lastThird(seconds: number): [number, number] {
  return [(seconds * 2) / 3, seconds];
}

/**
 * Each flow's base delay at the end minus the true base delay (ms). All flows of a scenario run
 * in one sender and one receiver process, so their µTP timestamps carry the same clock offset;
 * no flow can see less than the empty path's one-way delay plus that offset, so the lowest base
 * delay any flow reported is an upper bound of the true base (offset included), reached when a
 * flow saw the empty path with a lone packet, and the offset cancels in the difference.
 * `known`, when given, is an independent estimate of the true base (the clock offset from the
 * processes' timeOrigins plus the path's one-way delay): the true base is then the lower of the
 * two, so a run in which no flow ever saw the empty path alone is not judged against its own
 * inflated floor. `history[i]` is flow i's baseDelay readings in time order (0 = no sample yet).
 */
export function baseErrors(history: ReadonlyArray<readonly number[]>, known?: number): { lowest: number | undefined; trueBase: number | undefined; errors: Array<number | undefined> } {
  const seen = history.map((h) => h.filter((x) => x > 0));
  const all = seen.flat();
  if (all.length === 0) return { lowest: undefined, trueBase: known, errors: history.map(() => undefined) };
  const lowest = all.reduce((m, x) => Math.min(m, x));
  const trueBase = known === undefined ? lowest : Math.min(lowest, known);
  return { lowest, trueBase, errors: seen.map((h) => (h.length ? h[h.length - 1]! - trueBase : undefined)) };
}

/** x folded into [-wrap/2, wrap/2): a difference of clocks that wrap at `wrap`. */
export function foldWrap(x: number, wrap: number): number {
  return ((((x % wrap) + wrap * 1.5) % wrap) - wrap / 2);
}

// ---------------------------------------------------------------- worker output

export interface PingLog {
  sent: Map<number, number>; // seq -> epoch ms
  rtt: Map<number, number>; // seq -> ms
}

/** The ping worker's `S <seq> <t>` and `R <seq> <rttMs>` lines. */
export function parsePing(lines: readonly string[]): PingLog {
  const log: PingLog = { sent: new Map(), rtt: new Map() };
  for (const line of lines) {
    const [tag, a, b] = line.split(' ');
    if (tag === 'S') log.sent.set(Number(a), Number(b));
    else if (tag === 'R') log.rtt.set(Number(a), Number(b));
  }
  return log;
}

/**
 * Cumulative-byte series [epoch ms, bytes] of connection `flow` (in accept order) from the
 * receiver's `B <t> <bytes flow 0> <bytes flow 1> ...` lines; a flow not yet accepted has no
 * column and no point.
 */
export function parseBytes(lines: readonly string[], flow = 0): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const l of lines) {
    if (!l.startsWith('B ')) continue;
    const cols = l.split(' ');
    const b = cols[2 + flow];
    if (b !== undefined) out.push([Number(cols[1]), Number(b)]);
  }
  return out;
}

export type StatsRecord = Record<string, number | boolean>;

/** microtp's `T <t> <flow> <json>` lines: per flow, [epoch ms, socket.stats()] in time order. */
export function parseStats(lines: readonly string[]): Array<Array<[number, StatsRecord]>> {
  const flows: Array<Array<[number, StatsRecord]>> = [];
  for (const line of lines) {
    if (!line.startsWith('T ')) continue;
    const sp1 = line.indexOf(' ', 2);
    const sp2 = line.indexOf(' ', sp1 + 1);
    const flow = Number(line.slice(sp1 + 1, sp2));
    const rec = JSON.parse(line.slice(sp2 + 1)) as StatsRecord;
    for (const [k, v] of Object.entries(rec)) if (typeof v === 'number' && !Number.isInteger(v)) rec[k] = round(v);
    (flows[flow] ??= []).push([Number(line.slice(2, sp1)), rec]);
  }
  return flows;
}

/** Bytes at time t, interpolated; undefined when the series does not cover t (250 ms slack). */
export function bytesAt(series: ReadonlyArray<readonly [number, number]>, t: number): number | undefined {
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

/** Mbit/s of a cumulative-byte series over [w0, w1] (epoch ms); undefined if not covered. */
export function goodputMbit(series: ReadonlyArray<readonly [number, number]>, w0: number, w1: number): number | undefined {
  const a = bytesAt(series, w0);
  const b = bytesAt(series, w1);
  return a === undefined || b === undefined ? undefined : ((b - a) * 8) / ((w1 - w0) / 1000) / 1e6;
}

// ---------------------------------------------------------------- ping delay

export interface DelayStats {
  n: number;
  median: number | undefined;
  p90: number | undefined;
  max: number | undefined;
  lossPct: number | undefined; // pings sent in the window that never came back
}

/** Median and minimum RTT of the idle pings sent before t0 (the first one skipped: it may carry ARP). */
export function baseRtt(pings: PingLog, t0: number): { median: number; min: number } | undefined {
  const base = [...pings.sent].filter(([seq, t]) => t < t0 && seq > 0 && pings.rtt.has(seq)).map(([seq]) => pings.rtt.get(seq)!).sort((a, b) => a - b);
  const median = quantile(base, 0.5);
  return median === undefined ? undefined : { median, min: base[0]! };
}

/**
 * Added delay (RTT - base RTT) of the pings sent in [w0, w1], and every ping as a series
 * [seconds since t0, added ms | null = lost].
 */
export function addedDelay(pings: PingLog, base: number, t0: number, w0: number, w1: number): { delay: DelayStats; series: Array<[number, number | null]> } {
  const added: number[] = [];
  const series: Array<[number, number | null]> = [];
  let lost = 0;
  for (const [seq, t] of pings.sent) {
    const rtt = pings.rtt.get(seq);
    series.push([round((t - t0) / 1000), rtt === undefined ? null : round(rtt - base)]);
    if (t < w0 || t > w1) continue;
    if (rtt === undefined) lost++;
    else added.push(rtt - base);
  }
  added.sort((a, b) => a - b);
  return {
    series,
    delay: {
      n: added.length,
      median: added.length ? round(quantile(added, 0.5)!, 2) : undefined,
      p90: added.length ? round(quantile(added, 0.9)!, 2) : undefined,
      max: added.length ? round(added[added.length - 1]!, 2) : undefined,
      lossPct: added.length + lost ? round((100 * lost) / (added.length + lost), 2) : undefined,
    },
  };
}

/** Payload rate over time from a cumulative-byte series [s, bytes], in bins of at least binS. */
export function rateSeries(cum: ReadonlyArray<readonly [number, number]>, binS = 0.5): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let prev = cum[0];
  for (const cur of cum) {
    if (!prev || cur[0] - prev[0] < binS) continue;
    out.push([(cur[0] + prev[0]) / 2, ((cur[1] - prev[1]) * 8) / (cur[0] - prev[0]) / 1e6]);
    prev = cur;
  }
  return out;
}

/** Link use (all frames through tbf / rate, %) and tbf drops over [w0, w1], from qdisc samples. */
export function linkStats(qdisc: ReadonlyArray<{ t: number; bytes: number; drops: number }>, w0: number, w1: number, rateBps: number): { linkUtilPct: number; tbfDrops: number } | undefined {
  const inWin = qdisc.filter((q) => q.t >= w0 && q.t <= w1);
  if (inWin.length < 2) return undefined;
  const a = inWin[0]!;
  const b = inWin[inWin.length - 1]!;
  return { linkUtilPct: round((100 * ((b.bytes - a.bytes) * 8)) / ((b.t - a.t) / 1000) / rateBps, 1), tbfDrops: b.drops - a.drops };
}
