import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { EndpointConfig } from '../protocol/config.js';
import type { Connection } from '../protocol/connection.js';
import { Endpoint } from '../protocol/endpoint.js';
import type { EndpointEvent, Remote, Transmit } from '../protocol/events.js';
import { isValidSourceAddress, isValidSourcePort } from './args.js';
import { ChannelTracer } from '../trace/channels.js';
import { acquireQlog, qlogDirectory, releaseQlog } from '../trace/qlog-writer.js';


/**
 * Receive buffer a listening socket asks for at least: one connection's window (the default
 * sizing) is no measure of a burst from many peers, which waits in the kernel while the event
 * loop works through it. 10,000 clients connecting at once (issue 9) sent 10,000 SYNs and then
 * 30,000 DATA packets; with the default sizing (Linux reports 4 MiB) 2,277 of them never got
 * their SYN through in 3 tries. Linux caps the request at rmem_max and reports twice what it
 * grants (8 MiB where rmem_max is 4 MiB); where rmem_max is the usual 208 KiB, nothing changes.
 */
const LISTENING_RECV_BUFFER = 8 * 1024 * 1024;
/** What the driver hands core events to: the Socket that owns a connection. */
export interface ConnectionOwner {
  onCoreEvent(event: EndpointEvent): void;
}

/**
 * How the driver hands a datagram to the OS: `socket.send` unless a test replaces it (a seam to
 * inject send errors such as EMSGSIZE, which loopback's 64 KiB MTU never produces). It must call
 * back exactly once per datagram, asynchronously, in send order, as dgram does, and not read
 * `data` after that: the buffer is reused for another datagram (see datagram-pool.ts).
 */
export type SendFunction = (
  socket: dgram.Socket,
  data: Uint8Array,
  port: number,
  address: string,
  callback: (error: Error | null, bytes?: number) => void,
) => void;

export interface UdpDriverOptions {
  /** @internal Test seam: replaces `socket.send`. */
  send?: SendFunction | undefined;
  /** Record every connection's events as a qlog file in this directory (false: not even with MICROTP_QLOG). */
  qlog?: string | false | undefined;
}

/** What the driver counts that belongs to no connection (readable through `counters`). */
export interface DriverCounters {
  /** Datagrams from a source that cannot be answered (port 0, multicast...): dropped unread. */
  invalidSources: number;
  /** Sends the OS refused (reported to the connection that sent them, when there is one). */
  sendErrors: number;
  /** Sends that threw synchronously (dgram's argument checks): caught, never propagated. */
  sendThrows: number;
}

/** Datagrams handled before an ACK goes out even if the burst is not over. */
const MAX_BURST = 64;
/**
 * libuv reads at most this many datagrams (32; 33 in older versions) from a socket per event-loop
 * iteration (uv__udp_recvmsg): a poll phase that read that many probably left more unread
 * (Endpoint.inputBacklogUntil).
 */
const LIBUV_READS_PER_ITERATION = 32;
/**
 * How long the input still counts as backlogged after the read that drained it (ms): a backlog
 * usually comes back within a few iterations, and ACK decimation (AckPolicy) should not flap.
 */
const INPUT_BACKLOG_MS = 10;
/**
 * While the input is backlogged the driver reads the socket's receive buffer size again
 * (noteReceiveCapacity) at most this often (ms): one fast flow's input goes in and out of backlog
 * every few event-loop iterations, and a getsockopt at each start was 1.6% of the gauge
 * receiver's JavaScript.
 */
const CAPACITY_REREAD_MS = 1000;

function sameRemote(a: Remote, b: Remote): boolean {
  return a === b || (a.port === b.port && a.address === b.address);
}

/** Random u32s from the OS, fetched in batches: connection ids and ISNs must not be guessable. */
function osRandom(): () => number {
  let pool = new Uint32Array(0);
  let index = 0;
  return () => {
    if (index >= pool.length) {
      const bytes = randomBytes(256);
      pool = new Uint32Array(bytes.buffer, bytes.byteOffset, 64);
      index = 0;
    }
    return pool[index++]!;
  };
}

/**
 * The only place where the protocol core meets the OS: one dgram socket, one timer, and one
 * flush per burst of datagrams (scheduled with setImmediate, which runs after the poll phase has
 * read every pending datagram, so ACKs are coalesced per burst as libutp and libtorrent do).
 *
 * Emits 'connection' (Connection, incoming and confirmed), 'message' (Buffer, rinfo) for
 * datagrams that are not µTP, 'error' for socket errors, and 'close'.
 */
export class UdpDriver extends EventEmitter {
  readonly socket: dgram.Socket;
  readonly endpoint: Endpoint;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private flushScheduled = false;
  /** µTP datagrams handled since the last flush. */
  private sinceFlush = 0;
  private closed = false;
  readonly counters: DriverCounters = { invalidSources: 0, sendErrors: 0, sendThrows: 0 };
  private readonly sendDatagram: SendFunction | undefined;
  /**
   * Datagrams handed to dgram whose callback has not run yet, oldest first (from `sentHead`).
   * dgram calls back in send order: a send completes synchronously (callback on nextTick) only
   * while libuv's send queue is empty (uv_udp_try_send returns EAGAIN otherwise), and queued sends
   * complete in FIFO order, so one shared callback pops the oldest record instead of a closure
   * per datagram. (Checked under load with interleaved failures; see test/node/send-errors.test.ts.)
   */
  private readonly inFlight: Transmit[] = [];
  private sentHead = 0;
  /**
   * A send failed since the in-flight records last drained: callbacks may have come out of order
   * (an error libuv reports synchronously, as EISCONN when the application connected the dgram
   * socket itself, overtakes queued sends), so the record popped may not be the datagram reported
   * on. Its buffer may still be in libuv's queue: until the records drain, none is released for
   * reuse (they go to the garbage collector).
   */
  private releaseUnsure = false;
  private readonly onSent = (error: Error | null): void => this.sendDone(error);
  /** Set at 'listening' (connect() to a sole peer waits for it). */
  private bound = false;
  /** Datagrams read in this event-loop iteration's poll phase so far, whatever they were. */
  private burstReads = 0;
  /** When a full read last re-read the receive buffer's size (CAPACITY_REREAD_MS). */
  private capacityReadAt = -Infinity;
  /**
   * The flush at the end of a burst (setImmediate: after the event loop's poll phase read it).
   * It judges the burst first (judgeBurst). While the input is backlogged it queues itself for the
   * next iteration too, so that a poll phase that reads nothing still ends the backlog.
   */
  private readonly runFlush = (): void => {
    // Cleared here, by the immediate it stands for, not by every flush: a flush from elsewhere
    // (the tick after a round that announced a connection, MAX_BURST, the timer) leaves this
    // immediate queued, and clearing the flag then let the next burst queue a second one, so two
    // end-of-burst flushes ran in one check phase (the second judging an empty burst).
    this.flushScheduled = false;
    this.judgeBurst();
    this.flushNow();
    if (this.endpoint.inputBacklogUntil === Infinity) this.scheduleFlush();
  };

  /**
   * After a poll phase: did its read of the socket stop at libuv's limit? Then datagrams wait
   * unread, and the endpoint is told so until a later poll phase reads fewer, and for
   * INPUT_BACKLOG_MS after. Not for a fixed time from the full read: an iteration may well run
   * past it (other sockets, application callbacks), and the tail-loss timers run at the next
   * iteration's timers phase, before its poll phase reads anything. Judged in the flush the burst
   * scheduled, not in an immediate of its own: a second immediate per iteration, and the
   * microtask checkpoint Node runs between two, showed in a receiver's CPU profile.
   */
  private judgeBurst(): void {
    const full = this.burstReads >= LIBUV_READS_PER_ITERATION;
    this.burstReads = 0;
    if (full) {
      // The buffer's size, read again at most once a second while backlogged (its start or any
      // full read later, so a backlog that never ends sees it too): the application may have
      // resized it on the dgram socket itself (SharedSocket.udpSocket), which growSocketBuffer
      // never sees.
      const now = performance.now();
      if (now - this.capacityReadAt >= CAPACITY_REREAD_MS) {
        this.capacityReadAt = now;
        this.noteReceiveCapacity();
      }
      this.endpoint.inputBacklogUntil = Infinity;
    } else if (this.endpoint.inputBacklogUntil === Infinity) {
      this.endpoint.inputBacklogUntil = performance.now() + INPUT_BACKLOG_MS;
    }
  }

  constructor(type: 'udp4' | 'udp6', config?: Partial<EndpointConfig>, options: UdpDriverOptions = {}) {
    super();
    this.sendDatagram = options.send;
    // Always a tracer: anyone may subscribe to the channels at any time (it costs a boolean check per event until then).
    const qlogDir = qlogDirectory(options.qlog);
    const tracer = new ChannelTracer({ local: () => this.socket.address(), qlogDir });
    // The core's clock is performance.now(); its origin turns it into the wall clock (slowdowns of
    // 'ledbat++' fall on common wall-clock instants across processes).
    // Every transmit is released at its send callback (sendDone), or at once when dgram threw.
    this.endpoint = new Endpoint({ random: osRandom(), config: config ?? {}, tracer, epochOffset: performance.timeOrigin, releasesDatagrams: true });
    this.socket = dgram.createSocket({ type, reuseAddr: false });
    if (qlogDir !== undefined) {
      acquireQlog();
      this.socket.once('close', releaseQlog);
    }
    this.socket.on('message', (data, rinfo) => this.onMessage(data, rinfo));
    this.socket.on('error', (error) => {
      // A connected socket hears ICMP port unreachable as ECONNREFUSED from recvmsg; an
      // unconnected one (what every other socket is) never does. Keep the same behaviour.
      if (this.solePeer && (error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
      this.emit('error', error);
    });
    this.socket.on('listening', () => {
      this.bound = true;
      this.sizeSocketBuffers();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.clearTimer();
      this.emit('close');
    });
  }

  /**
   * The kernel's default UDP buffers (about 208 KiB) drop a burst of one receive window; ask for
   * more (the kernel caps it at net.core.rmem_max / wmem_max, silently).
   */
  private sizeSocketBuffers(): void {
    this.growSocketBuffer('recv');
    this.growSocketBuffer('send');
  }

  /**
   * The socket buffer sizes the application asked for (setRecvBufferSize/setSendBufferSize):
   * kept until bind when asked before it, and applied only where they grow the buffer, so a
   * request never shrinks what microtp sized for its own window.
   */
  private readonly requestedBuffers = { recv: 0, send: 0 };

  /** @internal Asks for at least `bytes` of socket buffer (now if bound, else at bind). */
  requestSocketBuffer(kind: 'recv' | 'send', bytes: number): void {
    this.requestedBuffers[kind] = bytes;
    if (this.isBound()) this.growSocketBuffer(kind);
  }

  /** @internal The size a socket buffer has (bound) or will be asked for at bind. */
  socketBufferSize(kind: 'recv' | 'send'): number {
    if (this.isBound()) return kind === 'recv' ? this.socket.getRecvBufferSize() : this.socket.getSendBufferSize();
    return this.wantedSocketBuffer(kind);
  }

  /** @internal The socket now listens: its receive buffer must hold bursts from many peers (see LISTENING_RECV_BUFFER). */
  listening(): void {
    this.listens = true;
    if (this.isBound()) this.growSocketBuffer('recv');
  }

  private listens = false;

  private wantedSocketBuffer(kind: 'recv' | 'send'): number {
    const floor = kind === 'recv' && this.listens ? LISTENING_RECV_BUFFER : 0;
    return Math.max(2 * this.endpoint.config.receiveBufferSize, this.requestedBuffers[kind], floor);
  }

  /**
   * What this socket last asked the kernel for. Compared with the next request instead of the
   * kernel's own figure, which Linux reports doubled (a request below twice the last one would
   * look satisfied and be dropped).
   */
  private readonly appliedBuffers = { recv: 0, send: 0 };

  private growSocketBuffer(kind: 'recv' | 'send'): void {
    this.applySocketBuffer(kind);
    if (kind === 'recv') this.noteReceiveCapacity();
  }

  /**
   * What the socket's kernel receive buffer holds in payload, for the connections' share of it
   * while the input is backlogged (ReceiveShare): half of what Linux reports, which counts each
   * datagram's whole allocation (about 2.3 KB for a 1.4 KB datagram), not its payload.
   */
  private noteReceiveCapacity(): void {
    try {
      this.endpoint.receiveShare.capacity = this.socket.getRecvBufferSize() / 2;
    } catch {
      // Not bound (yet): the share stays unbounded, as without it.
    }
  }

  private applySocketBuffer(kind: 'recv' | 'send'): void {
    const want = this.wantedSocketBuffer(kind);
    if (want <= this.appliedBuffers[kind]) return;
    try {
      // Before our first request, a system default already that large is kept (never shrink).
      const current = kind === 'recv' ? this.socket.getRecvBufferSize() : this.socket.getSendBufferSize();
      if (this.appliedBuffers[kind] === 0 && current >= want) return;
      if (kind === 'recv') this.socket.setRecvBufferSize(want);
      else this.socket.setSendBufferSize(want);
      this.appliedBuffers[kind] = want;
    } catch {
      // Not fatal: some systems refuse; we only lose more packets to buffer overflow.
    }
  }

  private isBound(): boolean {
    try {
      this.socket.address();
      return !this.closed;
    } catch {
      return false; // dgram throws ERR_SOCKET_DGRAM_NOT_RUNNING before bind
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  now(): number {
    return performance.now();
  }

  /**
   * @internal One received datagram (the dgram 'message' listener; public for tests that need a
   * source no real socket can produce).
   */
  onMessage(data: Buffer, rinfo: dgram.RemoteInfo): void {
    // Every datagram read counts toward the burst judged at its flush (judgeBurst), junk too: it
    // fills the same socket buffer.
    this.burstReads++;
    // A source we could not answer (dgram.send throws for port 0) is spoofed: drop it before the
    // endpoint makes any state for it or queues a reply to it.
    const address = rinfo.address;
    if (!isValidSourcePort(rinfo.port) || (address !== this.validAddress && !this.checkAddress(address))) {
      this.counters.invalidSources++;
      this.scheduleFlush();
      return;
    }
    // rinfo is a fresh object per datagram with exactly the Remote fields: use it as is.
    if (!this.endpoint.handleDatagram(data, rinfo as Remote, performance.now())) {
      // Not ours, though a stray µTP packet may have drawn a RESET: it goes with that flush.
      this.scheduleFlush();
      this.emit('message', data, rinfo);
      return;
    }
    // ACKs wait for the end of the burst, but not forever: a long burst is acked every
    // MAX_BURST datagrams so the sender's ACK clock keeps ticking.
    if (++this.sinceFlush >= MAX_BURST) this.flushNow();
    else this.scheduleFlush();
  }

  /**
   * The last source address found valid. A flow's datagrams all come from one address, so the
   * string checks of isValidSourceAddress run once per change of address instead of per
   * datagram (they were 2% of a receiver's busy time; the comparison of two short strings is
   * far cheaper). Only valid addresses are remembered: an invalid one is checked every time.
   */
  private validAddress = '';

  private checkAddress(address: string): boolean {
    if (!isValidSourceAddress(address)) return false;
    this.validAddress = address;
    return true;
  }

  /** Something changed (input, a write, a read): flush once the current burst is over. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.runFlush);
  }

  /** Opens an outgoing connection from this socket. */
  connect(remote: Remote, config?: Partial<EndpointConfig>): Connection {
    const connection = this.endpoint.connect(remote, performance.now(), config);
    if (this.solePeer) this.connectPeer(connection.remote);
    this.scheduleFlush();
    return connection;
  }

  /** flushNow once the ticks queued by the handlers have run (see the deferral in flushNow). */
  private readonly flushAfterTicks = (): void => this.flushNow(true);

  private flushNow(deferred = false): void {
    this.sinceFlush = 0;
    if (this.closed) return;
    const endpoint = this.endpoint;
    // A listener that throws (application code runs in dispatchEvents) propagates as it would
    // from any emitter, but the driver stays consistent: the timer is re-armed whatever happens,
    // and what the throw left unflushed goes at the next immediate.
    let settled = false;
    try {
      for (let round = 0; round < 8; round++) {
        let now = performance.now();
        endpoint.handleTimeout(now);
        // The application first, the flush after (as libutp's deferred ACKs and libtorrent's
        // m_deferred_ack): what it writes on 'connect' or in answer to 'data' carries the ACK
        // that would otherwise go out alone just before (a request's answer, an echo, the
        // BitTorrent handshake sent on connect). Connections that echo 4 KiB: 16 datagrams each
        // instead of 19, and 10,000 of them at once done in 4.3 s instead of 5.3 (medians of 5).
        if (endpoint.events.length > 0) {
          const announced = this.dispatchEvents();
          if (this.closed) return; // a handler closed the socket: nothing can be sent
          if (announced && !deferred) {
            // A new connection's socket starts flowing on the next tick (pipe() and 'data'
            // listeners resume a stream with process.nextTick), so what the application answers to
            // the data that confirmed the connection is written then: flush after that tick, once,
            // so the answer carries the ACK (before, the first request on an accepted socket was
            // acked alone and answered a moment later). Same macrotask: no wait.
            settled = true;
            process.nextTick(this.flushAfterTicks);
            return;
          }
          // The handlers took their time: what the flush sends is stamped, timed (RTT samples,
          // timers) and paced from now. With the clock read before them, a 30 ms handler gave
          // its echo's sender an RTT of 31 ms on loopback, and the peer a one-way delay 30 ms
          // too long, which it echoes back to our LEDBAT as queueing delay.
          now = performance.now();
        }
        endpoint.flush(now);
        this.sendTransmits();
        // The flush's own events (a connection closed, a write drained) go at the next round.
        if (endpoint.events.length === 0) break;
      }
      settled = endpoint.events.length === 0;
    } finally {
      if (!settled) this.scheduleFlush();
      this.armTimer();
    }
  }

  private sendTransmits(): void {
    const transmits = this.endpoint.transmits;
    const socket = this.socket;
    const send = this.sendDatagram;
    try {
      for (let i = 0; i < transmits.length; i++) {
        const t = transmits[i]!;
        try {
          if (send) send(socket, t.data, t.remote.port, t.remote.address, this.onSent);
          else if (this.peer !== undefined && sameRemote(t.remote, this.peer)) socket.send(t.data, this.onSent);
          // (To any other remote on a connected socket dgram throws ERR_SOCKET_DGRAM_IS_CONNECTED,
          // reported below: never expected, such a socket has one peer.)
          else socket.send(t.data, t.remote.port, t.remote.address, this.onSent);
        } catch (error) {
          // dgram's synchronous argument checks (a bad port or address): this datagram is lost,
          // the others still go. No callback will come for it, so it gets no in-flight record.
          this.counters.sendThrows++;
          this.reportSendError(t, error);
          this.endpoint.release(t);
          continue;
        }
        this.inFlight.push(t);
      }
    } finally {
      // Never leave them for the next flush: a datagram that threw would throw again forever.
      transmits.length = 0;
    }
  }

  /** The shared send callback: the oldest in-flight record is the datagram it reports on. */
  private sendDone(error: Error | null): void {
    const inFlight = this.inFlight;
    const t = inFlight[this.sentHead];
    if (t === undefined) return; // a stray callback after close()
    inFlight[this.sentHead++] = undefined as unknown as Transmit;
    if (error) this.releaseUnsure = true;
    // (Read before the drain below resets it: this callback itself may be the out-of-order one.)
    const release = !this.releaseUnsure;
    if (this.sentHead === inFlight.length) {
      inFlight.length = 0;
      this.sentHead = 0;
      this.releaseUnsure = false;
    } else if (this.sentHead >= 1024 && this.sentHead * 2 >= inFlight.length) {
      inFlight.splice(0, this.sentHead);
      this.sentHead = 0;
    }
    // As for recvmsg (see the 'error' listener): an unconnected socket would not have heard it.
    if (error && !(this.solePeer && (error as NodeJS.ErrnoException).code === 'ECONNREFUSED')) this.reportSendError(t, error);
    // After the report, which reads the datagram (Connection.onSendError): the OS is done with it.
    if (release) this.endpoint.release(t);
  }

  private reportSendError(t: Transmit, error: unknown): void {
    this.counters.sendErrors++;
    const connection = t.connection;
    if (!connection || this.closed) return;
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    connection.onSendError(code, t.data, performance.now());
    this.scheduleFlush();
  }

  /** Runs the application's handlers; true when one of the events announced a new connection. */
  private dispatchEvents(): boolean {
    const events = this.endpoint.events.splice(0);
    let announced = false;
    let i = 0;
    try {
      for (; i < events.length; i++) {
        const event = events[i]!;
        if (event.type === 'connection' || event.type === 'removed') {
          announced ||= event.type === 'connection';
          this.emit(event.type, event.connection);
          continue;
        }
        const owner = event.connection.context as ConnectionOwner | undefined;
        owner?.onCoreEvent(event);
      }
    } finally {
      if (++i < events.length) {
        // A listener threw: the events after it are not lost, they go at the next flush.
        this.endpoint.events.unshift(...events.slice(i));
        this.scheduleFlush();
      }
    }
    return announced;
  }

  /**
   * Set on a socket that only carries outgoing connections to one peer (connect()'s own sockets):
   * its dgram socket is connected to that peer at the first connection. A connected send skips
   * the kernel's per-datagram route lookup and dgram's address handling: measured on a veth pair,
   * 8.7-9.3 us of CPU per 1400-byte datagram against 10.0-11.8 us for a send with an address
   * (docs/performance-state.md). The kernel then delivers datagrams from that peer only, which is
   * all such a socket expects. The peer never changes: disconnecting a socket whose port the
   * kernel chose gives the port up (Linux unhashes it), which would break every connection on it.
   */
  private solePeer = false;
  /** The peer the dgram socket is connected to. */
  private peer: Remote | undefined;
  /** connectPeer asked dgram to connect (it answers on a later tick). */
  private peerAsked = false;

  /**
   * @internal For a socket that never listens, is never given to the application and only ever
   * connects to one peer (connect()'s, see pooledSocket): connect the dgram socket to that peer.
   * Not with a test's `send` seam, which takes an address per datagram.
   */
  connectToSolePeer(): void {
    if (!this.sendDatagram && !this.listens) this.solePeer = true;
  }

  private connectPeer(remote: Remote): void {
    // Once asked, never again: a second socket.connect() throws ERR_SOCKET_DGRAM_IS_CONNECTED,
    // and building that error for each of 10,000 connects took 12 us apiece (issue 9).
    if (!this.bound || this.closed || this.listens || this.peerAsked) return;
    this.peerAsked = true;
    // dgram resolves the address first (dns.lookup answers an IP literal on the next tick) and
    // connects then, before any flush (a setImmediate) sends: sends name the address until
    // `settled` says the socket is connected.
    const settled = (error?: Error): void => {
      if (error) this.solePeer = false; // stays unconnected, as any other socket
      else this.peer = remote;
    };
    try {
      this.socket.connect(remote.port, remote.address, settled);
    } catch {
      // Connected or connecting already (never expected): stays as it is.
    }
  }

  private armTimer(): void {
    if (this.closed) return;
    const wake = this.endpoint.nextWake;
    if (wake === Infinity) return this.clearTimer();
    if (this.timer && this.timerAt <= wake) return;
    this.clearTimer();
    this.timerAt = wake;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.flushNow();
    }, Math.max(0, wake - performance.now()) + 1);
    // The UDP socket, not our timer, decides whether the process stays alive (ref/unref).
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.socket.close();
  }
}
