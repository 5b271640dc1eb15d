// Three network namespaces, sender - router - receiver, joined by two veth pairs that are
// created inside the namespaces (nothing is added to, or changed on, the host's own interfaces
// or routes). The bottleneck is a tbf qdisc on the router's interface toward the receiver, where
// a real router's queue would be, so the sender's own qdisc/TSQ logic cannot hide it.
//
//   SENDER 10.77.1.1 [ubn-s] ---- [ubn-rs] 10.77.1.2  ROUTER  10.77.2.2 [ubn-rr] ---- [ubn-r] 10.77.2.1 RECEIVER
//                                                       tbf on ubn-rr --^
import { execFile, execFileSync } from 'node:child_process';

export const NS = { sender: 'utpbn-snd', router: 'utpbn-rtr', receiver: 'utpbn-rcv' } as const;
export const SENDER_ADDR = '10.77.1.1';
export const RECEIVER_ADDR = '10.77.2.1';
const BOTTLENECK_DEV = 'ubn-rr';

/** Runs `ip <args>`; throws with its stderr. (Also used by the veth gauge, bench/gauge/netns.ts.) */
export function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`\`ip ${args.join(' ')}\` failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Deletes our namespaces if present (leftovers of an earlier run, or ours at the end). Never throws. */
export function removeNamespaces(): string[] {
  return deleteNamespaces(Object.values(NS));
}

/** Deletes those of `names` that exist. Never throws; returns what failed. */
export function deleteNamespaces(names: readonly string[]): string[] {
  const errors: string[] = [];
  let existing: string[] = [];
  try {
    existing = ip(['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '');
  } catch (err) {
    errors.push(String(err));
  }
  for (const ns of names) {
    if (!existing.includes(ns)) continue;
    try {
      ip(['netns', 'del', ns]); // takes its veth ends, and so the pairs, with it
    } catch (err) {
      errors.push(String(err));
    }
  }
  return errors;
}

export function createNamespaces(): void {
  removeNamespaces();
  const { sender: s, router: r, receiver: d } = NS;
  for (const ns of [s, r, d]) ip(['netns', 'add', ns]);
  ip(['-n', s, 'link', 'add', 'ubn-s', 'type', 'veth', 'peer', 'name', 'ubn-rs', 'netns', r]);
  ip(['-n', r, 'link', 'add', BOTTLENECK_DEV, 'type', 'veth', 'peer', 'name', 'ubn-r', 'netns', d]);
  ip(['-n', s, 'addr', 'add', `${SENDER_ADDR}/24`, 'dev', 'ubn-s']);
  ip(['-n', r, 'addr', 'add', '10.77.1.2/24', 'dev', 'ubn-rs']);
  ip(['-n', r, 'addr', 'add', '10.77.2.2/24', 'dev', BOTTLENECK_DEV]);
  ip(['-n', d, 'addr', 'add', `${RECEIVER_ADDR}/24`, 'dev', 'ubn-r']);
  for (const [ns, dev] of [[s, 'ubn-s'], [r, 'ubn-rs'], [r, BOTTLENECK_DEV], [d, 'ubn-r']] as const) ip(['-n', ns, 'link', 'set', dev, 'up']);
  for (const ns of [s, r, d]) ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  ip(['-n', s, 'route', 'add', 'default', 'via', '10.77.1.2']);
  ip(['-n', d, 'route', 'add', 'default', 'via', '10.77.2.2']);
  ip(['netns', 'exec', r, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']); // the router's namespace only
}

export interface TbfConfig {
  rateBps: number; // bits per second
  queueBytes: number; // tbf limit
  burstBytes: number;
}

/** Bottleneck of `rateMbit` with a queue of `queueMs` worth of bytes at that rate. */
export function tbfFor(rateMbit: number, queueMs: number): TbfConfig {
  const rateBps = Math.round(rateMbit * 1e6);
  const bytesPerSec = rateBps / 8;
  return {
    rateBps,
    queueBytes: Math.round((bytesPerSec * queueMs) / 1000),
    // Two full frames at least (tbf needs burst >= MTU), about 4 ms at higher rates: small
    // enough that the shaper, not the bucket, sets the pace.
    burstBytes: Math.max(2 * 1514, Math.round(bytesPerSec * 0.004)),
  };
}

export function setBottleneck(cfg: TbfConfig): void {
  ip(['netns', 'exec', NS.router, 'tc', 'qdisc', 'replace', 'dev', BOTTLENECK_DEV, 'root', 'tbf',
    'rate', `${cfg.rateBps}bit`, 'burst', String(cfg.burstBytes), 'limit', String(cfg.queueBytes)]);
}

export interface QdiscSample {
  t: number; // epoch ms
  bytes: number; // sent through the bottleneck so far (frames incl. Ethernet header)
  packets: number;
  drops: number;
  backlog: number; // bytes queued now
}

/** One reading of the bottleneck qdisc's counters (async: it runs while the transfer does). */
export function sampleQdisc(): Promise<QdiscSample> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', NS.router, 'tc', '-s', '-j', 'qdisc', 'show', 'dev', BOTTLENECK_DEV], { timeout: 5000 }, (err, stdout) => {
      if (err) return reject(err);
      try {
        const list = JSON.parse(stdout) as Array<{ kind: string; bytes: number; packets: number; drops: number; backlog: number }>;
        const q = list.find((x) => x.kind === 'tbf');
        if (!q) return reject(new Error(`no tbf on ${BOTTLENECK_DEV}: ${stdout}`));
        resolve({ t: Date.now(), bytes: q.bytes, packets: q.packets, drops: q.drops, backlog: q.backlog });
      } catch (e) {
        reject(e);
      }
    });
  });
}
