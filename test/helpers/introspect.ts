/**
 * Read-only views of a Connection's internals for the adversarial tests: buffer occupancy (the
 * memory bound), the send window edges (to aim optimistic ACKs and to classify an ack_nr as
 * inside or outside libutp's acceptance window) and the state a packet that fails validation must
 * not touch. stats() does not expose these, and src/ is edited by others in parallel, so they are
 * read here by field name. Every read is checked: if a field is renamed the tests fail loudly
 * with the name, instead of silently checking nothing (then add a public getter in src/).
 */
import type { Connection } from '../../src/protocol/connection.js';

/** What a connection holds in memory, in packets and bytes. */
export interface Occupancy {
  /** Out-of-order packets held by the reorder buffer. */
  recvPackets: number;
  /** Payload bytes held by the reorder buffer. */
  recvBytes: number;
  /** Packets between the oldest unacked and the next seq_nr (sacked ones included). */
  sendPackets: number;
  /** Bytes written by the application and not yet packetized. */
  writeQueueBytes: number;
}

/** The send window: oldest unacked seq_nr and the next seq_nr to be used. */
export interface SendEdges {
  oldest: number;
  next: number;
}

type Bag = Record<string, unknown>;

function field(object: unknown, name: string): unknown {
  const value = (object as Bag)[name];
  if (value === undefined) throw new Error(`introspect: Connection has no field '${name}' any more; update test/helpers/introspect.ts`);
  return value;
}

function num(object: unknown, name: string): number {
  const value = field(object, name);
  if (typeof value !== 'number') throw new Error(`introspect: '${name}' is not a number`);
  return value;
}

export function occupancy(connection: Connection): Occupancy {
  const recv = field(connection, 'recvBuffer');
  const send = field(connection, 'sendBuffer');
  const queue = field(connection, 'writeQueue');
  return {
    recvPackets: num(recv, 'count'),
    recvBytes: num(recv, 'bytes'),
    sendPackets: num(send, 'count'),
    writeQueueBytes: num(queue, 'length'),
  };
}

export function sendEdges(connection: Connection): SendEdges {
  const send = field(connection, 'sendBuffer') as { oldest: number; next: number };
  return { oldest: num(send, 'oldest'), next: send.next };
}

/** The sender's flight counters beside what its send buffer holds (see the 'flight-accounting' invariant). */
export interface FlightAccounting {
  bytesInFlight: number;
  expectedBytes: number;
  resendsPending: number;
  expectedResends: number;
}

export function flightAccounting(connection: Connection): FlightAccounting {
  const send = field(connection, 'sendBuffer') as { oldest: number; count: number; get(seq: number): unknown };
  let expectedBytes = 0;
  let expectedResends = 0;
  for (let i = 0; i < num(send, 'count'); i++) {
    const out = send.get((num(send, 'oldest') + i) & 0xffff) as { sacked: boolean; needsResend: boolean; transmissions: number; size: number };
    if (out.sacked) continue;
    if (out.needsResend) expectedResends++;
    else if (out.transmissions > 0) expectedBytes += out.size;
  }
  return { bytesInFlight: num(connection, 'bytesInFlight'), expectedBytes, resendsPending: num(connection, 'resendsPending'), expectedResends };
}

/** Our ack_nr: the last seq_nr received in order. */
export function ackNr(connection: Connection): number {
  return num(connection, 'ackNr');
}

/**
 * Everything a forged packet that fails validation must leave alone, as one comparable string:
 * the public stats (minus the receive counters that count the drop itself), the state, the next
 * deadline (it moves with liveness), and private fields that are echoed to the peer or steer the
 * sender (timestamps, peer window, liveness, ack_nr, reorder buffer). Private fields that no longer
 * exist are skipped; stats() alone still covers window, delay and cwnd.
 */
export function validationSnapshot(connection: Connection): string {
  const { packetsReceived: _r, invalidPackets: _i, duplicatePackets: _d, ...stats } = connection.stats();
  const bag = connection as unknown as Bag;
  let out = `${connection.state}|${connection.nextDeadline()}|`;
  for (const [key, value] of Object.entries(stats)) out += `${key}=${value as number},`;
  out += '|';
  for (const name of PRIVATE_STATE) out += `${name}=${String(bag[name])},`;
  const loss = field(connection, 'loss') as Bag;
  for (const name of LOSS_STATE) out += `${name}=${String(loss[name])},`;
  const o = occupancy(connection);
  return `${out}|recv ${o.recvPackets}/${o.recvBytes} send ${o.sendPackets} queue ${o.writeQueueBytes}`;
}

const PRIVATE_STATE = ['replyMicros', 'lastReceived', 'ackNr', 'peerWindow', 'advertisedByPeer', 'eofSeq', 'finState'];
/** The loss detector's (a field of the connection since loss detection left connection.ts). */
const LOSS_STATE = ['dupAcks', 'lastAckReceived'];
