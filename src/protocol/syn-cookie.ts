/**
 * SYN cookies: the acceptor's ISN is a keyed hash of the SYN and a coarse time bucket, so a
 * connection whose unconfirmed state was evicted by a SYN flood can still be confirmed: the
 * initiator's first packet (ack_nr = ISN - 1, seq_nr = SYN.seq_nr + 1) proves it saw our STATE.
 * With 16-bit sequence numbers this is as strong as the handshake itself, no stronger.
 */

/** Cookies stay valid for the current and the previous bucket: 4 to 8 seconds. */
const BUCKET_MS = 4096;

/** Where acceptor ISNs come from; tests inject one to force ISNs. */
export interface SynCookieSource {
  isn(address: string, port: number, synConnectionId: number, synSeq: number, now: number): number;
  valid(address: string, port: number, synConnectionId: number, synSeq: number, isn: number, now: number): boolean;
}

export class SynCookies implements SynCookieSource {
  private keyBytes: Uint32Array | undefined;

  /** The key is drawn on first use, so an endpoint that never accepts consumes no randomness. */
  constructor(private readonly random: () => number) {}

  private get key(): Uint32Array {
    const r = this.random;
    return (this.keyBytes ??= Uint32Array.of(r(), r(), r(), r()));
  }

  /** The ISN to answer this SYN with at time `now`. */
  isn(address: string, port: number, synConnectionId: number, synSeq: number, now: number): number {
    return this.hash(address, port, synConnectionId, synSeq, Math.floor(now / BUCKET_MS));
  }

  /** Whether `isn` is one we could have issued for this SYN recently. */
  valid(address: string, port: number, synConnectionId: number, synSeq: number, isn: number, now: number): boolean {
    const bucket = Math.floor(now / BUCKET_MS);
    return (
      this.hash(address, port, synConnectionId, synSeq, bucket) === isn ||
      this.hash(address, port, synConnectionId, synSeq, bucket - 1) === isn
    );
  }

  private hash(address: string, port: number, id: number, seq: number, bucket: number): number {
    const k = this.key;
    let h = k[0]! ^ Math.imul(bucket | 0, 0x9e3779b1);
    for (let i = 0; i < address.length; i++) h = mix(h ^ address.charCodeAt(i), k[1]!);
    h = mix(h ^ port, k[2]!);
    h = mix(h ^ ((id << 16) | seq), k[3]!);
    return fmix(h) & 0xffff;
  }
}

function mix(h: number, k: number): number {
  h = Math.imul(h ^ k, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  return Math.imul(h, 0x1b873593);
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
