/**
 * Loss recovery precision (issue 8), each in a seeded simulator scenario (virtual time): the
 * sender must neither over-react (cuts and resends for packets that were only late) nor
 * under-react (undoing a cut that a real loss earned). Each scenario prints its numbers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/packet.js';
import { seededBytes, SimNetwork, type SimDatagram } from '../helpers/sim-network.js';

const BROADBAND = { rate: 800_000, queueBytes: 200_000, latency: 30 };

/**
 * A long transfer; DATA transmission number `first` is really lost when `realLoss`, and the one
 * after it is held back and delivered only once the sender declared it lost (reordered, never
 * lost). Returns the window before the cut and the largest window in the 300 ms after it.
 */
function reorderedAfterLoss(realLoss: boolean): { before: number; afterMax: number; cutAt: number } {
  const net = new SimNetwork({ seed: 11, link: BROADBAND });
  const a = net.addHost('a');
  const b = net.addHost('b', { listening: true });
  const first = 1500;
  let dataSeen = 0;
  let held: SimDatagram | undefined;
  net.link(a, b).set({
    filter: (d) => {
      if (d.packet?.type !== PacketType.Data) return false;
      dataSeen++;
      if (realLoss && dataSeen === first) return true;
      if (dataSeen === first + 1) {
        held = d;
        return true;
      }
      return false;
    },
  });
  const conn = net.connect(a, b, { send: seededBytes(3, 8_000_000) });
  let before = 0;
  let cutAt = -1;
  let afterMax = 0;
  while (net.now < 20_000) {
    net.advance(1);
    const s = conn.stats();
    if (cutAt < 0) {
      if (s.fastRetransmits === 0) {
        before = s.cwnd;
        continue;
      }
      // Declared lost: the held packet arrives now, before its resend can leave the halved window.
      cutAt = net.now;
      net.inject(b, held!.data, a.remote);
    }
    afterMax = Math.max(afterMax, s.cwnd);
    if (net.now >= cutAt + 300) break;
  }
  assert.ok(cutAt > 0, 'the loss was detected');
  return { before, afterMax, cutAt };
}

describe('loss recovery precision', () => {
  test('spurious-loss undo: a reordered packet does not undo the cut a real loss in the same episode earned', (t) => {
    const mixed = reorderedAfterLoss(true);
    const alone = reorderedAfterLoss(false);
    t.diagnostic(`real loss + reordered: cwnd ${mixed.before} -> max ${mixed.afterMax} in the 300 ms after the cut`);
    t.diagnostic(`reordered only: cwnd ${alone.before} -> max ${alone.afterMax}`);
    // The real loss is still being recovered: the cut stands (LEDBAT's own growth is ~3 kB/RTT).
    assert.ok(mixed.afterMax < 0.75 * mixed.before, `cut undone with a real loss outstanding: ${mixed.before} -> ${mixed.afterMax}`);
    // Only reordering: every packet of the episode proved spurious, the cut is undone.
    assert.ok(alone.afterMax >= 0.95 * alone.before, `cut not undone: ${alone.before} -> ${alone.afterMax}`);
  });
});
