import type { CongestionController } from './controller.js';

/**
 * A loss-based window (slow start, additive increase, multiplicative decrease) until LEDBAT
 * lands. It follows the deployed peers' loss rules: halve at most once per 100 ms and only for
 * packets sent after the previous cut; on timeout, one packet and slow start again.
 */
export class RenoWindow implements CongestionController {
  window: number;
  private slowStartThreshold = Infinity;
  private lastCut = -Infinity;

  constructor(private readonly packetSize: number, private readonly maxWindow = 8 * 1024 * 1024) {
    this.window = 2 * packetSize;
  }

  onAck(ackedBytes: number, _delay: number | undefined, flightBefore: number): void {
    // Grow only when the window was actually in use; an app-limited sender earns nothing.
    if (flightBefore + this.packetSize < this.window) return;
    if (this.window < this.slowStartThreshold) this.window += ackedBytes;
    else this.window += (this.packetSize * ackedBytes) / this.window;
    if (this.window > this.maxWindow) this.window = this.maxWindow;
  }

  onLoss(sentAt: number, now: number): void {
    if (sentAt < this.lastCut || now - this.lastCut < 100) return;
    this.lastCut = now;
    this.window = Math.max(this.packetSize, this.window / 2);
    this.slowStartThreshold = this.window;
  }

  onTimeout(now: number): void {
    this.lastCut = now;
    this.slowStartThreshold = Math.max(2 * this.packetSize, this.window / 2);
    this.window = this.packetSize;
  }
}
