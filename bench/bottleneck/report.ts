// Text tables and plot files of the bottleneck bench, shared by run.ts and multi-flow.ts.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export const fmt = (x: number | undefined, d = 1): string => (x === undefined ? '-' : x.toFixed(d));

export const STACK_LABEL = { microtp: 'microtp', 'utp-native': 'libutp', cubic: 'tcp-cubic' } as const;

/**
 * Columns aligned: the first `left` cells padded on the right, the others (numbers) on the left.
 * A row shorter than the head (a failed run: its labels, then the error) keeps its last cell
 * unpadded.
 */
export function textTable(head: string[], rows: string[][], left: number): string {
  const full = rows.filter((r) => r.length === head.length);
  const widths = head.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.length < head.length
      ? cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ')
      : cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** Writes the SVG, and a PNG next to it when rsvg-convert is installed; the files written. */
export function writePlot(svgPath: string, svg: string): string[] {
  writeFileSync(svgPath, svg);
  try {
    const png = svgPath.replace(/\.svg$/, '.png');
    execFileSync('rsvg-convert', ['-o', png, svgPath], { stdio: 'ignore', timeout: 30_000 });
    return [svgPath, png];
  } catch {
    return [svgPath]; // rsvg-convert (Debian: librsvg2-bin) not installed: the SVG is the plot
  }
}
