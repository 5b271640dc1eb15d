import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { EndpointConfig } from '../protocol/config.js';
import type { Connection } from '../protocol/connection.js';
import { Endpoint } from '../protocol/endpoint.js';
import type { EndpointEvent, Remote } from '../protocol/events.js';

/** What the driver hands core events to: the Socket that owns a connection. */
export interface ConnectionOwner {
  onCoreEvent(event: EndpointEvent): void;
}

/** Datagrams handled before an ACK goes out even if the burst is not over. */
const MAX_BURST = 64;

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
  /** Send errors (EMSGSIZE, ENOBUFS...) do not belong to any one packet: count them. */
  sendErrors = 0;
  private readonly onSent = (error: Error | null): void => {
    if (error) this.sendErrors++;
  };
  private readonly runFlush = (): void => this.flushNow();

  constructor(type: 'udp4' | 'udp6', config?: Partial<EndpointConfig>) {
    super();
    this.endpoint = new Endpoint({ random: osRandom(), config: config ?? {} });
    this.socket = dgram.createSocket({ type, reuseAddr: false });
    this.socket.on('message', (data, rinfo) => this.onMessage(data, rinfo));
    this.socket.on('error', (error) => this.emit('error', error));
    this.socket.on('listening', () => this.sizeSocketBuffers());
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
    const want = 2 * this.endpoint.config.receiveBufferSize;
    try {
      if (this.socket.getRecvBufferSize() < want) this.socket.setRecvBufferSize(want);
      if (this.socket.getSendBufferSize() < want) this.socket.setSendBufferSize(want);
    } catch {
      // Not fatal: some systems refuse; we only lose more packets to buffer overflow.
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  now(): number {
    return performance.now();
  }

  private onMessage(data: Buffer, rinfo: dgram.RemoteInfo): void {
    // rinfo is a fresh object per datagram with exactly the Remote fields: use it as is.
    if (!this.endpoint.handleDatagram(data, rinfo as Remote, performance.now())) {
      this.emit('message', data, rinfo);
      return;
    }
    // ACKs wait for the end of the burst, but not forever: a long burst is acked every
    // MAX_BURST datagrams so the sender's ACK clock keeps ticking.
    if (++this.sinceFlush >= MAX_BURST) this.flushNow();
    else this.scheduleFlush();
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
    this.scheduleFlush();
    return connection;
  }

  private flushNow(): void {
    this.flushScheduled = false;
    this.sinceFlush = 0;
    if (this.closed) return;
    const endpoint = this.endpoint;
    // Dispatching events runs application code, which may write and so dirty connections again.
    for (let round = 0; round < 8; round++) {
      const now = performance.now();
      endpoint.handleTimeout(now);
      endpoint.flush(now);
      this.sendTransmits();
      if (endpoint.events.length === 0) break;
      this.dispatchEvents();
    }
    this.armTimer();
  }

  private sendTransmits(): void {
    const transmits = this.endpoint.transmits;
    const socket = this.socket;
    for (let i = 0; i < transmits.length; i++) {
      const t = transmits[i]!;
      const data = t.payload ? [t.header, t.payload] : t.header;
      socket.send(data, t.remote.port, t.remote.address, this.onSent);
    }
    transmits.length = 0;
  }

  private dispatchEvents(): void {
    const events = this.endpoint.events.splice(0);
    for (const event of events) {
      if (event.type === 'connection' || event.type === 'removed') {
        this.emit(event.type, event.connection);
        continue;
      }
      const owner = event.connection.context as ConnectionOwner | undefined;
      owner?.onCoreEvent(event);
    }
  }

  private armTimer(): void {
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
