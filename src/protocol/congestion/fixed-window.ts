import type { CongestionController } from './controller.js';

/** A window that never changes: tests use it to isolate reliability from congestion control. */
export class FixedWindow implements CongestionController {
  constructor(readonly window: number) {}
  onAck(): void {}
  onLoss(): boolean {
    return false;
  }
  onTimeout(): void {}
}
