/**
 * SYN cookies: the acceptor's ISN is a keyed hash (SipHash-2-4) of the SYN and a coarse time
 * bucket, so a connection whose unconfirmed state was evicted by a SYN flood can still be
 * confirmed: the initiator's first packet (ack_nr = ISN - 1, seq_nr = SYN.seq_nr + 1) proves it
 * saw our STATE. With 16-bit sequence numbers a proof is a 1-in-65536 guess (2 buckets: 2 in
 * 65536), so the endpoint checks cookies only for a while after a flood evicted someone, and
 * counts failed proofs (see Endpoint.acceptByCookie).
 */
import { sipHash24, sipKey, type SipKey } from './siphash.js';


/**
 * Cookies stay valid for the current and the previous bucket: 32 to 64 seconds, as long as an
 * initiator keeps retransmitting its confirming packet (RTO backoff: 1 + 2 + 4 + 8 + 16 s...; it
 * gives up after about a minute). With 4-second buckets, 1 % of 10,000 simultaneous clients on
 * loopback were reset after 'connect': their confirmations, retransmitted after drops, came back
 * after the cookie had expired. Two buckets either way: a guess is still 2 in 65536.
 */
const BUCKET_MS = 32_768;
/** How long after a SYN its cookie can still confirm the connection (ms). */
export const COOKIE_LIFETIME_MS = 2 * BUCKET_MS;

/** Where acceptor ISNs come from; tests inject one to force ISNs. */
export interface SynCookieSource {
  isn(address: string, port: number, synConnectionId: number, synSeq: number, now: number): number;
  valid(address: string, port: number, synConnectionId: number, synSeq: number, isn: number, now: number): boolean;
}

export class SynCookies implements SynCookieSource {
  private keyWords: SipKey | undefined;
  /** The hash input, reused: address (UTF-16 code units, up to 45 for IPv6), port, id, seq, bucket. */
  private readonly input = new Uint8Array(2 * 64 + 10);

  /** The key is drawn on first use, so an endpoint that never accepts consumes no randomness. */
  constructor(private readonly random: () => number) {}

  private get key(): SipKey {
    return (this.keyWords ??= sipKey(this.random));
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

  /** SipHash-2-4 of (address, port, SYN id, SYN seq, time bucket), keyed from the injected randomness; low 16 bits. */
  private hash(address: string, port: number, id: number, seq: number, bucket: number): number {
    const b = this.input;
    const chars = Math.min(address.length, 64);
    let at = 0;
    for (let i = 0; i < chars; i++) {
      const c = address.charCodeAt(i);
      b[at++] = c & 0xff;
      b[at++] = c >>> 8;
    }
    b[at++] = port & 0xff;
    b[at++] = port >>> 8;
    b[at++] = id & 0xff;
    b[at++] = id >>> 8;
    b[at++] = seq & 0xff;
    b[at++] = seq >>> 8;
    b[at++] = bucket & 0xff;
    b[at++] = (bucket >>> 8) & 0xff;
    b[at++] = (bucket >>> 16) & 0xff;
    b[at++] = (bucket >>> 24) & 0xff;
    return sipHash24(this.key, b.subarray(0, at))[0] & 0xffff;
  }
}
