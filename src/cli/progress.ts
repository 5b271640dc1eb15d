/**
 * The live progress line on stderr: bytes, percent, rate, ETA and the connection's own view
 * (rtt, cwnd, queueing delay from `socket.stats()`), redrawn in place with \r about 4 times a
 * second. Only drawn when stderr is a terminal: piped or redirected, nothing is written.
 */
import type { ConnectionStats } from '../index.js';
import { formatBytes, formatDuration, formatMs, formatRate } from './format.js';

const REDRAW_MS = 250;
/** The rate shown is over the last few seconds, so it follows changes but does not flicker. */
const RATE_WINDOW_MS = 2000;

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  label: string;
  /** Total bytes expected (the file's size): percent and ETA need it. */
  total: number;
  /** The connection's stats; fields that do not apply to this side are left out. */
  stats?: () => ConnectionStats | undefined;
  /** Which connection fields to show: a receiver has no congestion window of its own to show. */
  show: 'sender' | 'receiver';
  /** Never draw (--json: nothing but the JSON object). */
  quiet?: boolean;
  /** The clock (ms; tests give their own). */
  now?: () => number;
}

export class Progress {
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private readonly now: () => number;
  private readonly startedAt: number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
  }

  /** Whether a line will be drawn at all (stderr is a terminal). */
  get enabled(): boolean {
    return this.options.quiet !== true && this.options.stream.isTTY === true;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
  }

  update(bytes: number): void {
    this.bytes = bytes;
  }

  /**
   * Draws the line one last time and moves to a fresh line. The final line shows the whole
   * transfer's average rate, not the last few seconds': a sender whose last bytes went out more
   * than RATE_WINDOW_MS before it closed showed "0.0 MiB/s  ETA -:--" at 100%.
   */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.enabled) return;
    this.draw(true);
    this.options.stream.write('\n');
  }

  private draw(final = false): void {
    const now = this.now();
    this.samples.push({ at: now, bytes: this.bytes });
    while (this.samples.length > 2 && now - this.samples[0]!.at > RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const windowed = !final && now - first.at > 0;
    const elapsed = windowed ? now - first.at : now - this.startedAt;
    const base = windowed ? first.bytes : 0;
    const rate = elapsed > 0 ? ((this.bytes - base) * 1000) / elapsed : 0;

    const { total, label } = this.options;
    const percent = total > 0 ? Math.floor((this.bytes / total) * 100) : 100;
    const left = total - this.bytes;
    const parts = [
      label,
      `${formatBytes(this.bytes)} / ${formatBytes(total)}`,
      `${percent}%`,
      formatRate(rate),
      `ETA ${left <= 0 ? formatDuration(0) : rate > 0 ? formatDuration(left / rate) : '-:--'}`,
    ];
    const stats = this.options.stats?.();
    if (stats) {
      if (stats.rtt > 0) parts.push(`rtt ${formatMs(stats.rtt)}`);
      if (this.options.show === 'sender') {
        parts.push(`cwnd ${formatBytes(stats.cwnd)}`, `qdelay ${formatMs(stats.queuingDelay)}`);
      }
      if (stats.retransmits > 0) parts.push(`retx ${stats.retransmits}`);
    }
    let line = parts.join('  ');
    // A line wider than the terminal wraps, and \r would then redraw only its last row.
    const columns = this.options.stream.columns;
    if (columns && line.length >= columns) line = line.slice(0, columns - 1);
    this.options.stream.write(`\r${line}\x1b[K`);
  }
}
