/**
 * A trace as an SVG picture: stacked panels over one time axis (window, delay, rate, events),
 * each with its axis, units and legend. Pure and dependency-free: PlotData in, SVG text out.
 *
 * Long traces have far more points than pixels: each line keeps, per pixel column, its first,
 * lowest, highest and last value, so spikes survive and the file stays small.
 */
import { niceStep, type PlotData, type RateBins, type Series } from './trace-data.js';

const WIDTH = 1100;
const LEFT = 78;
const PLOT_WIDTH = 790;
const LEGEND_X = LEFT + PLOT_WIDTH + 18;
const TOP = 92;
const PANEL_GAP = 30;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const COLORS = {
  cwnd: '#1f63c6',
  flight: '#f08c00',
  peerWindow: '#8a8a8a',
  latestRtt: '#b9b9b9',
  smoothedRtt: '#404040',
  queuing: '#0f9d8a',
  target: '#d62728',
  goodput: '#1f63c6',
  sendRate: '#f08c00',
  receiveRate: '#2a9d3f',
  loss: '#d62728',
  retransmit: '#f08c00',
  timeout: '#8e3fc1',
  slowStart: '#2a9d3f',
  grid: '#e6e6e6',
  frame: '#9a9a9a',
  text: '#222222',
  muted: '#666666',
};

interface Panel {
  y: number;
  height: number;
}

interface LegendItem {
  label: string;
  color: string;
  kind: 'line' | 'dash' | 'area' | 'mark';
  mark?: string;
}

export interface RenderOptions {
  /** Replaces the title from the trace header. */
  title?: string | undefined;
}

export function renderSvg(d: PlotData, options: RenderOptions = {}): string {
  const out: string[] = [];
  const x = (t: number): number => LEFT + ((t - d.start) / (d.end - d.start)) * PLOT_WIDTH;
  const panels = {
    window: { y: TOP, height: 210 },
    delay: { y: TOP + 210 + PANEL_GAP, height: 190 },
    rate: { y: TOP + 210 + 190 + 2 * PANEL_GAP, height: 160 },
    events: { y: TOP + 210 + 190 + 160 + 3 * PANEL_GAP, height: 66 },
  };
  const bottom = panels.events.y + panels.events.height;
  const height = bottom + 58;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" font-size="12" fill="${COLORS.text}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="30" font-size="18" font-weight="bold">${escape(options.title ?? d.title)}</text>`,
    `<text x="${LEFT}" y="52" font-size="13" fill="${COLORS.muted}">${escape(d.subtitle)}</text>`,
  );
  const xTicks = ticks(d.start, d.end, 10);
  for (const [name, panel] of Object.entries(panels)) {
    out.push(`<clipPath id="clip-${name}"><rect x="${LEFT}" y="${panel.y}" width="${PLOT_WIDTH}" height="${panel.height}"/></clipPath>`);
  }

  // Window panel.
  {
    const p = panels.window;
    const max = Math.max(maxOf(d.cwnd), maxOf(d.bytesInFlight), 1);
    const mib = max >= 4 * 1024 * 1024;
    const unit = mib ? 1024 * 1024 : 1024;
    const yMax = niceMax((max / unit) * 1.08);
    const y = scaleY(p, yMax);
    panelFrame(out, p, 'window', `window (${mib ? 'MiB' : 'KiB'})`, yMax, xTicks, x);
    if (d.sentBytes > 0) {
      out.push(`<g clip-path="url(#clip-window)">`);
      out.push(polyline(scaleSeries(d.peerWindow, unit), x, y, COLORS.peerWindow, 1.2, '5 4'));
      out.push(polyline(scaleSeries(d.bytesInFlight, unit), x, y, COLORS.flight, 1.2));
      out.push(polyline(scaleSeries(d.cwnd, unit), x, y, COLORS.cwnd, 2.2));
      out.push(`</g>`);
    } else {
      emptyNote(out, p, 'this side sent no data: the window is a sender\'s (plot the other side\'s trace)');
    }
    if (d.slowStartExit !== undefined) {
      const sx = x(d.slowStartExit);
      out.push(`<line x1="${f(sx)}" y1="${p.y}" x2="${f(sx)}" y2="${p.y + p.height}" stroke="${COLORS.slowStart}" stroke-width="1.5" stroke-dasharray="2 3"/>`);
      const anchorEnd = sx > LEFT + PLOT_WIDTH - 120;
      out.push(`<text x="${f(sx + (anchorEnd ? -5 : 5))}" y="${p.y + 14}" fill="${COLORS.slowStart}" font-size="11"${anchorEnd ? ' text-anchor="end"' : ''}>slow start ends</text>`);
    }
    legend(out, p, [
      { label: 'cwnd', color: COLORS.cwnd, kind: 'line' },
      { label: 'bytes in flight', color: COLORS.flight, kind: 'line' },
      { label: peerWindowLabel(d.peerWindow, yMax * unit, mib), color: COLORS.peerWindow, kind: 'dash' },
      ...(d.slowStartExit !== undefined ? [{ label: 'slow start ends', color: COLORS.slowStart, kind: 'dash' as const }] : []),
    ]);
  }

  // Delay panel.
  {
    const p = panels.delay;
    const target = d.target.length > 0 ? d.target[0]![1] : 0;
    const yMax = niceMax(Math.max(target * 1.3, percentile(d.latestRtt, 0.99), maxOf(d.smoothedRtt), maxOf(d.queuingDelay), 1) * 1.05);
    const y = scaleY(p, yMax);
    panelFrame(out, p, 'delay', 'delay (ms)', yMax, xTicks, x);
    if (d.sentBytes > 0) {
      out.push(`<g clip-path="url(#clip-delay)">`);
      out.push(polyline(d.latestRtt, x, y, COLORS.latestRtt, 1));
      out.push(polyline(d.smoothedRtt, x, y, COLORS.smoothedRtt, 1.6));
      out.push(polyline(d.queuingDelay, x, y, COLORS.queuing, 2.2));
      out.push(polyline(d.target, x, y, COLORS.target, 1.6, '7 4', true));
      out.push(`</g>`);
    } else {
      emptyNote(out, p, 'this side sent no data: RTT and queueing delay are measured by the sender');
    }
    legend(out, p, [
      { label: 'RTT sample', color: COLORS.latestRtt, kind: 'line' },
      { label: 'smoothed RTT', color: COLORS.smoothedRtt, kind: 'line' },
      { label: 'queueing delay', color: COLORS.queuing, kind: 'line' },
      { label: `target${target > 0 ? ` (${target} ms)` : ''}`, color: COLORS.target, kind: 'dash' },
    ]);
  }

  // Rate panel.
  {
    const p = panels.rate;
    const sending = sum(d.sendRate.values) > 0;
    const receiving = sum(d.receiveRate.values) > 0;
    const resends = sending && d.sendRate.values.some((v, i) => v > (d.goodput.values[i] ?? 0) + 1e-9);
    const yMax = niceMax(Math.max(maxOf1(d.sendRate.values), maxOf1(d.receiveRate.values), 0.001) * 1.08);
    const y = scaleY(p, yMax);
    panelFrame(out, p, 'rate', 'rate (Mbit/s)', yMax, xTicks, x);
    const items: LegendItem[] = [];
    out.push(`<g clip-path="url(#clip-rate)">`);
    if (sending) {
      // Resends first, under the new data: the orange shows only where resends added to it.
      if (resends) out.push(steps(d.sendRate, x, y, COLORS.sendRate, 1.6));
      out.push(area(d.goodput, x, y, p, COLORS.goodput));
      items.push({ label: 'new data sent', color: COLORS.goodput, kind: 'area' });
      if (resends) items.push({ label: 'all data sent (with resends)', color: COLORS.sendRate, kind: 'line' });
    }
    if (receiving) {
      out.push(steps(d.receiveRate, x, y, COLORS.receiveRate, 1.8));
      items.push({ label: 'data received', color: COLORS.receiveRate, kind: 'line' });
    }
    out.push(`</g>`);
    if (!sending && !receiving) emptyNote(out, p, 'no DATA packets in this time span');
    out.push(`<text x="${LEGEND_X}" y="${p.y + p.height - 4}" font-size="11" fill="${COLORS.muted}">bins of ${formatSeconds(d.sendRate.width)}</text>`);
    legend(out, p, items);
  }

  // Events strip: one row per kind of mark.
  {
    const p = panels.events;
    out.push(`<rect x="${LEFT}" y="${p.y}" width="${PLOT_WIDTH}" height="${p.height}" fill="none" stroke="${COLORS.frame}"/>`);
    gridX(out, p, xTicks, x);
    out.push(`<text x="${LEFT}" y="${p.y - 8}" font-size="13" font-weight="bold">events</text>`);
    const rows: [string, number[], string, string][] = [
      ['lost', d.losses, COLORS.loss, 'x'],
      ['resent', d.retransmits, COLORS.retransmit, 'tick'],
      ['timeout', d.timeouts, COLORS.timeout, 'triangle'],
    ];
    rows.forEach(([label, times, color, shape], i) => {
      const cy = p.y + 12 + i * 21;
      out.push(`<text x="${LEFT - 8}" y="${cy + 4}" text-anchor="end" font-size="11">${label}</text>`);
      out.push(marks(times, x, cy, color, shape));
      out.push(`<text x="${LEGEND_X}" y="${cy + 4}" font-size="11" fill="${COLORS.muted}">${times.length} ${label === 'timeout' ? (times.length === 1 ? 'timeout' : 'timeouts') : 'packets'}</text>`);
    });
  }

  // Timeouts cross every panel: the one event that explains a collapse anywhere.
  for (const t of dedupe(d.timeouts, x)) {
    for (const p of [panels.window, panels.delay, panels.rate]) {
      out.push(`<line x1="${f(x(t))}" y1="${p.y}" x2="${f(x(t))}" y2="${p.y + p.height}" stroke="${COLORS.timeout}" stroke-width="1" stroke-dasharray="3 3" opacity="0.7"/>`);
    }
  }

  // The shared time axis.
  for (const t of xTicks) {
    out.push(`<line x1="${f(x(t))}" y1="${bottom}" x2="${f(x(t))}" y2="${bottom + 5}" stroke="${COLORS.frame}"/>`);
    out.push(`<text x="${f(x(t))}" y="${bottom + 19}" text-anchor="middle">${formatTick(t, xTicks)}</text>`);
  }
  out.push(`<text x="${LEFT + PLOT_WIDTH / 2}" y="${bottom + 42}" text-anchor="middle" font-size="13">time (s)</text>`);
  out.push('</svg>');
  return out.filter((s) => s !== '').join('\n') + '\n';
}

function panelFrame(out: string[], p: Panel, name: string, label: string, yMax: number, xTicks: number[], x: (t: number) => number): void {
  const y = scaleY(p, yMax);
  out.push(`<text x="${LEFT}" y="${p.y - 8}" font-size="13" font-weight="bold">${escape(label)}</text>`);
  gridX(out, p, xTicks, x);
  const yTicks = ticks(0, yMax, 5);
  for (const v of yTicks) {
    const yy = y(v);
    out.push(`<line x1="${LEFT}" y1="${f(yy)}" x2="${LEFT + PLOT_WIDTH}" y2="${f(yy)}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${LEFT - 8}" y="${f(yy + 4)}" text-anchor="end">${formatTick(v, yTicks)}</text>`);
  }
  out.push(`<rect x="${LEFT}" y="${p.y}" width="${PLOT_WIDTH}" height="${p.height}" fill="none" stroke="${COLORS.frame}" data-panel="${name}"/>`);
}

function gridX(out: string[], p: Panel, xTicks: number[], x: (t: number) => number): void {
  for (const t of xTicks) out.push(`<line x1="${f(x(t))}" y1="${p.y}" x2="${f(x(t))}" y2="${p.y + p.height}" stroke="${COLORS.grid}"/>`);
}

function emptyNote(out: string[], p: Panel, text: string): void {
  out.push(`<text x="${LEFT + PLOT_WIDTH / 2}" y="${p.y + p.height / 2}" text-anchor="middle" fill="${COLORS.muted}" font-style="italic">${escape(text)}</text>`);
}

function legend(out: string[], p: Panel, items: LegendItem[]): void {
  items.forEach((item, i) => {
    const y = p.y + 10 + i * 20;
    const x1 = LEGEND_X;
    if (item.kind === 'area') {
      out.push(`<rect x="${x1}" y="${y - 5}" width="24" height="10" fill="${item.color}" fill-opacity="0.35" stroke="${item.color}"/>`);
    } else {
      const dash = item.kind === 'dash' ? ' stroke-dasharray="5 3"' : '';
      out.push(`<line x1="${x1}" y1="${y}" x2="${x1 + 24}" y2="${y}" stroke="${item.color}" stroke-width="2.4"${dash}/>`);
    }
    out.push(`<text x="${x1 + 32}" y="${y + 4}">${escape(item.label)}</text>`);
  });
}

/** The peer window's legend entry; when it stays above the panel (it rarely binds), its lowest value and an arrow up. */
function peerWindowLabel(s: Series, top: number, mib: boolean): string {
  let low = Infinity;
  for (const [, v] of s) if (v < low) low = v;
  if (!(low > top)) return 'peer window';
  return `peer window ≥ ${mib ? `${(low / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(low / 1024)} KiB`} ↑`;
}

function scaleY(p: Panel, yMax: number): (v: number) => number {
  return (v) => p.y + p.height - (v / yMax) * p.height;
}

function scaleSeries(s: Series, unit: number): Series {
  return s.map(([t, v]) => [t, v / unit]);
}

/**
 * A line through `s`, reduced to at most four points per pixel column (first, min, max, last in
 * time order). `hold`: a step line (the value holds until the next point).
 */
function polyline(s: Series, x: (t: number) => number, y: (v: number) => number, color: string, width: number, dash?: string, hold = false): string {
  if (s.length === 0) return '';
  const points: string[] = [];
  let column = NaN;
  let bucket: [number, number][] = [];
  const emit = (): void => {
    if (bucket.length === 0) return;
    let lo = bucket[0]!;
    let hi = bucket[0]!;
    for (const b of bucket) {
      if (b[1] < lo[1]) lo = b;
      if (b[1] > hi[1]) hi = b;
    }
    const keep = new Set([bucket[0]!, lo, hi, bucket[bucket.length - 1]!]);
    for (const b of bucket) if (keep.has(b)) points.push(`${f(b[0])},${f(b[1])}`);
    bucket = [];
  };
  let previous: [number, number] | undefined;
  for (const [t, v] of s) {
    const px = x(t);
    const py = y(v);
    if (hold && previous !== undefined) {
      bucket.push([px, previous[1]]);
    }
    const col = Math.round(px);
    if (col !== column) {
      emit();
      column = col;
    }
    bucket.push([px, py]);
    previous = [px, py];
  }
  emit();
  const dashAttr = dash ? ` stroke-dasharray="${dash}"` : '';
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round"${dashAttr} points="${points.join(' ')}"/>`;
}

/** A rate as steps (one flat segment per bin). */
function steps(r: RateBins, x: (t: number) => number, y: (v: number) => number, color: string, width: number): string {
  const points: string[] = [];
  r.values.forEach((v, i) => {
    const t0 = r.start + i * r.width;
    points.push(`${f(x(t0))},${f(y(v))}`, `${f(x(t0 + r.width))},${f(y(v))}`);
  });
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round" points="${points.join(' ')}"/>`;
}

/** A rate as a filled step area down to the axis. */
function area(r: RateBins, x: (t: number) => number, y: (v: number) => number, p: Panel, color: string): string {
  const base = p.y + p.height;
  const points: string[] = [`${f(x(r.start))},${f(base)}`];
  r.values.forEach((v, i) => {
    const t0 = r.start + i * r.width;
    points.push(`${f(x(t0))},${f(y(v))}`, `${f(x(t0 + r.width))},${f(y(v))}`);
  });
  points.push(`${f(x(r.start + r.values.length * r.width))},${f(base)}`);
  return `<polygon fill="${color}" fill-opacity="0.3" stroke="${color}" stroke-width="1.4" points="${points.join(' ')}"/>`;
}

/** One mark per pixel column at most (thousands of losses in a timeout are one smear anyway). */
function marks(times: number[], x: (t: number) => number, cy: number, color: string, shape: string): string {
  const parts: string[] = [];
  for (const t of dedupe(times, x)) {
    const cx = x(t);
    if (cx < LEFT - 1 || cx > LEFT + PLOT_WIDTH + 1) continue;
    if (shape === 'x') parts.push(`M${f(cx - 4)},${f(cy - 4)}L${f(cx + 4)},${f(cy + 4)}M${f(cx - 4)},${f(cy + 4)}L${f(cx + 4)},${f(cy - 4)}`);
    else if (shape === 'tick') parts.push(`M${f(cx)},${f(cy - 6)}L${f(cx)},${f(cy + 6)}`);
    else parts.push(`M${f(cx - 5)},${f(cy - 5)}L${f(cx + 5)},${f(cy - 5)}L${f(cx)},${f(cy + 5)}Z`);
  }
  if (parts.length === 0) return '';
  const fill = shape === 'triangle' ? color : 'none';
  return `<path d="${parts.join('')}" stroke="${color}" stroke-width="1.8" fill="${fill}"/>`;
}

function dedupe(times: number[], x: (t: number) => number): number[] {
  const seen = new Set<number>();
  const kept: number[] = [];
  for (const t of times) {
    const col = Math.round(x(t));
    if (seen.has(col)) continue;
    seen.add(col);
    kept.push(t);
  }
  return kept;
}

/** Tick values from `lo` to `hi`, about `count` of them, on a 1-2-5 step. */
function ticks(lo: number, hi: number, count: number): number[] {
  const step = niceStep((hi - lo) / count);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-6; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** The axis top: the next 1-2-5 tick at or above `v`. */
function niceMax(v: number): number {
  const step = niceStep(v / 5);
  return Math.ceil(v / step - 1e-9) * step;
}

function formatTick(v: number, all: number[]): string {
  const step = all.length > 1 ? Math.abs(all[1]! - all[0]!) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function formatSeconds(s: number): string {
  return s >= 1 ? `${s} s` : `${Math.round(s * 1000 * 1000) / 1000} ms`;
}

function maxOf(s: Series): number {
  let m = 0;
  for (const [, v] of s) if (v > m) m = v;
  return m;
}

function maxOf1(values: number[]): number {
  let m = 0;
  for (const v of values) if (v > m) m = v;
  return m;
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function percentile(s: Series, q: number): number {
  if (s.length === 0) return 0;
  const sorted = s.map(([, v]) => v).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
