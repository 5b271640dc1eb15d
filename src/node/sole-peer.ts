import type { Remote } from '../protocol/events.js';

/**
 * Live connections per remote (address and port) of a socket that only makes outgoing
 * connections to one peer: the driver connect()s the dgram socket to it once it has one, and
 * checks it never gets a second (see UdpDriver.connectToSolePeer).
 */
export class PeerCount {
  private readonly counts = new Map<string, { remote: Remote; n: number }>();

  add(remote: Remote): void {
    const key = keyOf(remote);
    const entry = this.counts.get(key);
    if (entry) entry.n++;
    else this.counts.set(key, { remote, n: 1 });
  }

  remove(remote: Remote): void {
    const key = keyOf(remote);
    const entry = this.counts.get(key);
    if (!entry) return;
    if (--entry.n === 0) this.counts.delete(key);
  }

  /** Remotes with live connections. */
  get size(): number {
    return this.counts.size;
  }

  /** The one remote every live connection talks to, or undefined (none, or several). */
  get only(): Remote | undefined {
    if (this.counts.size !== 1) return undefined;
    return this.counts.values().next().value!.remote;
  }
}

export function sameRemote(a: Remote, b: Remote): boolean {
  return a === b || (a.port === b.port && a.address === b.address);
}

function keyOf(remote: Remote): string {
  return `${remote.address}|${remote.port}`;
}
