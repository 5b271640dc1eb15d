import type { ConnectionConfig } from './config.js';
import type { CongestionController } from './congestion/controller.js';
import { IPV6_PACKET_SIZE } from './config.js';
import { connectionRefused, connectionReset, sendFailed, timedOut, type UtpError } from './errors.js';
import type { EndpointEvent, Remote } from './events.js';
import { encodeHeaderInto, HEADER_SIZE, headerSize, PacketType, type HeaderFields, type Packet } from './packet.js';
import { RecvBuffer } from './recv-buffer.js';
import { RttEstimator } from './rtt.js';
import { dropHold, NO_BYTES, payloadOf, SendBuffer, type OutPacket } from './send-buffer.js';
import { allocDatagram } from './datagram-pool.js';
import { WriteQueue } from './write-queue.js';
import { seqAdd, seqDiff } from './seq.js';
import { ConnectionTimers } from './connection-timers.js';
import { AckPolicy } from './ack-policy.js';
import type { ReceiveShare } from './receive-share.js';
import { NOT_SCHEDULED } from './deadline-heap.js';
import { LossDetector, MIN_TAIL_LOSS_DELAY, type LossHost } from './loss-detection.js';
import { Pacer } from './pacer.js';
import { newCounters, type ConnectionCounters, type ConnectionStats } from './stats.js';
import { delaySample, timestampDifference, timestampMicros, DOUBLE_ZERO } from './time.js';
import type { ConnectionTracer } from './tracer.js';

/**
 * What a connection needs from its endpoint: an outbox, an event queue, and a way to ask for a
 * flush, a wake-up or removal. Implemented by `Endpoint`; nothing here does I/O.
 */
export interface ConnectionHost {
  readonly events: EndpointEvent[];
  /**
   * `connection` (the sender) lets the driver attribute a send error (see `onSendError`);
   * `packet`: this is that DATA packet's first transmission (see Transmit.packet).
   */
  transmit(remote: Remote, datagram: Uint8Array, connection?: Connection, packet?: OutPacket): void;
  /**
   * The driver releases every transmission once the OS is done with it (Endpoint.release), so
   * datagram buffers may be reused (see datagram-pool.ts).
   */
  readonly releasesDatagrams: boolean;
  /** The connection has something to send at the next flush. */
  markDirty(connection: Connection): void;
  /** Until then datagrams are probably waiting unread in the socket (see Endpoint.inputBacklogUntil). */
  readonly inputBacklogUntil: number;
  /** The socket's receive buffer shared among the connections receiving on it while it is backlogged. */
  readonly receiveShare: ReceiveShare;
  /** The connection's next deadline may be earlier than the endpoint's wake-up for it. */
  wake(connection: Connection, deadline: number): void;
  /**
   * The pacer holds this connection's next packet until `connection.paceAt`: call its
   * `resumePacing()` then. Called once per wait; the connection does not send before.
   */
  pace(connection: Connection): void;
  /** The connection is finished with: forget it. */
  remove(connection: Connection): void;
  /**
   * The initiator confirmed this incoming connection. False when it is no longer wanted (the
   * endpoint stopped listening since the SYN): the connection then resets and goes away unseen.
   */
  confirmed(connection: Connection): boolean;
}

/**
 * `syn-sent`: our SYN is out. `syn-recv`: we answered a SYN with one STATE and wait for the
 * initiator to prove it saw it. `connected`: data flows (half-closes are tracked by `finState` and
 * `eofSeq`). `closed`: over; a gracefully closed connection lingers to re-ack the peer's FIN.
 */
export type ConnectionState = 'syn-sent' | 'syn-recv' | 'connected' | 'closed';

/** Our side's FIN: not asked for, asked for (sent once the queue drains), sent, acknowledged. */
type FinState = 'open' | 'queued' | 'sent' | 'acked';

/** Bytes of SACK bitmask we emit at most: 1024 packets past ack_nr, the reorder buffer's reach, so that
 * holes in a large window are all reported (beyond the mask the sender can only guess). */
const MAX_SACK_BYTES = 128;
/** Extra confirming STATEs an initiator sends while the acceptor stays silent. */
const MAX_CONFIRM_REPEATS = 3;
/** Queued bytes at most that are copied (not waited for) to give the application its buffers back. */
const WRITE_LOW_WATER = 64 * 1024;
/**
 * How far below our last acknowledged seq_nr an ack_nr may be: libutp's ACK_NR_ALLOWED_WINDOW
 * and libtorrent's dup_ack_limit, both 3.
 */
const ACK_NR_SLACK = 3;
/**
 * A packet whose ack_nr is older than that, down to what we had acknowledged one to two RTTs ago
 * (overtaken on a reordering path during a two-way transfer), must also carry a timestamp at most
 * this far (µs) behind the newest valid one from the peer, beyond two RTTs: a blind attacker
 * guesses a 32-bit timestamp on top of the ack_nr, so the wider window costs it nothing.
 */
const STALE_TIMESTAMP_SLACK_US = 50_000;
/**
 * DATA may land this many packets past the furthest seq_nr we have seen from the peer, however
 * little it has in flight (libtorrent: at least 16; libutp: always 1024). The reach grows with
 * the reordering actually seen (see `seqReach`), up to the reorder buffer's.
 */
const MIN_SEQ_REACH = 32;
/** Average DATA payload assumed when counting how many packets our advertised window admits (576-byte MTU floor, less headers). */
const MIN_PLAUSIBLE_PAYLOAD = 500;
/**
 * Furthest behind ack_nr that DATA is re-acked (see duplicateReach): a quarter of the 16-bit
 * sequence space, so that behind and the reorder buffer's 1023 ahead never meet.
 */
const MAX_DUPLICATE_REACH = 16_384;
/**
 * Resends of a lone FIN an orphaned connection makes before it gives up (see retransmitLimit):
 * with the RTO doubling from 0.5-1 s it gives up 7.5-15 s after the first send, so an outage of
 * several seconds still lets the peer see our end of stream (with 2 resends, a 4 s outage did not).
 */
const ORPHAN_FIN_RETRANSMITS = 3;
/** Wrong confirming acks an unconfirmed incoming connection takes before it is dropped. */
const MAX_CONFIRM_FAILURES = 3;
/** Bytes a DATA packet leaves for a selective ACK (2 + 4: 32 packets past ack_nr); larger masks go on a STATE. */
const SACK_RESERVE = 6;
/**
 * Keepalive deadlines sit on a grid of this many ms (see keepaliveAt). Spread at their natural
 * times, 50,000 idle connections' ~1,700 keepalives a second each woke the driver, ran a flush
 * and sent alone, and each arrived alone at the peer, which flushed for it (issue 9: 12-15% of a
 * core). On the grid they go out ~85 at a time, 20 times a second: one wake-up and one flush per
 * batch on each side. Small enough that a batch fits a default-sized socket receive buffer.
 */
const KEEPALIVE_GRID = 50;
/** Packet sizes tried after EMSGSIZE, largest first (down to the family's floor): common tunnel
 * and link MTUs less IP and UDP headers (1280: IPv6 minimum; 1232: its payload; 1024; 576 floor). */
const PACKET_SIZE_STEPS = [1400, 1280, 1232, 1024];

/**
 * Scratch header fields, filled and encoded within one call (headerFields, then encodeHeaderInto)
 * and never kept: one for all connections rather than 88 bytes in each (issue 9).
 */
const HEADER_FIELDS: HeaderFields = {
  type: PacketType.State,
  connectionId: 0,
  timestamp: 0,
  timestampDifference: 0,
  windowSize: 0,
  seq: 0,
  ack: 0,
  selectiveAck: undefined,
};

/**
 * RTT evidence of the ACK being processed (processAck, filled by acknowledge, read by
 * takeRttSample, all within one call): the youngest never-retransmitted packet it acks
 * cumulatively and selectively (ms; Infinity: none), and whether it cumulatively acks a
 * retransmitted packet, which voids the cumulative sample. One for all connections: as fields
 * it cost each connection ~56 bytes (issue 9).
 */
const ACK_EVIDENCE = { ackRtt: Infinity, sackRtt: Infinity, coversResend: false };

/** What the send errors the OS reported so far left behind (see Connection.onSendError). */
interface SendFailure {
  errors: number;
  sizeReductions: number;
  /** Failed transmissions per seq_nr of DATA/FIN packets in the send buffer. */
  failed: Map<number, number>;
  /** Persistent-error streak: when its first failure happened (ms) and its length. */
  streakStart: number;
  streak: number;
  /**
   * Refused packets await their re-split (an older oversized packet is still in flight, or
   * reports are still to come): no new data goes out meanwhile, as a packet that passed behind
   * the refused ones would forbid renumbering them for good (see resplitOversized).
   */
  waiting: boolean;
}

function newSendFailure(): SendFailure {
  return { errors: 0, sizeReductions: 0, failed: new Map(), streakStart: -Infinity, streak: 0, waiting: false };
}

/**
 * One µTP connection's state machine.
 *
 * Calling contract: the endpoint feeds it packets addressed to it (`handlePacket`) and expired
 * deadlines (`handleTimeout`), always with the current time in milliseconds; it calls `flush` for
 * connections marked dirty, once per burst of input. The application side (through the driver)
 * calls `write`, `end`, `abort` and `setApplicationBuffered`. Output goes to the host's outbox and
 * event queue; nothing is sent or emitted synchronously to the caller.
 */
export class Connection implements LossHost {
  state: ConnectionState;
  readonly remote: Remote;
  /** Connection id we receive on (demultiplexing key). */
  readonly recvId: number;
  /** Connection id we put on packets we send. */
  readonly sendId: number;
  readonly isInitiator: boolean;
  /** Free for the driver: the application object this connection belongs to. */
  context: unknown = undefined;

  /** Replaced by a copy with a smaller packetSize when the OS refuses our datagrams (EMSGSIZE). */
  private config: ConnectionConfig;
  private readonly host: ConnectionHost;
  /** Told what happens, for diagnostics (see tracer.ts); absent when the endpoint has none. */
  private readonly tracer: ConnectionTracer | undefined;
  private readonly cc: CongestionController;
  private readonly rttEstimator: RttEstimator;
  private readonly sendBuffer: SendBuffer;
  private readonly recvBuffer = new RecvBuffer();
  private readonly counters: ConnectionCounters = newCounters();

  /** Last seq_nr received in order (our ack_nr). */
  private ackNr: number;
  /** For acceptors: the ISN our STATE announced (a resent SYN gets that STATE again). */
  private readonly initialSeq: number;
  /** seq_nr of the SYN we accepted (acceptor) or sent (initiator). */
  readonly synSeq: number;
  private peerWindow: number;
  /** timestamp_difference to echo: our clock at receipt minus the peer's last timestamp. */
  private replyMicros = 0;
  private lastDelay = 0;

  private bytesInFlight = 0;
  private resendsPending = 0;
  private readonly timers: ConnectionTimers<Connection>;
  private readonly loss: LossDetector;
  private readonly pacer = new Pacer();
  /** The last flush stopped with data waiting for the pacer (not for the window or the application). */
  private pacerHeld = false;
  /** When the pacer lets the next packet go (Infinity: not held): the endpoint wakes us then. */
  paceAt = Infinity;
  /** Owned by the endpoint's `DeadlineHeap` of wake-ups: our place in it and our key there. */
  heapIndex = NOT_SCHEDULED;
  heapKey = Infinity;
  private consecutiveTimeouts = 0;

  private readonly writeQueue = new WriteQueue();
  private writeBlocked = false;
  /** The application wrote since the last 'written' event: it is owed one. */
  private writeOwed = false;
  /** Nagle off: send partial packets at once. */
  private noDelay = false;
  /** seq_nr of the last partial (small) DATA packet sent, for Nagle. */
  private lastSmallSeq: number | undefined = undefined;
  private finState: FinState = 'open';

  /** Furthest seq_nr seen on the peer's accepted DATA (>= ackNr in sequence space): measures its reordering. */
  private peerSeqHigh: number;
  /**
   * Our last acknowledged seq_nr as of one to two RTTs ago (and as of the start of the current
   * period): the oldest ack_nr a reordered DATA packet can legitimately carry.
   */
  private ackFloor: number;
  private ackFloorNext: number;
  private ackFloorAt: number;
  /** Newest timestamp on a valid packet from the peer (its clock, µs), undefined before one. */
  private peerTimestampHigh: number | undefined = undefined;
  /** Our clock (ms) when peerTimestampHigh arrived: how far the peer's clock can have moved since. */
  private peerTimestampHighAt = DOUBLE_ZERO;
  /** syn-recv: packets whose ack_nr failed to prove the initiator saw our STATE. */
  private confirmFailures = 0;
  /** A DATA packet carried a truncated selective ACK: send the whole one on a STATE too. */
  private sackOwed = false;

  /** seq_nr of the peer's FIN once seen; data past it is dropped. */
  private eofSeq: number | undefined = undefined;
  private eofDelivered = false;
  private applicationBuffered = 0;
  private advertisedWindow: number;
  /** An ACK goes out at the next flush (see AckPolicy for what may wait longer). */
  private ackPending = false;
  /**
   * Created at the first DATA received: ~190 bytes that an idle connection (issue 9: at most
   * 3 KiB per idle connection end) and a pure sender never need.
   */
  private ackPolicy: AckPolicy | undefined = undefined;
  private dirty = false;

  /**
   * Initiator only: confirming STATEs repeated (bounded) until the acceptor is heard from, so a
   * lost confirmation does not strand an application that only reads.
   */
  private confirmRepeats = 0;
  /** The window the peer last advertised (peerWindow may be raised for a probe). */
  private advertisedByPeer = 0;
  private synTransmits = 0;
  /**
   * The application let go (abort() after both ends of stream): nobody waits for this connection
   * any more, so a peer that keeps its window shut must not keep it alive (see retransmitTimeout).
   */
  private orphaned = false;
  private lastReceived: number;
  private lastSent: number;
  /** When DATA/FIN last went out, or an idle decay was applied: idleness is measured from it. */
  private activeAt: number;

  constructor(options: {
    config: ConnectionConfig;
    host: ConnectionHost;
    controller: CongestionController;
    remote: Remote;
    recvId: number;
    sendId: number;
    /** Our initial sequence number (random). */
    isn: number;
    now: number;
    /** For acceptors: the SYN being answered. */
    syn?: Packet;
    /** For acceptors: send the STATE now (false when re-created from a SYN cookie). */
    answer?: boolean;
    /** For initiators: the SYN waits for `startHandshake` (the endpoint's HandshakeLimit). */
    deferSyn?: boolean;
    tracer?: ConnectionTracer | undefined;
  }) {
    const { config, host, remote, isn, now, syn } = options;
    this.config = config;
    this.host = host;
    this.tracer = options.tracer;
    this.cc = options.controller;
    this.remote = remote;
    this.recvId = options.recvId;
    this.sendId = options.sendId;
    this.isInitiator = syn === undefined;
    this.rttEstimator = new RttEstimator(config.initialRto, config.minRto, config.maxRto);
    this.lastReceived = now;
    this.lastSent = now;
    this.activeAt = now;
    this.advertisedWindow = config.receiveBufferSize;
    this.initialSeq = isn;
    this.timers = new ConnectionTimers(host, this);
    if (syn === undefined) {
      // Initiator: the SYN consumes the ISN; data starts at ISN + 1.
      this.state = 'syn-sent';
      this.tracer?.stateChanged(this, undefined);
      this.synSeq = isn;
      this.sendBuffer = new SendBuffer(seqAdd(isn, 1));
      this.ackNr = 0;
      this.peerSeqHigh = 0;
      this.peerWindow = config.packetSize;
      if (options.deferSyn !== true) this.sendSyn(now);
    } else {
      // Acceptor: our STATE carries the ISN without consuming it; our first DATA reuses it.
      this.state = 'syn-recv';
      this.tracer?.stateChanged(this, undefined);
      this.tracer?.packetReceived(this, syn, 'valid');
      this.synSeq = syn.seq;
      this.sendBuffer = new SendBuffer(isn);
      this.ackNr = this.peerSeqHigh = syn.seq;
      this.peerWindow = this.advertisedByPeer = syn.windowSize;
      this.noteTimestamp(syn, now);
      if (options.answer !== false) this.sendState(now);
      // An unconfirmed connection dies at its first timeout: it never retransmits.
      this.timers.arm('expires', now + config.unconfirmedTimeout);
    }
    this.ackFloor = this.ackFloorNext = seqAdd(this.sendBuffer.oldest, -1);
    this.ackFloorAt = now;
    this.loss = new LossDetector(this.sendBuffer, this.rttEstimator, this.cc, this.counters, this.timers, this, this.ackFloor);
  }

  // ---------------------------------------------------------------- application side

  /**
   * Queues bytes for sending. Returns false when the queue is over the send buffer size. The
   * connection reads `data` (no copy) until its 'written' event: leave it unchanged until then.
   */
  write(data: Uint8Array): boolean {
    if (this.finState !== 'open' || this.state === 'closed') return false;
    if (data.length > 0) {
      this.writeQueue.push(data);
      this.writeOwed = true;
      this.requestFlush();
    }
    const ok = this.writeQueue.length < this.config.sendBufferSize;
    if (!ok) this.writeBlocked = true;
    return ok;
  }

  /**
   * Nagle (on by default, as libutp): a partial packet waits while an earlier partial packet is
   * unacknowledged, so small writes coalesce into full packets. `true` sends them at once.
   */
  setNoDelay(noDelay: boolean): void {
    this.noDelay = noDelay;
    if (noDelay) this.requestFlush();
  }

  /** Bytes queued by the application and not yet packetized. */
  get writableLength(): number {
    return this.writeQueue.length;
  }

  /** Half-closes our direction: a FIN follows the queued data. */
  end(): void {
    if (this.finState !== 'open' || this.state === 'closed') return;
    this.finState = 'queued';
    this.requestFlush();
  }

  /** True once our FIN was asked for and the peer's end of stream was delivered. */
  get finished(): boolean {
    return this.finState !== 'open' && this.eofDelivered;
  }

  /**
   * Tears the connection down now. A connection that finished both directions lingers quietly to
   * complete the FIN exchange; anything else is reset, as TCP does on abort.
   */
  abort(now: number): void {
    if (this.state === 'closed') return;
    if (this.finished) {
      // Both directions are done: let the FIN exchange complete in the background, silently.
      this.context = undefined;
      this.orphaned = true;
      return;
    }
    // Not for a connection whose SYN never left (it waited for a handshake slot): no peer knows it.
    if (this.state !== 'syn-recv' && !(this.state === 'syn-sent' && this.synTransmits === 0)) this.sendHeader(PacketType.Reset, this.sendBuffer.next, now, undefined);
    this.close(undefined, false);
  }

  /**
   * The application holds `bytes` delivered but unread. The advertised window shrinks by it;
   * when reading reopens a window we had closed, an ACK tells the peer at once.
   *
   * @returns true when that ACK is owed: the driver must flush.
   */
  setApplicationBuffered(bytes: number): boolean {
    this.applicationBuffered = bytes;
    const window = this.freeWindow();
    if (this.advertisedWindow < this.config.packetSize && window >= this.config.packetSize && this.state === 'connected') {
      this.ackPending = true;
      this.requestFlush();
      return true;
    }
    return false;
  }

  stats(): ConnectionStats {
    // Field by field, not spreads: with two spreads into one literal a call took 40-55 us on
    // Node 20 (most of it in the spread's runtime path and its garbage), field by field 0.1-0.2 us.
    const c = this.counters;
    const cc = this.cc.stats?.();
    return {
      packetsSent: c.packetsSent,
      packetsReceived: c.packetsReceived,
      bytesSent: c.bytesSent,
      bytesReceived: c.bytesReceived,
      retransmits: c.retransmits,
      fastRetransmits: c.fastRetransmits,
      timeouts: c.timeouts,
      duplicatePackets: c.duplicatePackets,
      invalidPackets: c.invalidPackets,
      // + 0: -0 before the first sample (see DOUBLE_ZERO) reads 0.
      rtt: this.rttEstimator.rtt + 0,
      rttVar: this.rttEstimator.rttVar + 0,
      latestRtt: this.rttEstimator.latest + 0,
      rto: this.rttEstimator.rto,
      cwnd: this.cc.window,
      bytesInFlight: this.bytesInFlight,
      peerWindow: this.peerWindow,
      lastDelaySample: this.lastDelay,
      queuingDelay: cc?.queuingDelay ?? 0,
      baseDelay: cc?.baseDelay ?? 0,
      slowStart: cc?.slowStart ?? false,
      targetDelay: this.config.targetDelay,
      reorderThreshold: this.loss.reorderThreshold,
      packetSize: this.config.packetSize,
      packetSizeReductions: this.sendFailure?.sizeReductions ?? 0,
      sendErrors: this.sendFailure?.errors ?? 0,
    };
  }

  // ---------------------------------------------------------------- input

  /** A packet whose connection id and source matched this connection (never a SYN). */
  handlePacket(packet: Packet, now: number): void {
    this.counters.packetsReceived++;
    // Validation first: a packet that fails it changes nothing (window, timestamps, delay
    // history, liveness, duplicate-ack count): forged packets must not steer the connection.
    const verdict = this.classify(packet, now);
    this.tracer?.packetReceived(this, packet, verdict);
    if (verdict === 'invalid') {
      this.counters.invalidPackets++;
      if (this.state === 'syn-recv' && ++this.confirmFailures >= MAX_CONFIRM_FAILURES) {
        // Someone is guessing our ISN: with 16 bits, a few guesses is all we allow.
        this.close(undefined, false);
      }
      return;
    }
    if (verdict === 'duplicate') {
      // Already have it: our ACK was probably lost. Re-ack and nothing else (libutp does the same).
      this.counters.duplicatePackets++;
      this.ackPending = true;
      this.requestFlush();
      return;
    }
    if (packet.type === PacketType.Reset) {
      this.handleReset(now);
      return;
    }
    this.lastReceived = now;
    this.timers.clear('reset'); // the peer is alive: any RESET that fit was not its own
    this.noteTimestamp(packet, now);
    if (packet.windowSize !== this.advertisedByPeer) this.tracer?.peerWindowChanged(this, this.advertisedByPeer, packet.windowSize);
    this.peerWindow = this.advertisedByPeer = packet.windowSize;
    if (this.peerWindow >= this.config.packetSize) this.timers.clear('probe');

    if (this.state === 'syn-sent') {
      // classify() let only the acceptor's STATE acking our SYN through. It carries the seq_nr
      // of its first DATA without consuming it.
      this.ackNr = this.peerSeqHigh = seqAdd(packet.seq, -1);
      this.state = 'connected';
      this.tracer?.stateChanged(this, 'syn-sent');
      if (this.synTransmits === 1) this.rttEstimator.sample(now - this.lastSent);
      this.timers.clear('rto');
      this.host.events.push({ type: 'connect', connection: this });
      // Speak first, so that an acceptor waiting for proof (libutp, us) may send at once.
      this.ackPending = true;
      this.requestFlush();
      this.timers.arm('confirm', now + this.rttEstimator.rto);
      return;
    }
    this.timers.clear('confirm'); // the acceptor spoke: it is confirmed
    if (this.state === 'syn-recv') {
      // classify() checked the proof: ack_nr is exactly ISN - 1, which only the initiator saw.
      if (!this.host.confirmed(this)) {
        // As net after server.close(): the connection is refused, never announced.
        this.sendHeader(PacketType.Reset, this.sendBuffer.next, now, undefined);
        this.close(undefined, false);
        return;
      }
      this.state = 'connected';
      this.tracer?.stateChanged(this, 'syn-recv');
      this.timers.clear('expires');
    }

    this.processAck(packet, now);
    if (packet.type === PacketType.Data || packet.type === PacketType.Fin) this.processData(packet, now);
    if (this.state === 'closed') {
      // Lingering after a graceful close: re-acknowledge a retransmitted FIN.
      if (packet.type === PacketType.Fin) this.ackPending = true;
    } else if (this.finState === 'acked' && this.eofDelivered) {
      this.close(undefined, true);
    }
    // A waiting re-split is retried at the flush: this ACK may have taken what blocked it.
    if (this.ackPending || this.resendsPending > 0 || this.writeQueue.length > 0 || this.finState === 'queued' || this.sendFailure?.waiting === true) this.requestFlush();
  }

  /**
   * Whether a packet may touch this connection, without touching it. The windows, per type:
   * - ack_nr (all but RESET): from 3 below our last acknowledged seq_nr up to the last seq_nr we
   *   sent: libutp's `[seq_nr - 1 - (cur_window_packets + 3), seq_nr - 1]`, libtorrent the same
   *   with its dup_ack_limit. Below that, down to 3 below what we had acknowledged one to two
   *   RTTs ago, only with a timestamp at most two RTTs (+50 ms) behind the peer's newest: DATA
   *   overtaken on a reordering path during a two-way transfer (libutp drops it and has it
   *   resent: 22% of packets on a 40 ms-jitter path). A blind attacker must then also guess the
   *   peer's 32-bit clock to within that span, so its odds stay those of libutp's window.
   *   RESET: from our last acknowledged seq_nr to our next one (a RESET acks a packet we sent,
   *   or the peer's ack_nr).
   * - seq_nr of DATA: at most `seqReach()` past ack_nr (32 past the furthest seen, growing with
   *   observed reordering, bounded by our advertised window and the reorder buffer's 1023;
   *   libutp 1024, libtorrent max(16, buffer / 1100)); behind ack_nr by 1023, or by as many
   *   of the peer's largest packets as our receive buffer holds (duplicateReach): a duplicate,
   *   re-acked and otherwise ignored, as libutp does.
   * - FIN: the same, never at or behind DATA we saw, never a second FIN (see processData).
   * - STATE carries the peer's next seq_nr: ack_nr + 1, up to the DATA reach ahead (data in
   *   flight) or behind (a STATE overtaken by DATA sent after it). libutp drops a STATE outside
   *   its reorder window too.
   * - syn-sent: only the acceptor's STATE (or RESET) acking our SYN exactly.
   * - syn-recv: ack_nr exactly ISN - 1, the proof that the initiator saw our STATE.
   */
  private classify(packet: Packet, now: number): 'valid' | 'duplicate' | 'invalid' {
    const oldest = this.sendBuffer.oldest;
    const next = this.sendBuffer.next;
    const ack = packet.ack;
    if (packet.type === PacketType.Reset) {
      if (this.state === 'syn-sent') return ack === this.synSeq ? 'valid' : 'invalid';
      return inWindow(ack, seqAdd(oldest, -1), next) ? 'valid' : 'invalid';
    }
    // libutp's window; below it, down to what we had acknowledged an RTT or two ago, only a packet
    // overtaken on a reordering path, which its timestamp must show.
    if (!inWindow(ack, seqAdd(oldest, -1 - ACK_NR_SLACK), seqAdd(next, -1))) {
      if (!inWindow(ack, seqAdd(this.ackFloor, -ACK_NR_SLACK), oldest) || !this.recentTimestamp(packet.timestamp)) return 'invalid';
    }
    if (this.state === 'syn-sent') return packet.type === PacketType.State && ack === this.synSeq ? 'valid' : 'invalid';
    if (this.state === 'syn-recv' && ack !== seqAdd(this.initialSeq, -1)) return 'invalid';
    const distance = seqDiff(this.ackNr, packet.seq);
    const reach = this.seqReach();
    // A STATE overtaken by DATA sent after it is behind by as much as DATA may be ahead.
    if (packet.type === PacketType.State) return distance >= 1 - reach && distance <= reach + 1 ? 'valid' : 'invalid';
    if (distance <= 0) {
      // Behind what we delivered: a retransmission whose ACK was lost. When a window's ACKs were
      // all lost, the sender's oldest unacked packet is up to a window behind: re-ack it from as
      // far back as that (see duplicateReach). A duplicate only draws an ACK (at most one per
      // flush), so a forger gains nothing from the wider range; refused unanswered, the sender
      // backed off until our keepalive carried the ACK, 29 s later.
      return distance >= -this.duplicateReach() ? 'duplicate' : 'invalid';
    }
    if (distance > reach) {
      // Past the reordering seen so far, DATA may still be real: the first packet after a burst
      // of more than MIN_SEQ_REACH losses (a short outage at a large window). Up to what our
      // window admits, it passes if its timestamp is what the peer's clock can read now: a blind
      // attacker must then guess that 32-bit clock too (as for the ack floor), while the real
      // packets after the burst are kept instead of dropped and resent with the whole window.
      if (packet.type !== PacketType.Data || distance > this.windowReach() || !this.currentTimestamp(packet.timestamp, now)) return 'invalid';
    }
    // Nothing legitimate comes after the end of stream once delivered.
    if (this.eofDelivered) return 'invalid';
    if (packet.type === PacketType.Fin) {
      // A FIN never has data after it: one at or behind DATA we saw is forged (or that DATA is).
      if (seqDiff(packet.seq, this.peerSeqHigh) >= 0) return 'invalid';
      if (this.eofSeq !== undefined && packet.seq !== this.eofSeq) return 'invalid';
    }
    return 'valid';
  }

  /**
   * Whether a peer timestamp is one its clock can carry now: at most about two RTTs behind its
   * newest (see recentTimestamp), or ahead of it by no more than the time elapsed since that one
   * arrived plus the same slack (a later packet may have queued less).
   */
  private currentTimestamp(timestamp: number, now: number): boolean {
    if (this.peerTimestampHigh === undefined) return false;
    const ahead = (timestamp - this.peerTimestampHigh) | 0;
    if (ahead <= 0) return this.recentTimestamp(timestamp);
    return ahead <= 1000 * (now - this.peerTimestampHighAt) + 2000 * this.rttEstimator.rtt + STALE_TIMESTAMP_SLACK_US;
  }

  /** Whether a peer timestamp is at most about two RTTs behind the newest valid one (never ahead). */
  private recentTimestamp(timestamp: number): boolean {
    if (this.peerTimestampHigh === undefined) return false;
    const behind = (this.peerTimestampHigh - timestamp) | 0;
    return behind >= 0 && behind <= 2000 * this.rttEstimator.rtt + STALE_TIMESTAMP_SLACK_US;
  }

  /**
   * How far past ack_nr the peer's DATA may land: 32 packets past the furthest seen, plus as much
   * again as the reordering in progress (a path that reorders N packets needs about N), at most
   * what our advertised window admits and the reorder buffer's reach. What the peer can have in
   * flight is all that can legitimately be ahead; the rest of the 16-bit space is an attacker's.
   */
  private seqReach(): number {
    const span = Math.max(0, seqDiff(this.ackNr, this.peerSeqHigh));
    return Math.min(this.windowReach(), MIN_SEQ_REACH + 2 * span);
  }

  /**
   * How far behind ack_nr DATA is still a duplicate to re-ack: at least the reorder buffer's reach
   * (libutp: 1024), and as many of the peer's largest packets as the largest window we can
   * advertise admits (it may have that many in flight when all their ACKs are lost), within
   * MAX_DUPLICATE_REACH. The reorder buffer's 1023 alone was too short for a receive buffer over
   * ~1.4 MB: our sender keeps up to 4095 packets in flight, and its resent oldest packet went
   * unanswered (30 s). With the default 1 MiB nothing changes (764 full packets).
   */
  private duplicateReach(): number {
    const largest = this.ackPolicy?.largestPayload ?? 0;
    if (largest === 0) return this.recvBuffer.reach;
    const byWindow = Math.ceil((this.config.receiveBufferSize + this.config.packetSize) / Math.max(largest, MIN_PLAUSIBLE_PAYLOAD));
    return Math.max(this.recvBuffer.reach, Math.min(MAX_DUPLICATE_REACH, byWindow));
  }

  /**
   * The most DATA packets past ack_nr the window we advertised admits, in packets of at least
   * MIN_PLAUSIBLE_PAYLOAD bytes (libtorrent sizes its reorder window the same way: buffer / 1100),
   * within the reorder buffer's reach.
   */
  private windowReach(): number {
    // Not less than the free room: a window cut to a backlogged socket's share (receiveWindow) finds
    // the peer with up to the earlier, larger one in flight, which must not be refused.
    const window = Math.max(this.advertisedWindow, this.freeWindow());
    const byWindow = Math.max(MIN_SEQ_REACH, Math.ceil(window / MIN_PLAUSIBLE_PAYLOAD));
    return Math.min(this.recvBuffer.reach, byWindow);
  }

  /**
   * A RESET that fits. Refused connects, unconfirmed connections and connections with nothing
   * left to lose (both FINs acknowledged) end at once; any other connection is reset only if the
   * peer stays silent for an RTO (it sends nothing else once it has really reset): our STATE now
   * draws another RESET from libutp and us, and anything else from the peer proves it forged.
   */
  private handleReset(now: number): void {
    if (this.state === 'syn-sent') {
      this.close(connectionRefused(), false);
      return;
    }
    if (this.state === 'syn-recv' || (this.finState === 'acked' && this.eofDelivered)) {
      this.close(undefined, false);
      return;
    }
    if (this.state === 'closed' || this.timers.reset !== Infinity) return;
    this.timers.arm('reset', now + this.rttEstimator.rto);
    this.ackPending = true;
    this.requestFlush();
  }

  /** The same SYN again (our STATE was lost): answer with the ORIGINAL STATE, never a later one. */
  handleDuplicateSyn(syn: Packet, now: number): void {
    if (syn.seq !== this.synSeq || this.isInitiator) return;
    this.sendHeader(PacketType.State, this.initialSeq, now, undefined);
    // Give the repeated STATE its own wait, as if the SYN were new (its resend may land just as we would expire).
    if (this.state === 'syn-recv') this.timers.arm('expires', now + this.config.unconfirmedTimeout);
  }

  private noteTimestamp(packet: Packet, now: number): void {
    if (this.peerTimestampHigh === undefined || ((packet.timestamp - this.peerTimestampHigh) | 0) > 0) {
      this.peerTimestampHigh = packet.timestamp;
      this.peerTimestampHighAt = now;
    }
    const nowMicros = timestampMicros(now);
    this.replyMicros = timestampDifference(nowMicros, packet.timestamp);
    this.ackPolicy?.onTimestamps(packet.timestamp, packet.timestampDifference, nowMicros);
    this.cc.onPeerDelaySample?.(this.replyMicros, now);
  }

  private processAck(packet: Packet, now: number): void {
    // Held back by the pacer counts as window-limited: its rate is the window's, so the window,
    // not the application, held the sender back (else the window never grows while paced).
    const flightBefore = this.pacerHeld ? Math.max(this.bytesInFlight, this.cc.window) : this.bytesInFlight;
    let acked = 0;
    let ackedSomething = false;
    const ack = packet.ack;
    const stale = seqDiff(seqAdd(this.sendBuffer.oldest, -1), ack) < 0;
    const evidence = ACK_EVIDENCE;
    evidence.ackRtt = evidence.sackRtt = Infinity;
    evidence.coversResend = false;
    while (this.sendBuffer.count > 0 && seqDiff(this.sendBuffer.oldest, ack) >= 0) {
      const out = this.sendBuffer.shift()!;
      ackedSomething = true;
      if (!out.sacked) acked += this.acknowledge(out, false, now);
      dropHold(out);
      if (out.type === PacketType.Fin) {
        this.finState = 'acked';
        // Everything we wrote, FIN included, is acknowledged: net's 'finish'.
        this.host.events.push({ type: 'finish', connection: this });
      }
    }
    this.loss.afterCumulativeAck();
    if (packet.selectiveAck) acked += this.processSelectiveAck(ack, packet.selectiveAck, now);
    this.loss.onAckNr(packet.type, ack, stale, ackedSomething, acked, now);
    this.takeRttSample();
    if (now - this.ackFloorAt >= Math.max(this.rttEstimator.rtt, MIN_TAIL_LOSS_DELAY)) {
      this.ackFloor = this.ackFloorNext;
      this.ackFloorNext = seqAdd(this.sendBuffer.oldest, -1);
      this.ackFloorAt = now;
    }

    if (acked > 0 || ackedSomething) {
      const sample = delaySample(packet.timestampDifference);
      if (sample !== undefined) this.lastDelay = sample;
      if (acked > 0) this.cc.onAck(acked, sample, flightBefore, this.rttEstimator.rtt, now, Math.min(ACK_EVIDENCE.ackRtt, ACK_EVIDENCE.sackRtt));
      this.consecutiveTimeouts = 0;
      this.rttEstimator.resetBackoff();
      this.timers.arm('rto', this.bytesInFlight > 0 || this.sendBuffer.count > 0 ? now + this.rttEstimator.rto : Infinity);
      this.loss.onProgress(now);
      this.tracer?.acked(this, this.cc, this.rttEstimator, this.bytesInFlight, this.peerWindow, this.config.targetDelay);
    }
  }

  /** Bookkeeping for a packet the peer has now: returns its payload bytes newly out of flight. */
  private acknowledge(out: OutPacket, sacked: boolean, now: number): number {
    this.loss.onDelivered(out, sacked, now);
    const evidence = ACK_EVIDENCE;
    if (out.transmissions > 1) {
      if (!sacked) evidence.coversResend = true;
    } else if (sacked) {
      if (now - out.sentAt < evidence.sackRtt) evidence.sackRtt = now - out.sentAt;
    } else if (now - out.sentAt < evidence.ackRtt) {
      evidence.ackRtt = now - out.sentAt;
    }
    if (out.needsResend) {
      out.needsResend = false;
      this.resendsPending--;
      return 0;
    }
    this.bytesInFlight -= out.size;
    return out.size;
  }

  /**
   * One RTT sample per ACK, from the youngest packet it newly acknowledges that was sent once
   * (Karn). A cumulative ACK that also covers a retransmitted packet may have been sent for the
   * retransmission: packets before it that arrived long ago, whose own ACKs were lost (an
   * outage), would otherwise give the outage as an RTT (3.7 s: RTO 6.3 s). Their sample is
   * dropped; a selectively acked packet still gives one (Linux: FLAG_RETRANS_DATA_ACKED, sack_rtt).
   */
  private takeRttSample(): void {
    const { ackRtt, sackRtt, coversResend } = ACK_EVIDENCE;
    const sample = coversResend ? sackRtt : Math.min(ackRtt, sackRtt);
    if (sample !== Infinity) this.rttEstimator.sample(sample);
  }

  private processSelectiveAck(ack: number, mask: Uint8Array, now: number): number {
    let acked = 0;
    let sackedTotal = 0;
    const bits = Math.min(mask.length * 8, this.sendBuffer.count + 1);
    for (let i = 0; i < bits; i++) {
      if ((mask[i >> 3]! & (1 << (i & 7))) === 0) continue;
      const out = this.sendBuffer.get(seqAdd(ack, 2 + i));
      if (!out) continue;
      sackedTotal++;
      if (out.sacked) continue;
      out.sacked = true;
      acked += this.acknowledge(out, true, now);
    }
    this.loss.onSelectiveAck(ack, bits, sackedTotal, this.config.maxResendsPerAck, now);
    return acked;
  }

  /** LossHost (for this.loss only). */
  get inputBacklogUntil(): number {
    return this.host.inputBacklogUntil;
  }

  /** LossHost (for this.loss only). A tail-loss probe: `out` goes again now, still counted in flight (it never left it). */
  sendProbe(out: OutPacket, now: number): void {
    this.counters.retransmits++;
    this.transmitData(out, now);
  }

  /** LossHost (for this.loss only). Marks a packet for resend (a loss detector's or the timeout's decision). */
  markLost(out: OutPacket): void {
    out.needsResend = true;
    this.resendsPending++;
    this.bytesInFlight -= out.size;
    this.tracer?.lost(this, out.seq, out.size);
  }

  /** DATA or FIN that classify() let through: 1 <= distance past ack_nr <= seqReach(). */
  private processData(packet: Packet, now: number): void {
    const distance = seqDiff(this.ackNr, packet.seq);
    if (packet.type === PacketType.Fin) {
      this.ackPending = true;
      // The end of stream is recorded only right after the furthest DATA seen: a FIN that
      // could land anywhere ahead would let a forged one truncate the stream wherever it hit.
      // One beyond a hole at the tail is dropped; the peer resends it (tail-loss or RTO).
      if (seqAdd(this.peerSeqHigh, 1) === packet.seq) {
        this.eofSeq = packet.seq;
        this.drainReordered(); // delivers end of stream if nothing is missing before it
      }
      return;
    }
    if (seqDiff(this.peerSeqHigh, packet.seq) > 0) this.peerSeqHigh = packet.seq;
    // DATA at or past a FIN not yet delivered: no peer sends data after its FIN, so that FIN was
    // forged. Forget it; the real one will come.
    if (this.eofSeq !== undefined && seqDiff(this.eofSeq, packet.seq) >= 0) this.eofSeq = undefined;
    const payload = packet.payload;
    // In order with no hole after it and no end of stream to deliver: its ACK may wait
    // (AckPolicy); anything else is acked at this flush. (A packet dropped for want of room is
    // acked at once: the window our ACK carries is the news.)
    const inOrderFits = distance === 1 && this.deliverable(payload.length);
    const deferrable = inOrderFits && this.recvBuffer.count === 0 && this.eofSeq === undefined;
    const backlogged = now < this.host.inputBacklogUntil;
    // Receivers are counted only while their count matters (ReceiveShare): a map update per packet.
    if (backlogged) this.host.receiveShare.noteData(this, payload.length, now);
    const ackAt = (this.ackPolicy ??= new AckPolicy()).onData(payload.length, deferrable, this.advertisedWindow, now, backlogged);
    if (ackAt <= now) this.ackPending = true;
    else if (ackAt < this.timers.ack) this.timers.arm('ack', ackAt);
    if (distance === 1) {
      if (!inOrderFits) return; // the application stopped reading: drop, the peer resends
      this.deliver(payload);
      this.ackNr = packet.seq;
      this.recvBuffer.advanced(1);
      this.drainReordered();
      return;
    }
    if (this.recvBuffer.has(packet.seq)) {
      this.counters.duplicatePackets++;
      return;
    }
    if (!this.deliverable(this.recvBuffer.bytes + payload.length)) return;
    this.recvBuffer.insert(packet.seq, distance, payload);
  }

  /** Whether `extra` more bytes fit in what we may hold (advertised window plus one packet of slack). */
  private deliverable(extra: number): boolean {
    return this.applicationBuffered + this.recvBuffer.bytes + extra <= this.config.receiveBufferSize + this.config.packetSize;
  }

  private drainReordered(): void {
    for (;;) {
      const next = seqAdd(this.ackNr, 1);
      if (next === this.eofSeq) {
        this.ackNr = next;
        this.eofDelivered = true;
        this.host.events.push({ type: 'end', connection: this });
        return;
      }
      const payload = this.recvBuffer.take(next);
      if (payload === undefined) return;
      this.deliver(payload);
      this.ackNr = next;
      this.recvBuffer.advanced(1);
    }
  }

  private deliver(payload: Uint8Array): void {
    if (payload.length === 0) return;
    this.counters.bytesReceived += payload.length;
    this.applicationBuffered += payload.length;
    // One event per burst (see EndpointEvent 'data'): appended to only while it is the newest
    // event queued, so no event of this or any other connection ('end', 'close', another's
    // data) is ever overtaken. An event already dispatched has left host.events and is never
    // touched again.
    const events = this.host.events;
    const newest = events[events.length - 1];
    if (newest?.type === 'data' && newest.connection === this) newest.pieces.push(payload);
    else events.push({ type: 'data', connection: this, pieces: [payload] });
  }

  // ---------------------------------------------------------------- output

  /** LossHost (for this.loss), and everything here that leaves something to send. */
  requestFlush(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.host.markDirty(this);
  }

  /** Sends what the windows allow, then an ACK if one is owed and no data carried it. */
  flush(now: number): void {
    this.dirty = false;
    let sentData = false;
    // Acks may have taken the older oversized packets a waiting re-split was blocked on.
    if (this.sendFailure?.waiting === true && this.state === 'connected' && !this.resplitOversized(now)) return;
    if (this.state === 'connected') sentData = this.sendAllowed(now);
    const mayAck = this.state !== 'syn-sent' && this.state !== 'syn-recv';
    // A DATA packet's selective ACK is cut to fit packetSize: the whole one follows on a STATE.
    if (mayAck && (this.sackOwed || (this.ackPending && !sentData))) this.sendState(now);
    this.ackPending = false;
    this.sackOwed = false;
    this.releaseWrites();
    if (this.writeBlocked && this.writeQueue.length < this.config.sendBufferSize) {
      this.writeBlocked = false;
      this.host.events.push({ type: 'drain', connection: this });
    }
  }

  /** Payload per DATA packet: room for the header and a small selective ACK, so no datagram exceeds packetSize (see sendHeader). */
  private get maxPayload(): number {
    return this.config.packetSize - HEADER_SIZE - SACK_RESERVE;
  }

  /**
   * Tells the application when no queued byte points into its buffers any more ('written'):
   * everything was packetized (copied), or the rest is small and copied now. The copy of a
   * small rest means a partial packet held by Nagle or the window does not keep the buffer
   * until an ACK, and the application hears in time to write more before the queue runs dry
   * (no pause in sending per write).
   */
  private releaseWrites(): void {
    const queue = this.writeQueue;
    if (queue.borrowed && queue.length <= Math.max(WRITE_LOW_WATER, this.config.packetSize)) queue.adopt();
    if (this.writeOwed && !queue.borrowed) {
      this.writeOwed = false;
      this.host.events.push({ type: 'written', connection: this });
    }
  }

  private sendAllowed(now: number): boolean {
    if (this.sendBuffer.count === 0 && this.writeQueue.length > 0) this.decayAfterIdle(now);
    const window = Math.min(this.cc.window, this.peerWindow);
    const maxPayload = this.maxPayload;
    let sent = false;
    let cursor = this.sendBuffer.oldest;
    this.pacerHeld = false;
    for (;;) {
      if (this.resendsPending > 0) {
        let out: OutPacket | undefined;
        while ((out = this.sendBuffer.get(cursor)) && !out.needsResend) cursor = seqAdd(cursor, 1);
        if (!out) {
          this.resendsPending = 0; // defensive: nothing marked remains
          continue;
        }
        if (this.bytesInFlight > 0 && this.bytesInFlight + out.size > window) break;
        if (this.paced(now, window)) break;
        out.needsResend = false;
        this.resendsPending--;
        this.bytesInFlight += out.size;
        this.counters.retransmits++;
        this.transmitData(out, now);
        this.pacer.sent(out.size, now, window, this.pacingRtt(), this.cc.inSlowStart === true);
        sent = true;
        continue;
      }
      if (this.sendFailure?.waiting === true) break; // see SendFailure.waiting
      if (this.writeQueue.length > 0) {
        if (this.sendBuffer.full) break;
        const size = Math.min(maxPayload, this.writeQueue.length);
        if (size < maxPayload && this.nagleHolds()) break;
        if (this.bytesInFlight + size > window && (this.bytesInFlight > 0 || this.peerWindow < size)) {
          if (this.sendBuffer.count === 0 && this.timers.probe === Infinity) this.timers.arm('probe', now + this.rttEstimator.rto);
          break;
        }
        if (this.paced(now, window)) break;
        const out = this.sendNewData(size, now);
        this.pacer.sent(size, now, window, this.pacingRtt(), this.cc.inSlowStart === true);
        if (size < maxPayload) this.lastSmallSeq = out.seq;
        this.bytesInFlight += size;
        sent = true;
        continue;
      }
      if (this.finState === 'queued' && !this.sendBuffer.full) {
        this.transmitData(this.newPacket(PacketType.Fin, NO_BYTES, 0, 0, now), now);
        this.finState = 'sent';
        sent = true;
      }
      break;
    }
    return sent;
  }

  /**
   * The RTT the pacer spreads a window over; 0 (no pacing) until a fresh sample after repeated
   * timeouts: an outage's recovery was paced at the drained queue's old RTT (151 ms on a 60 ms
   * path) and took twice as long.
   */
  private pacingRtt(): number {
    const rtt = this.rttEstimator;
    if (rtt.stale) return 0;
    // The smoothed RTT lags a queue that just drained (a LEDBAT++ slowdown): paced on it, the
    // window would trickle out at a fraction of the now-empty path's rate for several RTTs.
    return Math.min(rtt.rtt, rtt.latest);
  }

  /** Whether the pacer holds the next packet back; if so, the `pace` deadline wakes us for it. */
  private paced(now: number, window: number): boolean {
    const delay = this.pacer.delay(now, window, this.pacingRtt(), this.cc.inSlowStart === true);
    if (delay === 0) return false;
    if (this.paceAt === Infinity) {
      this.paceAt = now + delay;
      this.host.pace(this);
    }
    this.pacerHeld = true;
    return true;
  }

  /** Nothing outstanding and data to send: a window left over from before an idle period decays. */
  private decayAfterIdle(now: number): void {
    const rto = this.rttEstimator.rto;
    const periods = Math.floor((now - this.activeAt) / rto);
    if (periods < 1 || !this.rttEstimator.hasSample) return;
    this.activeAt = now;
    this.cc.onIdle?.(periods, now);
  }

  private nagleHolds(): boolean {
    if (this.noDelay || this.finState !== 'open' || this.lastSmallSeq === undefined) return false;
    // Still in the send buffer (not yet cumulatively acked) means still unacknowledged.
    return this.sendBuffer.get(this.lastSmallSeq) !== undefined;
  }

  /** A packet whose payload is `size` bytes of `bytes` from `payloadAt`. */
  private newPacket(type: PacketType.Data | PacketType.Fin, bytes: Uint8Array, payloadAt: number, size: number, now: number): OutPacket {
    const out: OutPacket = {
      seq: this.sendBuffer.next,
      type,
      size,
      bytes,
      payloadAt,
      sentAt: now,
      transmissions: 0,
      needsResend: false,
      sacked: false,
      lostIn: 0,
      holds: 0,
    };
    this.sendBuffer.push(out);
    return out;
  }

  /**
   * Packetizes `size` queued bytes: header and payload in one datagram buffer, the payload copied
   * out of the application's chunks (which it may reuse once told 'written'). The packet keeps
   * the payload view for retransmissions, which get a buffer of their own (see sendHeader).
   */
  private sendNewData(size: number, now: number): OutPacket {
    const f = this.headerFields(PacketType.Data, this.sendBuffer.next, now, size);
    const at = headerSize(f);
    const datagram = allocDatagram(at + size);
    encodeHeaderInto(f, datagram);
    this.writeQueue.takeInto(datagram, at, size);
    const out = this.newPacket(PacketType.Data, datagram, at, size, now);
    // Held by the send buffer until acknowledged and by the OS until the driver releases it.
    if (this.host.releasesDatagrams) out.holds = 2;
    this.transmitData(out, now, datagram);
    return out;
  }

  /** Sends `out` (again); `datagram` is its first transmission, already encoded. */
  private transmitData(out: OutPacket, now: number, datagram?: Uint8Array): void {
    out.sentAt = now;
    this.activeAt = now;
    out.transmissions++;
    if (datagram) this.sendDatagram(datagram, now, false, out);
    else this.sendHeader(out.type, out.seq, now, out.size > 0 ? payloadOf(out) : undefined, out.transmissions > 1);
    this.counters.bytesSent += out.size;
    if (this.timers.rto === Infinity) this.timers.arm('rto', now + this.rttEstimator.rto);
    this.loss.onTransmit(now);
  }

  private sendState(now: number): void {
    // STATE carries the next seq_nr without consuming it.
    this.sendHeader(PacketType.State, this.sendBuffer.next, now, undefined);
  }

  /** An initiator created with `deferSyn` may handshake now: its first SYN goes out. */
  startHandshake(now: number): void {
    if (this.state === 'syn-sent' && this.synTransmits === 0) this.sendSyn(now);
  }

  private sendSyn(now: number): void {
    this.synTransmits++;
    this.lastSent = now;
    const header = allocDatagram(HEADER_SIZE);
    encodeHeaderInto(
      {
        type: PacketType.Syn,
        connectionId: this.recvId, // the SYN alone carries recv_id
        timestamp: timestampMicros(now),
        timestampDifference: 0,
        windowSize: this.freeWindow(),
        seq: this.synSeq,
        ack: 0,
      },
      header,
    );
    this.counters.packetsSent++;
    this.tracer?.packetSent(this, header, false);
    this.host.transmit(this.remote, header, this);
    this.timers.arm('rto', now + this.config.initialRto * 2 ** (this.synTransmits - 1));
  }

  /** Room left in our receive buffer: the window we advertise unless our input is backlogged. */
  private freeWindow(): number {
    return Math.max(0, this.config.receiveBufferSize - this.applicationBuffered - this.recvBuffer.bytes);
  }

  /**
   * The window we advertise now: the free room, or while the socket's input is backlogged at most
   * this connection's share of the socket's kernel buffer (ReceiveShare), two packets at least:
   * ours or the peer's, whichever are larger (two of ours are less than one of a peer configured
   * for jumbo frames, which then sent nothing until its zero-window probe).
   */
  private receiveWindow(now: number): number {
    const free = this.freeWindow();
    if (!(now < this.host.inputBacklogUntil)) return free;
    const packet = Math.max(this.config.packetSize, HEADER_SIZE + (this.ackPolicy?.largestPayload ?? 0));
    return Math.min(free, Math.max(2 * packet, this.host.receiveShare.share(now)));
  }

  /**
   * Sends a packet with fresh header fields, header and payload copied into one new datagram
   * buffer. A fresh buffer per transmission, never one rewritten in place: the OS may still hold
   * an earlier transmission of it in its send queue.
   */
  private sendHeader(type: PacketType, seq: number, now: number, payload: Uint8Array | undefined, resend = false): void {
    const f = this.headerFields(type, seq, now, payload?.length ?? 0);
    const size = headerSize(f);
    const datagram = allocDatagram(size + (payload?.length ?? 0));
    encodeHeaderInto(f, datagram);
    if (payload) datagram.set(payload, size);
    this.sendDatagram(datagram, now, resend);
  }

  /** `first`: the DATA packet `datagram` is the first transmission of (see Transmit.packet). */
  private sendDatagram(datagram: Uint8Array, now: number, resend = false, first?: OutPacket): void {
    this.counters.packetsSent++;
    this.lastSent = now;
    this.tracer?.packetSent(this, datagram, resend);
    this.host.transmit(this.remote, datagram, this, first);
  }

  /** Header fields for a packet sent now: ack_nr, window, timestamps and SACK are always current. */
  private headerFields(type: PacketType, seq: number, now: number, payloadLength: number): HeaderFields {
    const f = HEADER_FIELDS;
    f.type = type;
    f.connectionId = this.sendId;
    f.timestamp = timestampMicros(now);
    f.timestampDifference = this.replyMicros;
    f.windowSize = this.advertisedWindow = this.receiveWindow(now);
    f.seq = seq;
    f.ack = this.ackNr;
    this.ackPolicy?.onAckSent();
    this.timers.clear('ack');
    f.selectiveAck = this.recvBuffer.count > 0 ? this.fittingSack(payloadLength) : undefined;
    return f;
  }

  /**
   * The selective ACK for a packet with `payloadLength` bytes of payload, cut (whole bytes of the
   * mask, a multiple of 4) so that header + mask + payload <= packetSize on every transmission,
   * resends included. A cut mask leaves the rest for a STATE at the end of this flush.
   */
  private fittingSack(payloadLength: number): Uint8Array | undefined {
    const mask = this.recvBuffer.selectiveAck(this.ackNr, MAX_SACK_BYTES);
    if (mask === undefined) return undefined;
    const room = Math.min(MAX_SACK_BYTES, (this.config.packetSize - HEADER_SIZE - 2 - payloadLength) & ~3);
    if (mask.length <= room) return mask;
    this.sackOwed = true;
    return room >= 4 ? mask.subarray(0, room) : undefined;
  }

  // ---------------------------------------------------------------- time

  /** The endpoint's pacing wake-up for this connection came (`paceAt` passed): send what it held. */
  resumePacing(): void {
    this.paceAt = Infinity;
    this.requestFlush();
  }

  /** The earliest time this connection needs `handleTimeout` (pacing aside: see `paceAt`). */
  nextDeadline(): number {
    if (this.state === 'syn-recv' || this.state === 'closed') return this.timers.expires;
    const connected = this.state === 'connected';
    const keepaliveAt = connected ? this.keepaliveAt() : Infinity;
    const idleAt = connected && this.config.idleTimeout > 0 ? this.lastReceived + this.config.idleTimeout : Infinity;
    return this.timers.next(keepaliveAt, idleAt);
  }

  /**
   * When a keepalive is due (Infinity: disabled): `keepaliveInterval` after the last send, rounded
   * down to the KEEPALIVE_GRID so idle connections' keepalives fall due together (never later
   * than the interval, which stays under a 30 s NAT timeout). Shared by nextDeadline and
   * handleTimeout: the same sum in both, so a wake-up at exactly the deadline always finds it due.
   */
  private keepaliveAt(): number {
    const interval = this.config.keepaliveInterval;
    if (interval <= 0) return Infinity;
    const at = this.lastSent + interval;
    return interval >= 4 * KEEPALIVE_GRID ? Math.floor(at / KEEPALIVE_GRID) * KEEPALIVE_GRID : at;
  }

  handleTimeout(now: number): void {
    switch (this.state) {
      case 'syn-recv':
      case 'closed':
        if (now >= this.timers.expires) this.host.remove(this);
        return;
      case 'syn-sent':
        if (now < this.timers.rto) return;
        if (this.synTransmits >= this.config.maxSynTransmits) this.close(timedOut('connect'), false);
        else this.sendSyn(now);
        return;
      case 'connected':
        // Same sum as nextDeadline(): `now - last >= interval` can miss by a float ulp and spin a driver calling at exactly the deadline.
        if (this.config.idleTimeout > 0 && now >= this.lastReceived + this.config.idleTimeout) {
          this.close(timedOut('connection (peer silent)'), false);
          return;
        }
        if (now >= this.timers.reset) {
          // The peer sent a fitting RESET and nothing since: it really did reset. After both
          // ends of stream (our FIN unacknowledged), not an error, as before.
          this.close(this.finished ? undefined : connectionReset(), false);
          return;
        }
        if (now >= this.timers.ack) {
          // In-order DATA waited its longest for company (AckPolicy): ack it now.
          this.timers.clear('ack');
          this.ackPending = true;
          this.requestFlush();
        }
        if (now >= this.timers.rto) this.retransmitTimeout(now);
        else if (now >= this.timers.tailLoss) this.loss.onTailLossTimer(now);
        if (now >= this.timers.confirm) {
          // Nothing from the acceptor yet. If we sent data, its retransmission confirms instead.
          this.timers.arm('confirm', ++this.confirmRepeats < MAX_CONFIRM_REPEATS ? now + this.rttEstimator.rto * 2 ** this.confirmRepeats : Infinity);
          if (this.sendBuffer.count === 0) {
            this.ackPending = true;
            this.requestFlush();
          }
        }
        if (now >= this.timers.probe) {
          // The peer's window stayed closed for an RTO: its reopening ACK may be lost. Send one
          // packet anyway; its ACK carries the current window.
          this.timers.clear('probe');
          this.peerWindow = Math.max(this.peerWindow, this.config.packetSize);
          this.requestFlush();
        }
        if (now >= this.keepaliveAt()) {
          this.ackPending = true;
          this.requestFlush();
        }
    }
  }

  /**
   * Consecutive timeouts before giving up. An orphan (destroyed after both ends of stream) whose
   * only unacknowledged packet is its FIN has nothing left to lose: the peer has all our data and
   * sent its own FIN, and a peer that already forgot the connection (libtorrent deletes it once
   * its own FIN is acknowledged, and answers nothing) would otherwise keep it, and the UDP socket
   * waiting for it, retransmitting for a minute.
   */
  private retransmitLimit(): number {
    if (this.orphaned && this.sendBuffer.count === 1 && this.sendBuffer.get(this.sendBuffer.oldest)?.type === PacketType.Fin) {
      return Math.min(ORPHAN_FIN_RETRANSMITS, this.config.maxRetransmits);
    }
    return this.config.maxRetransmits;
  }

  private retransmitTimeout(now: number): void {
    if (this.sendBuffer.count === 0) {
      this.timers.clear('rto');
      return;
    }
    // A probe into a closed window is expected to go unanswered: it says nothing about the peer
    // being gone (the idle timeout covers that). Not for an orphaned connection: a peer that
    // answers with a shut window forever would keep it, its queued data and the UDP socket waiting
    // for its removal alive forever (TCP bounds orphaned sockets likewise: tcp_orphan_retries).
    const probing = this.advertisedByPeer < this.config.packetSize && !this.orphaned;
    if (!probing && ++this.consecutiveTimeouts > this.retransmitLimit()) {
      this.close(timedOut('retransmission'), false);
      return;
    }
    this.counters.timeouts++;
    this.cc.onTimeout(now);
    this.rttEstimator.onTimeout();
    this.tracer?.timeout(this, this.cc.window, this.rttEstimator.rto, this.bytesInFlight);
    // Everything in flight is presumed lost; it goes out again as the (now tiny) window allows.
    this.loss.onRetransmitTimeout();
    // A peer that closed its window gets a probe: assume room for one packet.
    if (this.peerWindow < this.config.packetSize) this.peerWindow = this.config.packetSize;
    this.timers.clear('rto');
    this.requestFlush();
  }

  // ---------------------------------------------------------------- send errors (from the driver)
  // Kept apart from the rest of the state machine: it touches the send buffer only to re-split.

  /** Created at the first send error: most connections never see one (issue 9's memory per connection). */
  private sendFailure: SendFailure | undefined = undefined;

  /**
   * The OS refused a datagram this connection sent. The driver reports each failure once,
   * asynchronously and in send order, with the datagram it refused.
   *
   * EMSGSIZE (the path or interface MTU is below our packet size) lowers the packet size one step
   * and re-splits the refused packets; other errors that persist end the connection with their
   * code instead of a silent ETIMEDOUT. Transient ones (ENOBUFS, EAGAIN) are only counted: the
   * retransmission timer covers them as any loss.
   */
  onSendError(code: string, datagram: Uint8Array, now: number): void {
    if (this.state === 'closed') return;
    const f = (this.sendFailure ??= newSendFailure());
    f.errors++;
    if (code === 'ENOBUFS' || code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return;
    if (code === 'EMSGSIZE' && this.onMessageTooBig(datagram, now)) return;
    // Persistent: the same path keeps refusing with nothing heard from the peer since the streak
    // began, across a retransmission (at least half the minimum RTO apart), as a TCP stack turns
    // soft ICMP errors into a hard one once its retransmissions keep failing.
    if (this.lastReceived > f.streakStart || f.streak === 0) {
      f.streakStart = now;
      f.streak = 0;
    }
    f.streak++;
    if (f.streak >= 2 && now - f.streakStart >= this.config.minRto / 2) this.close(sendFailed(code), false);
  }

  /** Handles EMSGSIZE; false when the datagram was already at the floor (the error persists). */
  private onMessageTooBig(datagram: Uint8Array, now: number): boolean {
    const size = datagram.length;
    // IPv4 hosts must accept 576-byte datagrams (RFC 791; libtorrent's floor is the same). Every
    // IPv6 link carries 1280-byte packets (RFC 8200 section 5), so 1232 bytes of UDP payload always
    // fit: below that an IPv6 path is broken, not narrow.
    const v6 = this.remote.family === 'IPv6' && !this.remote.address.startsWith('::ffff:'); // mapped IPv4 is IPv4
    const floor = v6 ? IPV6_PACKET_SIZE : 576;
    if (size <= floor) return false;
    const f = this.sendFailure!;
    if (this.config.packetSize >= size) {
      let next = floor;
      for (const step of PACKET_SIZE_STEPS) {
        if (step < size && step > floor) {
          next = step;
          break;
        }
      }
      this.config = { ...this.config, packetSize: next };
      f.sizeReductions++;
    }
    const type = datagram[0]! >> 4;
    if (type === PacketType.Data || type === PacketType.Fin) {
      const seq = (datagram[16]! << 8) | datagram[17]!;
      if (this.sendBuffer.get(seq)) f.failed.set(seq, (f.failed.get(seq) ?? 0) + 1);
    }
    return this.resplitOversized(now);
  }

  /**
   * Packets already cut at the old size would be refused forever. µTP numbers packets, not bytes,
   * so one cannot be split without renumbering every packet after it; that is safe only when the
   * peer can have none of them: every transmission of each, from the first oversized one to the
   * newest, was refused by the OS (a datagram refused locally never left the host). Then they are
   * taken back and their bytes cut again at the new size, numbered from the first one onwards. When a later packet
   * may have left (a small tail packet or FIN went through), renumbering could splice the wrong
   * bytes into the stream, so the connection fails with EMSGSIZE instead once the oversized packet
   * is refused again (libtorrent, which cannot repacketize either, fails the socket too).
   * Returns false when the connection failed.
   */
  private resplitOversized(now: number): boolean {
    const f = this.sendFailure!;
    const buffer = this.sendBuffer;
    const maxPayload = this.maxPayload;
    for (const seq of f.failed.keys()) if (!buffer.get(seq)) f.failed.delete(seq);
    let first: number | undefined;
    let splittable = true;
    let packets = 0; // how many the re-split range becomes
    for (let i = 0, seq = buffer.oldest; i < buffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = buffer.get(seq)!;
      if (first === undefined) {
        if (out.size <= maxPayload) continue;
        first = seq;
      }
      packets += Math.max(1, Math.ceil(out.size / maxPayload)) - 1;
      if (out.sacked || (f.failed.get(seq) ?? 0) < out.transmissions) splittable = false;
    }
    f.waiting = false;
    if (first === undefined) return true;
    if (!splittable || buffer.count + packets >= buffer.capacity - 1) {
      // Waiting is right while some of those transmissions are still to be reported, or while
      // the first oversized packet passed (before the size dropped) and awaits its ACK; a packet
      // refused twice has no report left to wait for.
      if ((f.failed.get(first) ?? 0) < 2) {
        f.waiting = true;
        return true;
      }
      this.close(sendFailed('EMSGSIZE'), false);
      return false;
    }
    const taken: OutPacket[] = [];
    while (buffer.count > 0 && seqDiff(first, buffer.next) > 0) taken.push(buffer.pop()!);
    taken.reverse();
    let total = 0;
    let fin = false;
    for (const out of taken) {
      f.failed.delete(out.seq);
      if (out.needsResend) this.resendsPending--;
      else this.bytesInFlight -= out.size;
      if (out.seq === this.lastSmallSeq) this.lastSmallSeq = undefined;
      if (out.type === PacketType.Fin) fin = true;
      total += out.size;
    }
    // Cut the bytes again, the short piece FIRST: it is the one likely to pass a narrow path, and
    // a packet that passed must not sit behind a full-size one that a further EMSGSIZE step
    // would need to re-split (it could not be renumbered then).
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const out of taken) {
      bytes.set(payloadOf(out), offset);
      offset += out.size;
    }
    let piece = total % maxPayload || maxPayload;
    for (offset = 0; offset < total; offset += piece, piece = maxPayload) this.queueResplit(PacketType.Data, bytes.subarray(offset, offset + piece), now);
    if (fin) this.queueResplit(PacketType.Fin, NO_BYTES, now);
    this.requestFlush();
    return true;
  }

  /** A re-split packet: marked for resend, so it goes out before new data, as the window allows. */
  private queueResplit(type: PacketType.Data | PacketType.Fin, payload: Uint8Array, now: number): void {
    this.newPacket(type, payload, 0, payload.length, now).needsResend = true;
    this.resendsPending++;
  }

  // ---------------------------------------------------------------- teardown

  private close(error: UtpError | undefined, linger: boolean): void {
    if (this.state === 'closed') return;
    const from = this.state;
    const wasAnnounced = from !== 'syn-recv';
    this.state = 'closed';
    this.tracer?.stateChanged(this, from, error);
    this.timers.clear('rto');
    this.writeQueue.clear();
    if (wasAnnounced) this.host.events.push({ type: 'close', connection: this, error });
    if (linger) {
      this.timers.arm('expires', this.lastReceived + this.config.lingerTime);
    } else {
      // Gone: an ACK still owed must not follow (the connection may be in this flush's list yet,
      // aborted by a handler that ran before it). Its RESET, if any, carried our ack_nr; a STATE
      // after it told the peer the RESET was forged: the peer closed an RTT later, or, with
      // nothing left to resend, never (its connection and socket stayed open for good).
      this.ackPending = false;
      this.sackOwed = false;
      this.host.remove(this);
    }
  }
}

/** Whether `value` lies in the sequence window [low, high] (both inclusive, modulo 2^16). */
function inWindow(value: number, low: number, high: number): boolean {
  const d = seqDiff(low, value);
  return d >= 0 && d <= seqDiff(low, high);
}

