// A small SVG line/dot chart writer (no dependencies): a grid of panels sharing a time axis.
// PNG conversion is optional and done by run.ts with rsvg-convert when it is installed.

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>; // [seconds, value]
  style?: 'line' | 'dots' | 'dash';
}

export interface Panel {
  title: string;
  yLabel: string;
  xMax: number; // seconds
  series: Series[];
  hlines?: Array<{ y: number; label: string; color: string }>;
  /** Text shown instead of an empty chart (e.g. "libutp exposes no cwnd"). */
  note?: string;
  /** Fix the top of the y axis; else from the data (clipped at the 99.5th percentile x 1.1). */
  yMax?: number;
  /** Vertical markers, e.g. the measurement window or where a flow starts (label at the bottom). */
  vlines?: Array<{ x: number; label?: string; color?: string }>;
}

const W = 560; // panel width incl. margins
const H = 230;
const M = { left: 62, right: 14, top: 26, bottom: 34 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

function yTop(p: Panel): number {
  if (p.yMax !== undefined) return p.yMax;
  const ys = p.series.flatMap((s) => s.points.map((pt) => pt[1])).filter(Number.isFinite).sort((a, b) => a - b);
  const hl = (p.hlines ?? []).map((h) => h.y);
  const q = ys.length ? (ys[Math.min(ys.length - 1, Math.floor(ys.length * 0.995))] ?? 0) : 0;
  const top = Math.max(q, ...hl, 1e-9) * 1.1;
  const step = niceStep(top, 5);
  return Math.ceil(top / step) * step;
}

function panelSvg(p: Panel, ox: number, oy: number): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x0 = ox + M.left;
  const y0 = oy + M.top;
  const ymax = yTop(p);
  const sx = (x: number): number => x0 + (Math.min(Math.max(x, 0), p.xMax) / p.xMax) * pw;
  const sy = (y: number): number => y0 + ph - (Math.min(Math.max(y, 0), ymax) / ymax) * ph;
  const parts: string[] = [];
  parts.push(`<text x="${x0}" y="${oy + 17}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
  parts.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" fill="#fff" stroke="#888"/>`);
  const ystep = niceStep(ymax, 5);
  // A panel that only carries a note has no y scale to show.
  const noData = p.note !== undefined && p.series.every((s) => s.points.length === 0) && !p.hlines?.length;
  for (let y = 0; !noData && y <= ymax + 1e-9; y += ystep) {
    parts.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 5}" y="${(sy(y) + 4).toFixed(1)}" font-size="10" text-anchor="end">${+y.toPrecision(6)}</text>`);
  }
  const xstep = niceStep(p.xMax, 8);
  for (let x = 0; x <= p.xMax + 1e-9; x += xstep) {
    parts.push(`<line x1="${sx(x).toFixed(1)}" x2="${sx(x).toFixed(1)}" y1="${y0}" y2="${y0 + ph}" stroke="#f2f2f2"/>`);
    parts.push(`<text x="${sx(x).toFixed(1)}" y="${y0 + ph + 13}" font-size="10" text-anchor="middle">${+x.toPrecision(6)}</text>`);
  }
  parts.push(`<text x="${x0 + pw / 2}" y="${y0 + ph + 28}" font-size="10" text-anchor="middle">seconds</text>`);
  parts.push(
    `<text x="${ox + 13}" y="${y0 + ph / 2}" font-size="10" text-anchor="middle" transform="rotate(-90 ${ox + 13} ${y0 + ph / 2})">${esc(p.yLabel)}</text>`,
  );
  for (const v of p.vlines ?? []) {
    parts.push(`<line x1="${sx(v.x).toFixed(1)}" x2="${sx(v.x).toFixed(1)}" y1="${y0}" y2="${y0 + ph}" stroke="${v.color ?? '#bbb'}" stroke-dasharray="2,3"/>`);
    // Labels sit under the top edge, right of their line (legends are at the left).
    if (v.label) parts.push(`<text x="${(sx(v.x) + 3).toFixed(1)}" y="${y0 + ph - 5}" font-size="9" fill="${v.color ?? '#666'}">${esc(v.label)}</text>`);
  }
  for (const h of p.hlines ?? []) {
    const y = sy(h.y).toFixed(1);
    parts.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="${h.color}" stroke-dasharray="6,4"/>`);
    parts.push(`<text x="${x0 + pw - 4}" y="${Number(y) - 3}" font-size="9" text-anchor="end" fill="${h.color}">${esc(h.label)}</text>`);
  }
  parts.push(`<clipPath id="c${ox}_${oy}"><rect x="${x0}" y="${y0}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<g clip-path="url(#c${ox}_${oy})">`);
  for (const s of p.series) {
    if (s.points.length === 0) continue;
    if (s.style === 'dots') {
      for (const [x, y] of s.points) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="1.6" fill="${s.color}"/>`);
    } else {
      const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.3"${s.style === 'dash' ? ' stroke-dasharray="4,3"' : ''}/>`);
    }
  }
  parts.push('</g>');
  // Legend, top-left inside the plot.
  let ly = y0 + 12;
  for (const s of p.series) {
    parts.push(`<rect x="${x0 + 6}" y="${ly - 7}" width="10" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${x0 + 20}" y="${ly - 2}" font-size="9">${esc(s.name)}${s.points.length ? '' : ' (no data)'}</text>`);
    ly += 11;
  }
  if (p.note) parts.push(`<text x="${x0 + pw / 2}" y="${y0 + ph / 2}" font-size="12" fill="#666" text-anchor="middle">${esc(p.note)}</text>`);
  return parts.join('\n');
}

/** `grid[row][col]`; a null cell is left empty. */
export function renderSvg(title: string, subtitle: string, grid: Array<Array<Panel | null>>): string {
  const cols = Math.max(...grid.map((r) => r.length));
  const width = cols * W;
  const head = 44;
  const height = head + grid.length * H;
  const body: string[] = [];
  grid.forEach((row, r) =>
    row.forEach((p, c) => {
      if (p) body.push(panelSvg(p, c * W, head + r * H));
    }),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fafafa"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="37" font-size="11" fill="#444">${esc(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
