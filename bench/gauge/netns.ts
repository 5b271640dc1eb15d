// Two network namespaces joined by one veth pair at 1500 MTU, for the throughput gauge
// (loopback's 64 KiB MTU flatters every stack: a 1400-byte datagram per syscall is the real
// cost). Created inside the namespaces; nothing on the host's own interfaces or routes changes.
//
//   SENDER 10.78.1.1 [ugx-s] ---- veth, mtu 1500 ---- [ugx-r] 10.78.1.2 RECEIVER
import { execFileSync } from 'node:child_process';
import { deleteNamespaces, ip } from '../bottleneck/netns.js';

export const GAUGE_NS = { sender: 'utpgx-snd', receiver: 'utpgx-rcv' } as const;
export const GAUGE_SENDER_ADDR = '10.78.1.1';
export const GAUGE_RECEIVER_ADDR = '10.78.1.2';
const MTU = '1500';

/** Deletes the gauge's namespaces if present (and so the veth pair). Never throws. */
export function removeGaugeNamespaces(): string[] {
  return deleteNamespaces(Object.values(GAUGE_NS));
}

export function createGaugeNamespaces(): void {
  removeGaugeNamespaces();
  const { sender: s, receiver: r } = GAUGE_NS;
  for (const ns of [s, r]) ip(['netns', 'add', ns]);
  ip(['-n', s, 'link', 'add', 'ugx-s', 'mtu', MTU, 'type', 'veth', 'peer', 'name', 'ugx-r', 'mtu', MTU, 'netns', r]);
  ip(['-n', s, 'addr', 'add', `${GAUGE_SENDER_ADDR}/24`, 'dev', 'ugx-s']);
  ip(['-n', r, 'addr', 'add', `${GAUGE_RECEIVER_ADDR}/24`, 'dev', 'ugx-r']);
  for (const [ns, dev] of [[s, 'ugx-s'], [r, 'ugx-r'], [s, 'lo'], [r, 'lo']] as const) ip(['-n', ns, 'link', 'set', dev, 'up']);
}

/**
 * Datagrams the kernel dropped in namespace `ns` because a UDP socket's receive buffer was full
 * (`RcvbufErrors` of /proc/net/snmp, counted per namespace), or undefined if it cannot be read.
 */
export function udpReceiveBufferDrops(ns: string): number | undefined {
  try {
    const snmp = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8', timeout: 10_000 });
    const [names, values] = snmp.split('\n').filter((line) => line.startsWith('Udp:'));
    const column = names?.split(/\s+/).indexOf('RcvbufErrors') ?? -1;
    const value = column > 0 ? Number(values?.split(/\s+/)[column]) : NaN;
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
