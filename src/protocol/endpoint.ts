import { DEFAULT_CONFIG, type EndpointConfig, withDefaults } from './config.js';
import type { CongestionControllerFactory } from './congestion/controller.js';
import { checkCongestionControl, controllerFor } from './congestion/select.js';
import { Connection, type ConnectionHost } from './connection.js';
import { freeDatagram } from './datagram-pool.js';
import { DeadlineHeap } from './deadline-heap.js';
import { HandshakeLimit } from './handshake-limit.js';
import type { EndpointEvent, Remote, Transmit } from './events.js';
import { decodePacketInto, emptyPacket, encodeHeader, looksLikeUtp, PacketType, type Packet } from './packet.js';
import { ReceiveShare } from './receive-share.js';
import { dropHold, type OutPacket } from './send-buffer.js';
import { seqAdd } from './seq.js';
import { COOKIE_LIFETIME_MS, SynCookies, type SynCookieSource } from './syn-cookie.js';
import { timestampMicros } from './time.js';
import type { ConnectionTracer } from './tracer.js';

/** Injected randomness: a uniformly random unsigned 32-bit integer per call. */
export type RandomSource = () => number;

/** Why datagrams were dropped before reaching a connection (libtorrent keeps the same kind of counters). */
export interface EndpointCounters {
  malformed: number;
  unknownConnection: number;
  resetsSent: number;
  resetsRateLimited: number;
  synRefused: number;
  unconfirmedEvicted: number;
  /** Connections confirmed by SYN cookie after their unconfirmed state was evicted. */
  cookieConfirmed: number;
  /** Cookie proofs that failed (wrong ack_nr for the SYN they imply) while cookies were on. */
  cookieFailures: number;
}

/**
 * Failed cookie proofs (packets, each tried at MAX_PROOF_OFFSET seq_nrs) for one connection
 * (address, port and connection id) before it may not try again for a while. Per port, not per
 * address: clients behind one NAT address must not lock each other out. Per connection id, not
 * per port: one UDP port carries many connections (a BitTorrent client's, or connect()'s shared
 * socket), and under a burst a legitimate one fails its proof when its first packet was dropped
 * and a later one arrives first; with the lock per port, 4 such failures shut out every other
 * connection from that port (issue 9: 10,000 connects from one process, 9,200 stuck). Brute force
 * of a connection's cookie has to come from its address, port and id anyway; guesses across ids
 * are bounded by the global budget.
 */
const MAX_PROOF_FAILURES = 4;
/** How long a source's failed proofs count against it (ms): as long as a cookie stays valid. */
const PROOF_FAILURE_MEMORY = COOKIE_LIFETIME_MS;
/** Connections whose failed proofs are remembered at most (oldest forgotten first). */
const MAX_PROOF_SOURCES = 4096;
/** Cookie guesses per second, all sources together, before cookies are off until the next second. */
const PROOF_GUESSES_PER_SECOND = 64;
/**
 * A proof is tried against the SYN seq_nr the packet implies as its initiator's first (seq_nr - 1)
 * and as any of its next ones, up to this many back: under a burst the first packet after our
 * STATE may be dropped and a later one arrive first (issue 9: 2,000 clients on their own sockets
 * connecting at once, every failed proof a DATA packet one past the first, 10 of them reset after
 * 'connect' once the failures used up the second's budget). A packet that fails counts as this
 * many guesses against the budget, so an attacker's odds per second stay what they were.
 */
export const MAX_PROOF_OFFSET = 8;
/** Connections remembered after removal, to address RESETs for their stray packets exactly. */
const MAX_RECENTLY_CLOSED = 1024;

/**
 * One UDP port's worth of µTP: demultiplexes datagrams to connections by (address, port,
 * connection id), accepts SYNs when listening, and answers unknown connections with a RESET.
 *
 * Calling contract: feed it every datagram (`handleDatagram`; false means "not µTP", for the
 * driver to pass on) and call `handleTimeout` once `nextWake` has passed, always with the current
 * time in ms. After each burst of input dispatch `events` (the application may write in answer,
 * so that its data carries the ACK), then call `flush(now)` and send `transmits` (both arrays are
 * the driver's to empty). Nothing here reads a clock or does I/O.
 */
export class Endpoint implements ConnectionHost {
  readonly config: EndpointConfig;
  readonly events: EndpointEvent[] = [];
  readonly transmits: Transmit[] = [];
  readonly counters: EndpointCounters = {
    malformed: 0,
    unknownConnection: 0,
    resetsSent: 0,
    resetsRateLimited: 0,
    synRefused: 0,
    unconfirmedEvicted: 0,
    cookieConfirmed: 0,
    cookieFailures: 0,
  };
  /** Accept incoming connections. */
  listening = false;
  /**
   * Connections by their next wake-up (`wakeAt`: a deadline, or the pacer's release): a wake-up
   * costs O(log n) per due connection, whatever the number of idle ones. A key may be earlier
   * than the connection's real wake-up (a deadline moved later without telling us: the next send
   * moves the keepalive), never later: such a connection is woken early, finds nothing due, and
   * is re-keyed.
   */
  private readonly wakeups = new DeadlineHeap<Connection>();
  /** Scratch for the connections due in one `handleTimeout`. */
  private readonly due: Connection[] = [];
  /** Outgoing handshakes per remote (see HandshakeLimit); `starting` took a slot, their SYN goes at the next flush. */
  private readonly handshakes = new HandshakeLimit();
  private readonly starting: Connection[] = [];

  /** address -> (port << 16 | recv_id) -> connection. Two numeric-keyed levels avoid a string per datagram. */
  private readonly byAddress = new Map<string, Map<number, Connection>>();
  /** The packet every datagram is decoded into (see handleDatagram). */
  private readonly received: Packet = emptyPacket();
  /** The connection `find` returned last (a one-entry cache in front of byAddress; cleared on removal). */
  private lastFound: Connection | undefined;
  /** Incoming connections still waiting for the initiator's proof, oldest first. */
  private readonly unconfirmed = new Set<Connection>();
  private incomingConfirmed = 0;
  private connectionCount = 0;
  private readonly dirty: Connection[] = [];
  private resetTokens: number;
  private resetRefillAt = 0;
  /** RESETs sent per source address in the current second (at most resetRateLimit entries). */
  private readonly resetsBySource = new Map<string, number>();
  /**
   * (address, port, recv id) of connections removed lately -> their send id (the peer's recv id)
   * and, for accepted ones, the seq_nr of the SYN they answered.
   */
  private readonly recentlyClosed = new Map<string, { sendId: number; synSeq: number | undefined }>();
  /** SYN cookies are checked until then: an unconfirmed connection was evicted less than a cookie's lifetime ago. */
  private cookiesUntil = -Infinity;
  /** Failed cookie proofs per source address, port and connection id (bounded; see MAX_PROOF_FAILURES). */
  private readonly proofFailures = new Map<string, { failures: number; forgetAt: number }>();
  private proofBudget = PROOF_GUESSES_PER_SECOND;
  private proofBudgetAt = 0;
  private readonly random: RandomSource;
  private readonly newController: CongestionControllerFactory;
  private readonly epochOffset: number;
  private readonly cookies: SynCookieSource;
  /** Handed to every connection (see tracer.ts). */
  private readonly tracer: ConnectionTracer | undefined;
  readonly releasesDatagrams: boolean;

  constructor(options: {
    random: RandomSource;
    config?: Partial<EndpointConfig>;
    controller?: CongestionControllerFactory;
    /** Acceptor ISNs (default: SYN cookies keyed from `random`). */
    synCookies?: SynCookieSource;
    /**
     * `now + epochOffset` is the wall clock in Unix ms (the Node driver: `performance.timeOrigin`);
     * controllers that act at common instants across processes use it. Default 0.
     */
    epochOffset?: number;
    /** Told what every connection does, for diagnostics (the Node layer's publishes on diagnostics_channel). */
    tracer?: ConnectionTracer;
    /** The driver calls `release` for every transmit (ConnectionHost.releasesDatagrams). Default false. */
    releasesDatagrams?: boolean;
  }) {
    this.config = withDefaults(DEFAULT_CONFIG, options.config ?? {});
    checkCongestionControl(this.config.congestionControl);
    this.random = options.random;
    this.cookies = options.synCookies ?? new SynCookies(options.random);
    this.newController = options.controller ?? controllerFor;
    this.epochOffset = options.epochOffset ?? 0;
    this.tracer = options.tracer;
    this.releasesDatagrams = options.releasesDatagrams ?? false;
    this.resetTokens = this.config.resetRateLimit;
  }

  /** Connections in any state, lingering ones included. */
  get size(): number {
    return this.connectionCount;
  }

  /**
   * Opens a connection to `remote`; its SYN is in `transmits`, or waits while too many
   * handshakes with that remote are in progress (see HandshakeLimit).
   */
  connect(remote: Remote, now: number, config?: Partial<EndpointConfig>): Connection {
    let recvId: number;
    do recvId = this.random() & 0xffff;
    while (this.find(remote, recvId) || this.find(remote, (recvId + 1) & 0xffff));
    const merged = config ? withDefaults(this.config, config) : this.config;
    checkCongestionControl(merged.congestionControl);
    const connection = new Connection({
      config: merged,
      host: this,
      controller: this.newController(merged, this.epochOffset),
      remote,
      recvId,
      sendId: (recvId + 1) & 0xffff,
      isn: this.random() & 0xffff,
      now,
      deferSyn: true,
      tracer: this.tracer,
    });
    this.add(connection);
    if (this.handshakes.admit(connection)) connection.startHandshake(now);
    return connection;
  }

  /**
   * Handles one datagram. Returns false when it is not µTP for this endpoint: the driver delivers
   * it as a 'message' (RFC 7983 demultiplexing on a shared socket).
   *
   * Not ours, so false: anything that fails the µTP pre-check (DHT and tracker messages, STUN
   * by its magic cookie and length, see looksLikeStun), anything that does not decode, and a
   * non-SYN packet that matches no connection and no valid SYN cookie, as libtorrent's
   * utp_socket_manager::incoming_packet does, so that other handlers (hole punching, a DHT
   * sharing the port) see it. Such a packet that decoded as µTP (and is no RESET) still gets our
   * rate-limited RESET, as libutp sends one: the peer learns at once that the connection is gone.
   * SYNs are ours whether accepted or refused.
   */
  handleDatagram(data: Uint8Array, remote: Remote, now: number): boolean {
    if (!looksLikeUtp(data)) return false;
    // One scratch packet for every datagram: nothing keeps it past this call (a connection
    // keeps the payload, a view of `data`; a cookie's connection gets a copy).
    const packet = this.received;
    if (!decodePacketInto(data, packet)) {
      this.counters.malformed++;
      return false;
    }
    if (packet.type === PacketType.Syn) {
      this.handleSyn(packet, remote, now);
      return true;
    }
    const connection =
      packet.type === PacketType.Reset ? this.findForReset(remote, packet.connectionId) : this.find(remote, packet.connectionId);
    if (connection) {
      const state = connection.state;
      connection.handlePacket(packet, now);
      // It may have become connected (its keepalive and idle deadlines start to count) or left
      // syn-sent (and freed a handshake slot). Nothing else a packet does moves a deadline earlier
      // without wake(): timers announce themselves, and the last send and receive times only move
      // keepalive and idle later. So the re-key (wakeAt: 0.7% of a receiver's busy time) waits
      // for a state change.
      if (connection.state !== state) {
        this.wakeups.lower(connection, wakeAt(connection));
        if (state === 'syn-sent') this.handshakes.update(connection, this.starting);
      }
      return true;
    }
    if (packet.type !== PacketType.Reset && this.acceptByCookie(packet, remote, now)) {
      this.counters.cookieConfirmed++;
      return true;
    }
    this.counters.unknownConnection++;
    if (packet.type !== PacketType.Reset) this.sendReset(remote, packet, now);
    return false;
  }

  /**
   * Set by the driver (ms; Infinity while it lasts): the last read of the socket stopped at the
   * event loop's per-iteration limit, so datagrams are probably still waiting unread, until
   * shortly after a later read that did not. Their ACKs may be what a connection's tail-loss
   * timer is waiting for (LossDetector.onTailLossTimer, which bounds how long it waits), and
   * while it lasts we ack less often (AckPolicy). Never set in the simulator, which reads every
   * datagram due.
   */
  inputBacklogUntil = -Infinity;

  /** ConnectionHost: the socket's receive buffer, shared while it is backlogged (its capacity set by the driver). */
  readonly receiveShare = new ReceiveShare();

  /** Sends what every connection marked since the last flush has to send. */
  flush(now: number): void {
    this.startWaitingHandshakes(now);
    const dirty = this.dirty;
    // Connections may mark themselves (or others) again while flushing; index, don't iterate.
    for (let i = 0; i < dirty.length; i++) {
      const connection = dirty[i]!;
      connection.flush(now);
      // Sending moved its keepalive (and maybe its RTO): re-key exactly, so no early wake-up.
      this.wakeups.schedule(connection, wakeAt(connection));
    }
    // (Setting an array's length is a runtime call even when it does not change: a flush per burst.)
    if (dirty.length > 0) dirty.length = 0;
  }

  /** Earliest time any connection needs `handleTimeout` or may send again (Infinity when none). */
  get nextWake(): number {
    return this.wakeups.peekKey();
  }

  /**
   * Releases paced connections whose time came and runs the expired deadlines of the connections
   * due: each at most once per call, since one due for a keepalive stays due until the flush.
   */
  handleTimeout(now: number): void {
    if (now < this.nextWake) return;
    const due = this.due;
    this.wakeups.popDue(now, due);
    for (let i = 0; i < due.length; i++) {
      const connection = due[i]!;
      if (connection.paceAt <= now) connection.resumePacing();
      if (connection.nextDeadline() <= now) {
        const handshaking = connection.state === 'syn-sent';
        connection.handleTimeout(now);
        if (handshaking) this.handshakes.update(connection, this.starting);
      }
      // Not if it was removed meanwhile: a retired connection ignores this.
      this.wakeups.schedule(connection, wakeAt(connection));
    }
    due.length = 0;
  }

  // ---------------------------------------------------------------- ConnectionHost

  transmit(remote: Remote, data: Uint8Array, connection?: Connection, packet?: OutPacket): void {
    this.transmits.push({ remote, data, connection, packet });
  }

  /**
   * The driver is done with `transmit`: the OS sent (copied) it or refused it, and any send error
   * was reported. Its buffer goes back to the datagram pool unless a packet still needs it. For
   * drivers created with `releasesDatagrams`, which must call this exactly once per transmit they
   * took, and only then; the endpoint's own replies (RESETs) are not from the pool and are left.
   */
  release(transmit: Transmit): void {
    if (transmit.connection === undefined) return;
    if (transmit.packet !== undefined) dropHold(transmit.packet);
    else freeDatagram(transmit.data);
  }

  markDirty(connection: Connection): void {
    this.dirty.push(connection);
  }

  wake(connection: Connection, deadline: number): void {
    this.wakeups.lower(connection, deadline);
  }

  pace(connection: Connection): void {
    this.wakeups.lower(connection, connection.paceAt);
  }

  remove(connection: Connection): void {
    const inner = this.byAddress.get(connection.remote.address);
    const key = demuxKey(connection.remote.port, connection.recvId);
    if (inner?.get(key) !== connection) return;
    inner.delete(key);
    if (this.lastFound === connection) this.lastFound = undefined;
    this.wakeups.retire(connection);
    if (inner.size === 0) this.byAddress.delete(connection.remote.address);
    this.connectionCount--;
    this.unpace(connection);
    this.receiveShare.forget(connection);
    this.handshakes.update(connection, this.starting);
    if (this.unconfirmed.delete(connection)) return;
    // Its peer may still send: remember whom a RESET must name (see resetId).
    const closed = closedKey(connection.remote, connection.recvId);
    this.recentlyClosed.delete(closed);
    this.recentlyClosed.set(closed, { sendId: connection.sendId, synSeq: connection.isInitiator ? undefined : connection.synSeq });
    if (this.recentlyClosed.size > MAX_RECENTLY_CLOSED) this.recentlyClosed.delete(this.recentlyClosed.keys().next().value!);
    if (!connection.isInitiator) this.incomingConfirmed--;
    // Lingering connections outlive their application socket: the driver waits for this event
    // before it closes the UDP socket they still need.
    this.events.push({ type: 'removed', connection });
  }

  /** SYNs of connects that waited for a handshake slot and got one since the last flush. */
  private startWaitingHandshakes(now: number): void {
    const starting = this.starting;
    if (starting.length === 0) return;
    for (let i = 0; i < starting.length; i++) {
      const connection = starting[i]!;
      connection.startHandshake(now);
      // Its SYN retransmission timer: wake() lowered its key when the timer was armed.
    }
    starting.length = 0;
  }

  /**
   * A removed connection is never resumed by its pacer: resumed at its `paceAt`, it would be
   * flushed after its 'removed' event (and emit 'written' or 'drain' then). Retiring it from the
   * wake-up heap already keeps handleTimeout away; this also stops a flush that runs it.
   */
  private unpace(connection: Connection): void {
    connection.paceAt = Infinity;
  }

  confirmed(connection: Connection): boolean {
    // Not listening any more (server.close()): net does not announce a connection then. Nor
    // beyond maxConnections: SYNs that arrived together all passed handleSyn's check, before
    // any of them was confirmed and counted.
    if (!this.listening || this.incomingConfirmed >= this.config.maxConnections) return false;
    this.unconfirmed.delete(connection);
    this.incomingConfirmed++;
    this.events.push({ type: 'connection', connection });
    return true;
  }

  /** Connections the application was told about (initiated, or confirmed) and not yet removed, lingering ones included. */
  get announced(): number {
    return this.connectionCount - this.unconfirmed.size;
  }

  // ---------------------------------------------------------------- internals

  /**
   * The initiator's first packet for a connection whose unconfirmed state a SYN flood evicted:
   * its ack_nr proves it saw our STATE when it matches the cookie of the SYN it implies
   * (SYN id = connection id - 1, SYN seq = seq_nr - 1).
   */
  private acceptByCookie(packet: Packet, remote: Remote, now: number): boolean {
    if (!this.listening || this.incomingConfirmed >= this.config.maxConnections) return false;
    // Only while a flood is evicting unconfirmed connections: otherwise every unknown packet
    // would be a 2-in-65536 lottery ticket for a confirmed connection from a spoofed source.
    if (now >= this.cookiesUntil) return false;
    const source = closedKey(remote, packet.connectionId);
    // A stray of a connection we removed lately (same source and id): never a cookie proof. Its
    // late packets land anywhere past its SYN; with 8 seq_nrs tried per packet, one whose own SYN
    // is further back than the nearest chance fit (2 in 65536 per seq_nr) would bring it back as
    // a new connection, and each one more than MAX_PROOF_OFFSET past its SYN would cost 8 of the
    // second's guesses (two closed connections' strays used up all 64). It gets the RESET any
    // stray gets. A new connect reusing that source and id (1 in 65536 per closed id) that a
    // flood also evicted must then resend its SYN.
    if (this.recentlyClosed.has(source)) return false;
    // Brute force of one connection's cookie: a few wrong guesses, then none for a while.
    let record = this.proofFailures.get(source);
    if (record !== undefined && now >= record.forgetAt) {
      this.proofFailures.delete(source);
      record = undefined;
    }
    if (record !== undefined && record.failures >= MAX_PROOF_FAILURES) return false;
    // Spoofed sources are unlimited: all together get a bounded number of guesses per second.
    if (now - this.proofBudgetAt >= 1000) {
      this.proofBudget = PROOF_GUESSES_PER_SECOND;
      this.proofBudgetAt = now;
    }
    if (this.proofBudget < MAX_PROOF_OFFSET) return false;
    const synId = (packet.connectionId - 1) & 0xffff;
    const isn = seqAdd(packet.ack, 1);
    let synSeq = -1;
    for (let back = 1; back <= MAX_PROOF_OFFSET; back++) {
      const candidate = seqAdd(packet.seq, -back);
      if (this.cookies.valid(remote.address, remote.port, synId, candidate, isn, now)) {
        synSeq = candidate;
        break;
      }
    }
    if (synSeq < 0) {
      this.counters.cookieFailures++;
      this.proofBudget -= MAX_PROOF_OFFSET;
      if (record === undefined) {
        if (this.proofFailures.size >= MAX_PROOF_SOURCES) this.proofFailures.delete(this.proofFailures.keys().next().value!);
        this.proofFailures.set(source, (record = { failures: 0, forgetAt: now + PROOF_FAILURE_MEMORY }));
      }
      record.failures++;
      return false;
    }
    const connection = this.createAcceptor(remote, { ...packet, type: PacketType.Syn, connectionId: synId, seq: synSeq }, isn, now, false);
    connection.handlePacket(packet, now);
    return true;
  }

  private createAcceptor(remote: Remote, syn: Packet, isn: number, now: number, answer: boolean): Connection {
    const connection = new Connection({
      config: this.config,
      host: this,
      controller: this.newController(this.config, this.epochOffset),
      remote,
      recvId: (syn.connectionId + 1) & 0xffff,
      sendId: syn.connectionId,
      isn,
      now,
      syn,
      answer,
      tracer: this.tracer,
    });
    this.add(connection);
    this.unconfirmed.add(connection);
    return connection;
  }

  private handleSyn(syn: Packet, remote: Remote, now: number): void {
    // The initiator's SYN carries its recv_id; we receive on recv_id + 1.
    const recvId = (syn.connectionId + 1) & 0xffff;
    const existing = this.find(remote, recvId);
    if (existing) {
      existing.handleDuplicateSyn(syn, now);
      return;
    }
    // The SYN of a connection we accepted and removed (same source, id and seq_nr): a duplicate
    // or a replay, never a new connect (which picks a fresh random id and ISN). Answered, it would
    // get the old ISN from its cookie, and the initiator's packets would confirm the connection
    // the application destroyed as a second one. It gets the RESET the initiator's packets get.
    if (this.recentlyClosed.get(closedKey(remote, recvId))?.synSeq === syn.seq || !this.listening || this.incomingConfirmed >= this.config.maxConnections) {
      this.counters.synRefused++;
      this.sendReset(remote, syn, now);
      return;
    }
    // Spoofed SYN floods: cap the unconfirmed, and let the oldest make room for a real client.
    if (this.unconfirmed.size >= this.config.maxUnconfirmed) {
      const oldest = this.unconfirmed.values().next().value;
      if (oldest) {
        this.remove(oldest);
        this.counters.unconfirmedEvicted++;
        // Its initiator may still confirm, retransmitting for as long as its cookie is valid.
        this.cookiesUntil = now + COOKIE_LIFETIME_MS;
      }
    }
    const isn = this.cookies.isn(remote.address, remote.port, syn.connectionId, syn.seq, now);
    this.createAcceptor(remote, syn, isn, now, true);
  }

  private add(connection: Connection): void {
    let inner = this.byAddress.get(connection.remote.address);
    if (!inner) this.byAddress.set(connection.remote.address, (inner = new Map()));
    inner.set(demuxKey(connection.remote.port, connection.recvId), connection);
    this.connectionCount++;
  }

  private find(remote: Remote, recvId: number): Connection | undefined {
    // A burst is mostly one connection's: compare with the last one found before two map
    // lookups (the outer one hashes the address string, fresh in every datagram's rinfo).
    const last = this.lastFound;
    if (last !== undefined && last.recvId === recvId && last.remote.port === remote.port && last.remote.address === remote.address) return last;
    const connection = this.byAddress.get(remote.address)?.get(demuxKey(remote.port, recvId));
    if (connection !== undefined) this.lastFound = connection;
    return connection;
  }

  /**
   * libutp puts the id from our packet in its RESET, which may be our send id: our recv id is
   * then one above (we initiated) or one below (we accepted).
   */
  private findForReset(remote: Remote, id: number): Connection | undefined {
    const direct = this.find(remote, id);
    if (direct) return direct;
    for (const candidate of [(id + 1) & 0xffff, (id - 1) & 0xffff]) {
      const connection = this.find(remote, candidate);
      if (connection && connection.sendId === id) return connection;
    }
    return undefined;
  }

  /**
   * RESET for a packet no connection claims: never to a RESET, no larger than the trigger (20
   * bytes, the smallest µTP packet), rate-limited globally and per source address, so that a
   * flood from a few sources cannot spend the budget meant for real peers.
   *
   * Fields, so that libutp, libtorrent and we all honour it:
   * - connection_id: the peer's recv id (see resetId). libtorrent matches an incoming RESET on
   *   its recv id only (utp_socket_manager::incoming_packet looks sockets up by the packet's id,
   *   utp_socket_impl::match compares m_recv_id); libutp looks the id up as a recv id first, then
   *   as a send id (utp_process_udp, ST_RESET), and we do the same (findForReset). Echoing the
   *   trigger's id (the peer's send id) worked for libutp and us only.
   * - ack_nr: the trigger's seq_nr, minus one unless it is a SYN. libtorrent drops a RESET whose
   *   ack_nr is past the last seq_nr it sent (its seq_nr - 1; a STATE carries the next one and a
   *   FIN does not advance it); libutp does not check; we accept [oldest unacked - 1, next].
   * - seq_nr: the trigger's ack_nr. libtorrent drops packets whose seq_nr is past its ack_nr plus
   *   its reorder window (a random seq_nr failed half the time); the others ignore it.
   */
  private sendReset(remote: Remote, trigger: Packet, now: number): void {
    if (now - this.resetRefillAt >= 1000) {
      this.resetTokens = this.config.resetRateLimit;
      this.resetRefillAt = now;
      this.resetsBySource.clear();
    }
    const fromSource = this.resetsBySource.get(remote.address) ?? 0;
    if (this.resetTokens <= 0 || fromSource >= this.config.resetRateLimitPerSource) {
      this.counters.resetsRateLimited++;
      return;
    }
    this.resetTokens--;
    this.resetsBySource.set(remote.address, fromSource + 1);
    this.counters.resetsSent++;
    const header = encodeHeader({
      type: PacketType.Reset,
      connectionId: this.resetId(remote, trigger),
      timestamp: timestampMicros(now),
      timestampDifference: 0,
      windowSize: 0,
      seq: trigger.ack,
      ack: trigger.type === PacketType.Syn ? trigger.seq : seqAdd(trigger.seq, -1),
    });
    this.transmit(remote, header);
  }

  /**
   * The recv id of the peer's connection that sent `trigger`. A SYN carries it. Other packets
   * carry the peer's send id: its recv id is one below if the peer initiated (its send id is
   * recv id + 1), one above if it accepted. We know which for a connection we removed lately;
   * otherwise an endpoint that does not listen never accepted, so the peer did; and a listening
   * endpoint's strays most likely come from its clients.
   */
  private resetId(remote: Remote, trigger: Packet): number {
    const id = trigger.connectionId;
    if (trigger.type === PacketType.Syn) return id;
    const remembered = this.recentlyClosed.get(closedKey(remote, id));
    if (remembered !== undefined) return remembered.sendId;
    return this.listening ? (id - 1) & 0xffff : (id + 1) & 0xffff;
  }
}

/** When `connection` next needs the endpoint: a deadline, or the pacer's release. */
function wakeAt(connection: Connection): number {
  return Math.min(connection.nextDeadline(), connection.paceAt);
}

function closedKey(remote: Remote, recvId: number): string {
  return `${remote.address}|${remote.port}|${recvId}`;
}

/**
 * Port and connection id in one 32-bit integer. As a signed int32 (a Smi) it is a cheap map key;
 * `port * 65536 + recvId` exceeded 2^31 for every port from 32768 up (all ephemeral ports), and a
 * key that large is a heap number, boxed and hashed as a double at every lookup.
 */
function demuxKey(port: number, recvId: number): number {
  return (port << 16) | recvId;
}
