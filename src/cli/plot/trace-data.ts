/**
 * Reading a qlog trace (docs/qlog.md) into the series a plot draws. Pure: text in, numbers out.
 * Reads JSON-SEQ (RS-separated records, what microtp writes) and NDJSON (one record a line).
 */

export interface QlogEvent {
  /** ms, relative to the trace's reference time. */
  time: number;
  name: string;
  data: Record<string, unknown>;
}

export interface ParsedTrace {
  /** The header record (qlog_version, title, trace.common_fields...), or {} when absent. */
  header: Record<string, unknown>;
  events: QlogEvent[];
  /** Records that did not parse (a file cut short by a crash ends with one). */
  skipped: number;
}

/** A parse failure of the whole file (nothing in it is a qlog record). */
export class TraceFormatError extends Error {
  override name = 'TraceFormatError';
}

export function parseTrace(text: string): ParsedTrace {
  const records = text.includes('\x1e') ? text.split('\x1e') : text.split('\n');
  let header: Record<string, unknown> | undefined;
  const events: QlogEvent[] = [];
  let skipped = 0;
  for (const raw of records) {
    const record = raw.trim();
    if (record === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(record);
    } catch {
      skipped++;
      continue;
    }
    if (typeof value !== 'object' || value === null) {
      skipped++;
      continue;
    }
    const r = value as Record<string, unknown>;
    if (header === undefined && events.length === 0 && 'qlog_version' in r) {
      header = r;
      continue;
    }
    if (typeof r.time === 'number' && typeof r.name === 'string') {
      events.push({ time: r.time, name: r.name, data: (typeof r.data === 'object' && r.data !== null ? r.data : {}) as Record<string, unknown> });
    } else {
      skipped++;
    }
  }
  if (header === undefined && events.length === 0) throw new TraceFormatError('no qlog records found (expected JSON-SEQ or NDJSON)');
  return { header: header ?? {}, events, skipped };
}

/** [time in s, value] pairs. */
export type Series = [number, number][];

export interface RateBins {
  /** Bin width (s). */
  width: number;
  /** Start time (s) of bin 0. */
  start: number;
  /** Mbit/s per bin. */
  values: number[];
}

export interface PlotData {
  /** Who: role and both ends (from the header). */
  title: string;
  subtitle: string;
  /** Time span plotted (s). */
  start: number;
  end: number;
  cwnd: Series;
  bytesInFlight: Series;
  peerWindow: Series;
  latestRtt: Series;
  smoothedRtt: Series;
  queuingDelay: Series;
  /** The delay target (ms), step series (it is a constant for LEDBAT). */
  target: Series;
  /** DATA payload sent, first transmissions only / all transmissions; payload received. */
  goodput: RateBins;
  sendRate: RateBins;
  receiveRate: RateBins;
  losses: number[];
  retransmits: number[];
  timeouts: number[];
  /** Slow start ended (first metrics event with slow_start false after true). */
  slowStartExit: number | undefined;
  /** Bytes of new DATA this side sent in the span: without any, window and delay say nothing. */
  sentBytes: number;
  states: { time: number; state: string }[];
}

export interface ExtractOptions {
  /** Only events in [start, end] seconds (relative times). */
  start?: number | undefined;
  end?: number | undefined;
  /** Rate bin width (s); default: about 120 bins over the span, a 1-2-5 step of at least 1 ms. */
  bin?: number | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function header(data: unknown): Record<string, unknown> {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
}

/** A 1-2-5 step of about `ideal`. */
export function niceStep(ideal: number): number {
  if (!(ideal > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(ideal));
  const m = ideal / power;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
}

export function extractPlotData(trace: ParsedTrace, options: ExtractOptions = {}): PlotData {
  const all = trace.events;
  let firstTime = Infinity;
  let lastTime = -Infinity;
  for (const e of all) {
    if (e.time < firstTime) firstTime = e.time;
    if (e.time > lastTime) lastTime = e.time;
  }
  firstTime = all.length > 0 ? firstTime / 1000 : 0;
  lastTime = all.length > 0 ? lastTime / 1000 : 0;
  const start = options.start ?? Math.min(firstTime, 0);
  const end = Math.max(options.end ?? lastTime, start + 0.001);
  const d: PlotData = {
    title: traceTitle(trace.header),
    subtitle: '',
    start,
    end,
    cwnd: [],
    bytesInFlight: [],
    peerWindow: [],
    latestRtt: [],
    smoothedRtt: [],
    queuingDelay: [],
    target: [],
    goodput: { width: 0, start, values: [] },
    sendRate: { width: 0, start, values: [] },
    receiveRate: { width: 0, start, values: [] },
    losses: [],
    retransmits: [],
    timeouts: [],
    slowStartExit: undefined,
    sentBytes: 0,
    states: [],
  };
  const width = options.bin ?? Math.max(0.001, niceStep((end - start) / 120));
  const bins = Math.max(1, Math.ceil((end - start) / width));
  const goodBytes = new Array<number>(bins).fill(0);
  const sentBytes = new Array<number>(bins).fill(0);
  const receivedBytes = new Array<number>(bins).fill(0);
  let sentTotal = 0;
  let receivedTotal = 0;
  let wasSlowStart = false;
  for (const e of all) {
    const t = e.time / 1000;
    if (t < start || t > end) continue;
    const bin = Math.min(bins - 1, Math.floor((t - start) / width));
    switch (e.name) {
      case 'utp:packet_sent': {
        const h = header(e.data.header);
        if (h.packet_type !== 'data') break;
        const payload = num(header(e.data.raw).payload_length) ?? 0;
        sentBytes[bin]! += payload;
        if (e.data.resend !== true) {
          goodBytes[bin]! += payload;
          sentTotal += payload;
        }
        break;
      }
      case 'utp:packet_received': {
        const h = header(e.data.header);
        if (h.packet_type !== 'data' || e.data.verdict !== 'valid') break;
        const payload = num(header(e.data.raw).payload_length) ?? 0;
        receivedBytes[bin]! += payload;
        receivedTotal += payload;
        break;
      }
      case 'utp:metrics_updated': {
        const m = e.data;
        push(d.cwnd, t, num(m.cwnd));
        push(d.bytesInFlight, t, num(m.bytes_in_flight));
        push(d.peerWindow, t, num(m.peer_window));
        const latest = num(m.latest_rtt);
        if (latest !== undefined && latest > 0) d.latestRtt.push([t, latest]);
        const smoothed = num(m.smoothed_rtt);
        if (smoothed !== undefined && smoothed > 0) d.smoothedRtt.push([t, smoothed]);
        push(d.queuingDelay, t, num(m.queuing_delay));
        const target = num(m.target_delay);
        if (target !== undefined && (d.target.length === 0 || d.target[d.target.length - 1]![1] !== target)) d.target.push([t, target]);
        if (m.slow_start === true) wasSlowStart = true;
        else if (m.slow_start === false && wasSlowStart && d.slowStartExit === undefined) d.slowStartExit = t;
        break;
      }
      case 'utp:timeout':
        d.timeouts.push(t);
        push(d.cwnd, t, num(e.data.cwnd));
        break;
      case 'utp:packet_lost':
        d.losses.push(t);
        break;
      case 'utp:packet_retransmitted':
        d.retransmits.push(t);
        break;
      case 'utp:connection_state_updated':
        if (typeof e.data.new === 'string') d.states.push({ time: t, state: e.data.new });
        break;
    }
  }
  // The target holds until the end.
  if (d.target.length > 0) d.target.push([end, d.target[d.target.length - 1]![1]]);
  const toRate = (bytes: number[]): RateBins => ({ width, start, values: bytes.map((b) => (b * 8) / width / 1e6) });
  d.sentBytes = sentTotal;
  d.goodput = toRate(goodBytes);
  d.sendRate = toRate(sentBytes);
  d.receiveRate = toRate(receivedBytes);
  const span = end - start;
  const parts = [`${span.toFixed(span < 10 ? 2 : 1)} s`];
  if (sentTotal > 0) parts.push(`${formatBytes(sentTotal)} sent (${((sentTotal * 8) / span / 1e6).toFixed(1)} Mbit/s)`);
  if (receivedTotal > 0) parts.push(`${formatBytes(receivedTotal)} received (${((receivedTotal * 8) / span / 1e6).toFixed(1)} Mbit/s)`);
  parts.push(`${d.losses.length} lost, ${d.retransmits.length} retransmitted, ${d.timeouts.length} timeouts`);
  d.subtitle = parts.join(' · ');
  return d;
}

function push(series: Series, t: number, value: number | undefined): void {
  if (value !== undefined) series.push([t, value]);
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function traceTitle(h: Record<string, unknown>): string {
  const trace = header(h.trace);
  const common = header(trace.common_fields);
  const role = header(trace.vantage_point).type;
  const local = `${String(common.local_address ?? '?')}:${String(common.local_port ?? '?')}`;
  const remote = `${String(common.remote_address ?? '?')}:${String(common.remote_port ?? '?')}`;
  if (common.remote_address === undefined) return typeof h.title === 'string' ? h.title : 'µTP connection';
  const ids = common.recv_id === undefined ? '' : ` (recv_id ${String(common.recv_id)})`;
  return `µTP ${typeof role === 'string' ? role : 'connection'} ${local} → ${remote}${ids}`;
}
