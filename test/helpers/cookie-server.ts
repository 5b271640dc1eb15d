/**
 * An Endpoint driven directly as a listening server, for the SYN-cookie tests: packets built from
 * header fields, a server with room for one half-open connection, the ISN its STATE answered a
 * SYN with, and the SYN from elsewhere that evicts (and so turns cookies on).
 */
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { Remote } from '../../src/protocol/events.js';
import { encodePacket, PacketType, type HeaderFields } from '../../src/protocol/packet.js';
import type { SynCookieSource } from '../../src/protocol/syn-cookie.js';
import { spoofSource } from './injection.js';
import { mulberry32 } from './sim-network.js';

/** A µTP packet with these header fields (the rest zero, a 64 KiB window). */
export function packet(fields: Partial<HeaderFields> & { type: PacketType }, payload?: Uint8Array): Uint8Array {
  return encodePacket({ connectionId: 0, timestamp: 0, timestampDifference: 0, windowSize: 65536, seq: 0, ack: 0, ...fields }, payload);
}

/** A listening endpoint with room for one unconfirmed connection: the next SYN evicts it. */
export function oneSlotServer(seed: number, synCookies?: SynCookieSource): Endpoint {
  const endpoint = new Endpoint({ random: mulberry32(seed), config: { maxUnconfirmed: 1 }, ...(synCookies ? { synCookies } : {}) });
  endpoint.listening = true;
  return endpoint;
}

/** `client` sends a SYN (id, seq); returns the ISN (seq_nr) of the STATE the server answered with. */
export function synFrom(endpoint: Endpoint, client: Remote, id: number, seq: number, now: number): number {
  endpoint.handleDatagram(packet({ type: PacketType.Syn, connectionId: id, seq }), client, now);
  const reply = endpoint.transmits.find((t) => t.remote === client)!;
  return (reply.data[16]! << 8) | reply.data[17]!;
}

/** A SYN from a source of its own (id 5): in a one-slot server it evicts the half-open connection. */
export function evictWithSyn(endpoint: Endpoint, now: number, from = spoofSource(99)): void {
  endpoint.handleDatagram(packet({ type: PacketType.Syn, connectionId: 5, seq: 5 }), from, now);
}
