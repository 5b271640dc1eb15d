import type { ConnectionConfig } from './config.js';
import type { CongestionController } from './congestion/controller.js';
import { connectionRefused, connectionReset, timedOut, type UtpError } from './errors.js';
import type { EndpointEvent, Remote } from './events.js';
import { encodeHeaderInto, headerSize, PacketType, type HeaderFields, type Packet } from './packet.js';
import { RecvBuffer } from './recv-buffer.js';
import { RttEstimator } from './rtt.js';
import { SendBuffer, type OutPacket } from './send-buffer.js';
import { allocDatagram } from './datagram-pool.js';
import { WriteQueue } from './write-queue.js';
import { seqAdd, seqDiff } from './seq.js';
import { newCounters, type ConnectionCounters, type ConnectionStats } from './stats.js';
import { delaySample, timestampDifference, timestampMicros } from './time.js';

/**
 * What a connection needs from its endpoint: an outbox, an event queue, and a way to ask for a
 * flush, a wake-up or removal. Implemented by `Endpoint`; nothing here does I/O.
 */
export interface ConnectionHost {
  readonly events: EndpointEvent[];
  transmit(remote: Remote, header: Uint8Array, payload: Uint8Array | undefined): void;
  /** The connection has something to send at the next flush. */
  markDirty(connection: Connection): void;
  /** The connection's next deadline may be earlier than the endpoint's wake-up. */
  wake(deadline: number): void;
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
/** SACKed packets above a hole that declare it lost (BEP 29, libutp, libtorrent). */
const SACK_LOSS_THRESHOLD = 3;
/** The loss threshold grows with the reordering we observe, up to this many packets. */
const MAX_REORDER_THRESHOLD = 32;
const DUP_ACK_THRESHOLD = 3;
/** Extra confirming STATEs an initiator sends while the acceptor stays silent. */
const MAX_CONFIRM_REPEATS = 3;
/** Queued bytes at most that are copied (not waited for) to give the application its buffers back. */
const WRITE_LOW_WATER = 64 * 1024;
/** Floor of the tail-loss timer (ms): below it, scheduling noise would look like loss. */
const MIN_TAIL_LOSS_DELAY = 20;
/** How far behind the oldest unacked packet an ack_nr on a reordered packet may be. */
const STALE_ACK_SLACK = 1024;

/**
 * One µTP connection's state machine.
 *
 * Calling contract: the endpoint feeds it packets addressed to it (`handlePacket`) and expired
 * deadlines (`handleTimeout`), always with the current time in milliseconds; it calls `flush` for
 * connections marked dirty, once per burst of input. The application side (through the driver)
 * calls `write`, `end`, `abort` and `setApplicationBuffered`. Output goes to the host's outbox and
 * event queue; nothing is sent or emitted synchronously to the caller.
 */
export class Connection {
  state: ConnectionState;
  readonly remote: Remote;
  /** Connection id we receive on (demultiplexing key). */
  readonly recvId: number;
  /** Connection id we put on packets we send. */
  readonly sendId: number;
  readonly isInitiator: boolean;
  /** Free for the driver: the application object this connection belongs to. */
  context: unknown = undefined;

  private readonly config: ConnectionConfig;
  private readonly host: ConnectionHost;
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
  private readonly synSeq: number;
  private peerWindow: number;
  /** timestamp_difference to echo: our clock at receipt minus the peer's last timestamp. */
  private replyMicros = 0;
  private lastDelay = 0;

  private bytesInFlight = 0;
  private resendsPending = 0;
  private dupAcks = 0;
  /** Highest seq_nr selectively acked so far (undefined when none is above ack_nr). */
  private highestSacked: number | undefined = undefined;
  /**
   * Packets that must be acked above a hole before it counts as lost. Starts at 3 (BEP 29) and
   * rises to the reordering distance actually seen: a packet sent once and acked after later
   * ones were SACKed arrived out of order, not lost.
   */
  private reorderThreshold = SACK_LOSS_THRESHOLD;
  /** Latest (last-)transmission time of any packet the peer acknowledged: delivery order evidence. */
  private latestDeliveredSentAt = -Infinity;
  private lastAckReceived: number;
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

  /** seq_nr of the peer's FIN once seen; data past it is dropped. */
  private eofSeq: number | undefined = undefined;
  private eofDelivered = false;
  private applicationBuffered = 0;
  private advertisedWindow: number;
  private ackPending = false;
  private dirty = false;

  private rtoDeadline = Infinity;
  /**
   * Tail-loss timer: when the ACK clock stops for a couple of RTTs with data in flight, the tail
   * of a burst was lost (nothing above it arrived to trigger SACK or duplicate ACKs). Recover then
   * instead of after the RTO's 500 ms floor. Once per period of ACK progress.
   */
  private tailLossDeadline = Infinity;
  private tailLossArmed = true;
  /** When to push one packet into a window the peer closed, in case its reopening ACK was lost. */
  private probeDeadline = Infinity;
  /**
   * Initiator only: repeat the confirming STATE (bounded) until the acceptor is heard from, so a
   * lost confirmation does not strand an application that only reads.
   */
  private confirmDeadline = Infinity;
  private confirmRepeats = 0;
  /** The window the peer last advertised (peerWindow may be raised for a probe). */
  private advertisedByPeer = 0;
  private synTransmits = 0;
  private lastReceived: number;
  private lastSent: number;
  private expiresAt = Infinity;

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
  }) {
    const { config, host, remote, isn, now, syn } = options;
    this.config = config;
    this.host = host;
    this.cc = options.controller;
    this.remote = remote;
    this.recvId = options.recvId;
    this.sendId = options.sendId;
    this.isInitiator = syn === undefined;
    this.rttEstimator = new RttEstimator(config.initialRto, config.minRto, config.maxRto);
    this.lastReceived = now;
    this.lastSent = now;
    this.advertisedWindow = config.receiveBufferSize;
    this.initialSeq = isn;
    if (syn === undefined) {
      // Initiator: the SYN consumes the ISN; data starts at ISN + 1.
      this.state = 'syn-sent';
      this.synSeq = isn;
      this.sendBuffer = new SendBuffer(seqAdd(isn, 1));
      this.ackNr = 0;
      this.peerWindow = config.packetSize;
      this.sendSyn(now);
    } else {
      // Acceptor: our STATE carries the ISN without consuming it; our first DATA reuses it.
      this.state = 'syn-recv';
      this.synSeq = syn.seq;
      this.sendBuffer = new SendBuffer(isn);
      this.ackNr = syn.seq;
      this.peerWindow = this.advertisedByPeer = syn.windowSize;
      this.noteTimestamp(syn, now);
      if (options.answer !== false) this.sendState(now);
      // An unconfirmed connection dies at its first timeout: it never retransmits.
      this.expiresAt = now + config.unconfirmedTimeout;
      this.host.wake(this.expiresAt);
    }
    this.lastAckReceived = seqAdd(this.sendBuffer.oldest, -1);
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
      return;
    }
    if (this.state !== 'syn-recv') this.sendHeader(PacketType.Reset, this.sendBuffer.next, now, undefined);
    this.close(undefined, false);
  }

  /**
   * The application holds `bytes` delivered but unread. The advertised window shrinks by it;
   * when reading reopens a window we had closed, an ACK tells the peer at once.
   */
  setApplicationBuffered(bytes: number): void {
    this.applicationBuffered = bytes;
    const window = this.receiveWindow();
    if (this.advertisedWindow < this.config.packetSize && window >= this.config.packetSize && this.state === 'connected') {
      this.ackPending = true;
      this.requestFlush();
    }
  }

  stats(): ConnectionStats {
    return {
      ...this.counters,
      rtt: this.rttEstimator.rtt,
      rttVar: this.rttEstimator.rttVar,
      rto: this.rttEstimator.rto,
      cwnd: this.cc.window,
      bytesInFlight: this.bytesInFlight,
      peerWindow: this.peerWindow,
      lastDelaySample: this.lastDelay,
      queuingDelay: 0,
      baseDelay: 0,
      slowStart: false,
      ...this.cc.stats?.(),
    };
  }

  // ---------------------------------------------------------------- input

  /** A packet whose connection id and source matched this connection (never a SYN). */
  handlePacket(packet: Packet, now: number): void {
    this.counters.packetsReceived++;
    if (!this.ackAcceptable(packet.ack, packet.type === PacketType.Reset)) {
      // Spoofed, stale, or from another incarnation: ack_nr is outside what we sent.
      this.counters.invalidPackets++;
      return;
    }
    this.lastReceived = now;
    if (packet.type === PacketType.Reset) {
      this.close(this.state === 'syn-sent' ? connectionRefused() : this.finished ? undefined : connectionReset(), false);
      return;
    }
    this.noteTimestamp(packet, now);
    this.peerWindow = this.advertisedByPeer = packet.windowSize;
    if (this.peerWindow >= this.config.packetSize) this.probeDeadline = Infinity;

    if (this.state === 'syn-sent') {
      if (packet.type !== PacketType.State) return;
      // The acceptor's STATE carries the seq_nr of its first DATA without consuming it.
      this.ackNr = seqAdd(packet.seq, -1);
      this.state = 'connected';
      if (this.synTransmits === 1) this.rttEstimator.sample(now - this.lastSent);
      this.rtoDeadline = Infinity;
      this.host.events.push({ type: 'connect', connection: this });
      // Speak first, so that an acceptor waiting for proof (libutp, us) may send at once.
      this.ackPending = true;
      this.requestFlush();
      this.confirmDeadline = now + this.rttEstimator.rto;
      this.host.wake(this.confirmDeadline);
      return;
    }
    this.confirmDeadline = Infinity; // the acceptor spoke: it is confirmed
    if (this.state === 'syn-recv') {
      // Only the initiator saw our ISN: its ack_nr must be exactly ISN - 1 to confirm.
      if (packet.ack !== seqAdd(this.initialSeq, -1)) {
        this.counters.invalidPackets++;
        return;
      }
      if (!this.host.confirmed(this)) {
        // As net after server.close(): the connection is refused, never announced.
        this.sendHeader(PacketType.Reset, this.sendBuffer.next, now, undefined);
        this.close(undefined, false);
        return;
      }
      this.state = 'connected';
      this.expiresAt = Infinity;
    }

    this.processAck(packet, now);
    if (packet.type === PacketType.Data || packet.type === PacketType.Fin) this.processData(packet);
    if (this.state === 'closed') {
      // Lingering after a graceful close: re-acknowledge a retransmitted FIN.
      if (packet.type === PacketType.Fin) this.ackPending = true;
    } else if (this.finState === 'acked' && this.eofDelivered) {
      this.close(undefined, true);
    }
    if (this.ackPending || this.resendsPending > 0 || this.writeQueue.length > 0 || this.finState === 'queued') this.requestFlush();
  }

  /** The same SYN again (our STATE was lost): answer with the ORIGINAL STATE, never a later one. */
  handleDuplicateSyn(syn: Packet, now: number): void {
    if (syn.seq !== this.synSeq || this.isInitiator) return;
    this.sendHeader(PacketType.State, this.initialSeq, now, undefined);
    // Give the repeated STATE its own wait, as if the SYN were new (its resend may land just as we would expire).
    if (this.state === 'syn-recv') {
      this.expiresAt = now + this.config.unconfirmedTimeout;
      this.host.wake(this.expiresAt);
    }
  }

  private ackAcceptable(ack: number, isReset: boolean): boolean {
    // Valid: up to the newest seq_nr we sent, and not far behind the oldest unacked one. DATA
    // overtaken on a reordering path carries an older ack_nr (harmless: it acks nothing new);
    // a RESET must fit closely. A RESET from libutp echoes a seq_nr we used, STATE included.
    const lowest = seqAdd(this.sendBuffer.oldest, isReset ? -2 : -STALE_ACK_SLACK);
    const highest = isReset ? this.sendBuffer.next : seqAdd(this.sendBuffer.next, -1);
    const span = seqDiff(lowest, highest);
    const d = seqDiff(lowest, ack);
    return d >= 0 && d <= span;
  }

  private noteTimestamp(packet: Packet, now: number): void {
    this.replyMicros = timestampDifference(timestampMicros(now), packet.timestamp);
    this.cc.onPeerDelaySample?.(this.replyMicros, now);
  }

  private processAck(packet: Packet, now: number): void {
    const flightBefore = this.bytesInFlight;
    let acked = 0;
    let ackedSomething = false;
    const ack = packet.ack;
    const stale = seqDiff(seqAdd(this.sendBuffer.oldest, -1), ack) < 0;
    while (this.sendBuffer.count > 0 && seqDiff(this.sendBuffer.oldest, ack) >= 0) {
      const out = this.sendBuffer.shift()!;
      ackedSomething = true;
      if (!out.sacked) acked += this.acknowledge(out, now);
      if (out.type === PacketType.Fin) {
        this.finState = 'acked';
        // Everything we wrote, FIN included, is acknowledged: net's 'finish'.
        this.host.events.push({ type: 'finish', connection: this });
      }
    }
    if (this.highestSacked !== undefined && seqDiff(this.highestSacked, this.sendBuffer.oldest) > 0) this.highestSacked = undefined;
    if (packet.selectiveAck) acked += this.processSelectiveAck(ack, packet.selectiveAck, now);

    if (ackedSomething) {
      this.dupAcks = 0;
    } else if (
      !stale &&
      packet.type === PacketType.State &&
      ack === this.lastAckReceived &&
      this.sendBuffer.count > 0 &&
      acked === 0
    ) {
      // Duplicate acks count only on STATE: DATA in a two-way transfer repeats ack_nr legitimately.
      if (++this.dupAcks === DUP_ACK_THRESHOLD) {
        const oldest = this.sendBuffer.get(this.sendBuffer.oldest);
        if (oldest && !oldest.sacked && this.mayDeclareLost(oldest)) this.declareLost(oldest, now);
      }
    }
    if (!stale) this.lastAckReceived = ack;

    if (acked > 0 || ackedSomething) {
      const sample = delaySample(packet.timestampDifference);
      if (sample !== undefined) this.lastDelay = sample;
      if (acked > 0) this.cc.onAck(acked, sample, flightBefore, this.rttEstimator.rtt, now);
      this.consecutiveTimeouts = 0;
      this.rttEstimator.resetBackoff();
      this.rtoDeadline = this.bytesInFlight > 0 || this.sendBuffer.count > 0 ? now + this.rttEstimator.rto : Infinity;
      if (this.rtoDeadline !== Infinity) this.host.wake(this.rtoDeadline);
      this.tailLossArmed = true;
      this.tailLossDeadline = Infinity;
      if (this.bytesInFlight > 0) this.armTailLoss(now);
    }
  }

  /** Bookkeeping for a packet the peer has now: returns its payload bytes. */
  private acknowledge(out: OutPacket, now: number): number {
    if (out.sentAt > this.latestDeliveredSentAt) this.latestDeliveredSentAt = out.sentAt;
    if (out.transmissions === 1) {
      this.rttEstimator.sample(now - out.sentAt);
      const behind = this.highestSacked === undefined ? 0 : seqDiff(out.seq, this.highestSacked);
      if (behind >= this.reorderThreshold) this.reorderThreshold = Math.min(behind + 1, MAX_REORDER_THRESHOLD);
    }
    if (out.needsResend) {
      // Declared lost, yet here it is, never resent: it was only reordered.
      if (out.transmissions === 1) this.cc.onSpuriousLoss?.(now);
      out.needsResend = false;
      this.resendsPending--;
      return 0;
    }
    this.bytesInFlight -= out.payload.length;
    return out.payload.length;
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
      acked += this.acknowledge(out, now);
      if (this.highestSacked === undefined || seqDiff(this.highestSacked, out.seq) > 0) this.highestSacked = out.seq;
    }
    const threshold = this.reorderThreshold;
    if (sackedTotal < threshold) return acked;
    // A packet with at least 3 packets acked above it is lost: resend it, a bounded number per ack.
    let sackedAbove = sackedTotal;
    let resends = 0;
    for (let i = -1; i < bits && sackedAbove >= threshold; i++) {
      const out = this.sendBuffer.get(seqAdd(ack, 2 + i));
      if (!out) continue;
      if (out.sacked) {
        sackedAbove--;
        continue;
      }
      if (!this.mayDeclareLost(out)) continue;
      this.declareLost(out, now);
      if (++resends >= this.config.maxResendsPerAck) break;
    }
    return acked;
  }

  /**
   * Whether loss evidence may (re)declare this unacked packet lost: not when already marked, nor
   * when resent after the newest packet known delivered, as its resend may still be on the way
   * (RACK's rule, RFC 8985).
   */
  private mayDeclareLost(out: OutPacket): boolean {
    return !out.needsResend && (out.transmissions === 1 || out.sentAt < this.latestDeliveredSentAt);
  }

  /** Fast-retransmit decision (SACK or duplicate acks): resend it and tell the controller. */
  private declareLost(out: OutPacket, now: number): void {
    this.markLost(out);
    this.counters.fastRetransmits++;
    this.cc.onLoss(out.sentAt, now);
  }

  private markLost(out: OutPacket): void {
    out.needsResend = true;
    this.resendsPending++;
    this.bytesInFlight -= out.payload.length;
  }

  private processData(packet: Packet): void {
    const distance = seqDiff(this.ackNr, packet.seq);
    if (distance <= 0) {
      // Already have it: our ACK was probably lost.
      this.counters.duplicatePackets++;
      this.ackPending = true;
      return;
    }
    if (packet.type === PacketType.Fin && this.eofSeq === undefined && distance <= this.recvBuffer.reach) {
      this.eofSeq = packet.seq;
    }
    if (this.eofSeq !== undefined && seqDiff(this.eofSeq, packet.seq) > 0) return; // past the FIN
    this.ackPending = true;
    const payload = packet.payload;
    if (distance === 1) {
      if (packet.type === PacketType.Data) {
        if (!this.deliverable(payload.length)) return; // the application stopped reading: drop, the peer resends
        this.deliver(payload);
        this.ackNr = packet.seq;
        this.recvBuffer.advanced(1);
      }
      this.drainReordered(); // also delivers end of stream when the FIN is next
      return;
    }
    if (distance > this.recvBuffer.reach || packet.type === PacketType.Fin) return;
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
    this.host.events.push({ type: 'data', connection: this, data: payload });
  }

  // ---------------------------------------------------------------- output

  private requestFlush(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.host.markDirty(this);
  }

  /** Sends what the windows allow, then an ACK if one is owed and no data carried it. */
  flush(now: number): void {
    this.dirty = false;
    let sentData = false;
    if (this.state === 'connected') sentData = this.sendAllowed(now);
    if (this.ackPending && !sentData && this.state !== 'syn-sent' && this.state !== 'syn-recv') this.sendState(now);
    this.ackPending = false;
    this.releaseWrites();
    if (this.writeBlocked && this.writeQueue.length < this.config.sendBufferSize) {
      this.writeBlocked = false;
      this.host.events.push({ type: 'drain', connection: this });
    }
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
    const window = Math.min(this.cc.window, this.peerWindow);
    const maxPayload = this.config.packetSize - 20;
    let sent = false;
    let cursor = this.sendBuffer.oldest;
    for (;;) {
      if (this.resendsPending > 0) {
        let out: OutPacket | undefined;
        while ((out = this.sendBuffer.get(cursor)) && !out.needsResend) cursor = seqAdd(cursor, 1);
        if (!out) {
          this.resendsPending = 0; // defensive: nothing marked remains
          continue;
        }
        if (this.bytesInFlight > 0 && this.bytesInFlight + out.payload.length > window) break;
        out.needsResend = false;
        this.resendsPending--;
        this.bytesInFlight += out.payload.length;
        this.counters.retransmits++;
        this.transmitData(out, now);
        sent = true;
        continue;
      }
      if (this.writeQueue.length > 0) {
        if (this.sendBuffer.full) break;
        const size = Math.min(maxPayload, this.writeQueue.length);
        if (size < maxPayload && this.nagleHolds()) break;
        if (this.bytesInFlight + size > window && (this.bytesInFlight > 0 || this.peerWindow < size)) {
          if (this.sendBuffer.count === 0 && this.probeDeadline === Infinity) {
            this.probeDeadline = now + this.rttEstimator.rto;
            this.host.wake(this.probeDeadline);
          }
          break;
        }
        const out = this.sendNewData(size, now);
        if (size < maxPayload) this.lastSmallSeq = out.seq;
        this.bytesInFlight += size;
        sent = true;
        continue;
      }
      if (this.finState === 'queued' && !this.sendBuffer.full) {
        this.transmitData(this.newPacket(PacketType.Fin, new Uint8Array(0), now), now);
        this.finState = 'sent';
        sent = true;
      }
      break;
    }
    return sent;
  }

  private nagleHolds(): boolean {
    if (this.noDelay || this.finState !== 'open' || this.lastSmallSeq === undefined) return false;
    // Still in the send buffer (not yet cumulatively acked) means still unacknowledged.
    return this.sendBuffer.get(this.lastSmallSeq) !== undefined;
  }

  private newPacket(type: PacketType.Data | PacketType.Fin, payload: Uint8Array, now: number): OutPacket {
    const out: OutPacket = {
      seq: this.sendBuffer.next,
      type,
      payload,
      sentAt: now,
      transmissions: 0,
      needsResend: false,
      sacked: false,
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
    const f = this.headerFields(PacketType.Data, this.sendBuffer.next, now);
    const at = headerSize(f);
    const datagram = allocDatagram(at + size);
    encodeHeaderInto(f, datagram);
    this.writeQueue.takeInto(datagram, at, size);
    // A view by constructor: cheaper than subarray() on the hot path.
    const out = this.newPacket(PacketType.Data, new Uint8Array(datagram.buffer, datagram.byteOffset + at, size), now);
    this.transmitData(out, now, datagram);
    return out;
  }

  /** Sends `out` (again); `datagram` is its first transmission, already encoded. */
  private transmitData(out: OutPacket, now: number, datagram?: Uint8Array): void {
    out.sentAt = now;
    out.transmissions++;
    if (datagram) this.sendDatagram(datagram, now);
    else this.sendHeader(out.type, out.seq, now, out.payload.length > 0 ? out.payload : undefined);
    this.counters.bytesSent += out.payload.length;
    if (this.rtoDeadline === Infinity) {
      this.rtoDeadline = now + this.rttEstimator.rto;
      this.host.wake(this.rtoDeadline);
    }
    if (this.tailLossDeadline === Infinity) this.armTailLoss(now);
  }

  /** How long without ACK progress means the tail was lost: two RTTs plus variance, 20 ms at least. */
  private tailLossDelay(): number {
    const r = this.rttEstimator;
    return Math.max(2 * r.rtt + 4 * r.rttVar, MIN_TAIL_LOSS_DELAY);
  }

  private armTailLoss(now: number): void {
    if (!this.tailLossArmed || !this.rttEstimator.hasSample) return;
    const delay = this.tailLossDelay();
    if (delay >= this.rttEstimator.rto) return; // the RTO comes first anyway
    this.tailLossDeadline = now + delay;
    this.host.wake(this.tailLossDeadline);
  }

  private tailLoss(now: number): void {
    this.tailLossDeadline = Infinity;
    this.tailLossArmed = false;
    // Packets older than an RTT plus variance should have been acked by now: presume them lost.
    const r = this.rttEstimator;
    const cutoff = now - Math.max(r.rtt + 4 * r.rttVar, MIN_TAIL_LOSS_DELAY / 2);
    let oldestSent = Infinity;
    for (let i = 0, seq = this.sendBuffer.oldest; i < this.sendBuffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = this.sendBuffer.get(seq)!;
      if (out.sacked || out.needsResend || out.sentAt > cutoff) continue;
      this.markLost(out);
      this.counters.fastRetransmits++;
      if (out.sentAt < oldestSent) oldestSent = out.sentAt;
    }
    if (oldestSent === Infinity) return;
    this.cc.onLoss(oldestSent, now);
    this.requestFlush();
  }

  private sendState(now: number): void {
    // STATE carries the next seq_nr without consuming it.
    this.sendHeader(PacketType.State, this.sendBuffer.next, now, undefined);
  }

  private sendSyn(now: number): void {
    this.synTransmits++;
    this.lastSent = now;
    const header = new Uint8Array(20);
    encodeHeaderInto(
      {
        type: PacketType.Syn,
        connectionId: this.recvId, // the SYN alone carries recv_id
        timestamp: timestampMicros(now),
        timestampDifference: 0,
        windowSize: this.receiveWindow(),
        seq: this.synSeq,
        ack: 0,
      },
      header,
    );
    this.counters.packetsSent++;
    this.host.transmit(this.remote, header, undefined);
    this.rtoDeadline = now + this.config.initialRto * 2 ** (this.synTransmits - 1);
    this.host.wake(this.rtoDeadline);
  }

  private receiveWindow(): number {
    return Math.max(0, this.config.receiveBufferSize - this.applicationBuffered - this.recvBuffer.bytes);
  }

  private readonly fields: HeaderFields = {
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
   * Sends a packet with fresh header fields, header and payload copied into one new datagram
   * buffer. A fresh buffer per transmission, never one rewritten in place: the OS may still hold
   * an earlier transmission of it in its send queue.
   */
  private sendHeader(type: PacketType, seq: number, now: number, payload: Uint8Array | undefined): void {
    const f = this.headerFields(type, seq, now);
    const size = headerSize(f);
    const datagram = allocDatagram(size + (payload?.length ?? 0));
    encodeHeaderInto(f, datagram);
    if (payload) datagram.set(payload, size);
    this.sendDatagram(datagram, now);
  }

  private sendDatagram(datagram: Uint8Array, now: number): void {
    this.counters.packetsSent++;
    this.lastSent = now;
    // The whole datagram goes in `header`: one buffer, one iovec for the driver.
    this.host.transmit(this.remote, datagram, undefined);
  }

  /** Header fields for a packet sent now: ack_nr, window, timestamps and SACK are always current. */
  private headerFields(type: PacketType, seq: number, now: number): HeaderFields {
    const f = this.fields;
    f.type = type;
    f.connectionId = this.sendId;
    f.timestamp = timestampMicros(now);
    f.timestampDifference = this.replyMicros;
    f.windowSize = this.advertisedWindow = this.receiveWindow();
    f.seq = seq;
    f.ack = this.ackNr;
    f.selectiveAck = this.recvBuffer.count > 0 ? this.recvBuffer.selectiveAck(this.ackNr, MAX_SACK_BYTES) : undefined;
    return f;
  }

  // ---------------------------------------------------------------- time

  /** The earliest time this connection needs `handleTimeout`. */
  nextDeadline(): number {
    if (this.state === 'syn-recv') return this.expiresAt;
    if (this.state === 'closed') return this.expiresAt;
    let t = Math.min(this.rtoDeadline, this.tailLossDeadline, this.probeDeadline, this.confirmDeadline);
    if (this.state === 'connected') {
      if (this.config.keepaliveInterval > 0) t = Math.min(t, this.lastSent + this.config.keepaliveInterval);
      if (this.config.idleTimeout > 0) t = Math.min(t, this.lastReceived + this.config.idleTimeout);
    }
    return t;
  }

  handleTimeout(now: number): void {
    switch (this.state) {
      case 'syn-recv':
      case 'closed':
        if (now >= this.expiresAt) this.host.remove(this);
        return;
      case 'syn-sent':
        if (now < this.rtoDeadline) return;
        if (this.synTransmits >= this.config.maxSynTransmits) this.close(timedOut('connect'), false);
        else this.sendSyn(now);
        return;
      case 'connected':
        // Same sum as nextDeadline(): `now - last >= interval` can miss by a float ulp and spin a driver calling at exactly the deadline.
        if (this.config.idleTimeout > 0 && now >= this.lastReceived + this.config.idleTimeout) {
          this.close(timedOut('connection (peer silent)'), false);
          return;
        }
        if (now >= this.rtoDeadline) this.retransmitTimeout(now);
        else if (now >= this.tailLossDeadline) this.tailLoss(now);
        if (now >= this.confirmDeadline) {
          // Nothing from the acceptor yet. If we sent data, its retransmission confirms instead.
          this.confirmDeadline = ++this.confirmRepeats < MAX_CONFIRM_REPEATS ? now + this.rttEstimator.rto * 2 ** this.confirmRepeats : Infinity;
          if (this.sendBuffer.count === 0) {
            this.ackPending = true;
            this.requestFlush();
          }
        }
        if (now >= this.probeDeadline) {
          // The peer's window stayed closed for an RTO: its reopening ACK may be lost. Send one
          // packet anyway; its ACK carries the current window.
          this.probeDeadline = Infinity;
          this.peerWindow = Math.max(this.peerWindow, this.config.packetSize);
          this.requestFlush();
        }
        if (this.config.keepaliveInterval > 0 && now >= this.lastSent + this.config.keepaliveInterval) {
          this.ackPending = true;
          this.requestFlush();
        }
    }
  }

  private retransmitTimeout(now: number): void {
    if (this.sendBuffer.count === 0) {
      this.rtoDeadline = Infinity;
      return;
    }
    // A probe into a closed window is expected to go unanswered: it says nothing about the peer
    // being gone (the idle timeout covers that).
    const probing = this.advertisedByPeer < this.config.packetSize;
    if (!probing && ++this.consecutiveTimeouts > this.config.maxRetransmits) {
      this.close(timedOut('retransmission'), false);
      return;
    }
    this.counters.timeouts++;
    this.cc.onTimeout(now);
    this.rttEstimator.onTimeout();
    this.tailLossDeadline = Infinity;
    this.tailLossArmed = false;
    // Everything in flight is presumed lost; it goes out again as the (now tiny) window allows.
    for (let i = 0, seq = this.sendBuffer.oldest; i < this.sendBuffer.count; i++, seq = seqAdd(seq, 1)) {
      const out = this.sendBuffer.get(seq)!;
      if (!out.sacked && !out.needsResend) this.markLost(out);
    }
    // A peer that closed its window gets a probe: assume room for one packet.
    if (this.peerWindow < this.config.packetSize) this.peerWindow = this.config.packetSize;
    this.rtoDeadline = Infinity;
    this.requestFlush();
  }

  // ---------------------------------------------------------------- teardown

  private close(error: UtpError | undefined, linger: boolean): void {
    if (this.state === 'closed') return;
    const wasAnnounced = this.state !== 'syn-recv';
    this.state = 'closed';
    this.rtoDeadline = Infinity;
    this.writeQueue.clear();
    if (wasAnnounced) this.host.events.push({ type: 'close', connection: this, error });
    if (linger) {
      this.expiresAt = this.lastReceived + this.config.lingerTime;
      this.host.wake(this.expiresAt);
    } else {
      this.host.remove(this);
    }
  }
}
