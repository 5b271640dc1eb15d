/**
 * The built-in subscriber: one qlog file per connection (docs/qlog.md describes the schema), for
 * the connections of sockets created with the `qlog: dir` option or while `MICROTP_QLOG=dir` is
 * set. qlog's main schema (draft-ietf-quic-qlog-main-schema, qlog_version 0.3) in its JSON-SEQ
 * serialization (RFC 7464: each record is RS, JSON, LF), events in a `utp` namespace.
 *
 * Writes are buffered in memory and go out with synchronous `writeSync` calls: once per turn of
 * the event loop (so a burst of packets is one write), when 64 KiB are waiting, when the
 * connection ends, and at process exit. A stream's queue would be lost by `process.exit()`,
 * which a command-line tool calls after its summary; the cost is a blocking write of up to 64 KiB
 * now and then, only while tracing. A write error never reaches the application: the
 * connection's trace stops and a process warning (code MICROTP_QLOG) says so, once per directory.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  channels,
  qlogDirectoryOf,
  type LossMessage,
  type MetricsMessage,
  type PacketMessage,
  type PacketReceivedMessage,
  type PacketSentMessage,
  type RetransmitMessage,
  type StateMessage,
  type TimeoutMessage,
  type TraceMessage,
  type TracedConnection,
  type WindowMessage,
} from './channels.js';

/** qlog's version string for the JSON-SEQ serialization of the main schema (drafts 02-07). */
export const QLOG_VERSION = '0.3';
export const QLOG_FORMAT = 'JSON-SEQ';
/** RFC 7464 record separator. */
const RS = '\x1e';
/** Buffered text written out at once beyond this many characters. */
const FLUSH_AT = 64 * 1024;

/**
 * One connection's file. An accepted connection's file is created only once the initiator
 * confirmed it (state `connected`): until then its records wait in memory, and an unconfirmed
 * connection (a spoofed SYN, evicted or expired) leaves no file, so a SYN flood cannot fill the
 * disk or run the process out of file descriptors through the trace.
 */
class QlogFile {
  private buffered = '';
  private fd: number | undefined = undefined;
  private closed = false;

  constructor(
    private readonly connection: TracedConnection,
    private readonly dir: string,
    /** performance.now() of the first event: times in the file are relative to it. */
    readonly origin: number,
  ) {
    this.record(header(connection, performance.timeOrigin + origin));
  }

  get opened(): boolean {
    return this.fd !== undefined;
  }

  /** Creates the file and writes what waited; false (and a warning) when it cannot be written. */
  open(): boolean {
    if (this.closed || this.fd !== undefined) return !this.closed;
    try {
      mkdirSync(this.dir, { recursive: true });
      this.fd = openSync(join(this.dir, qlogFileName(this.connection, performance.timeOrigin + this.origin)), 'wx');
    } catch (error) {
      warnOnce(this.dir, error);
      this.closed = true;
      this.buffered = '';
      return false;
    }
    openFiles.add(this);
    scheduleFlush(this);
    return true;
  }

  record(value: unknown): void {
    this.recordJson(JSON.stringify(value));
  }

  /** One record, already JSON text. */
  recordJson(json: string): void {
    if (this.closed) return;
    this.buffered += RS + json + '\n';
    if (this.fd === undefined) return;
    if (this.buffered.length >= FLUSH_AT) this.flush();
    else scheduleFlush(this);
  }

  event(time: number, name: string, data: object): void {
    this.eventJson(time, name, JSON.stringify(data));
  }

  /** An event whose data is already JSON text (the per-packet events: see packetJson). */
  eventJson(time: number, name: string, data: string): void {
    this.recordJson(`{"time":${round(time - this.origin)},"name":"utp:${name}","data":${data}}`);
  }

  /** Writes what is buffered (once the file exists). */
  flush(): void {
    if (this.closed || this.fd === undefined || this.buffered === '') return;
    const text = this.buffered;
    this.buffered = '';
    try {
      writeSync(this.fd, text);
    } catch (error) {
      warnOnce(this.dir, error);
      this.close();
    }
  }

  /** Flushes and closes the file; a file never opened (an unconfirmed connection) is dropped. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.buffered = '';
    openFiles.delete(this);
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Nothing left to report it for: the data went out, or the warning was given.
    }
  }
}

/** null: the connection's trace ended (closed, or the file could not be written). */
const files = new WeakMap<TracedConnection, QlogFile | null>();
const openFiles = new Set<QlogFile>();
const dirty = new Set<QlogFile>();
let flushScheduled = false;
const warned = new Set<string>();
let subscribers = 0;
let exitHookInstalled = false;

function scheduleFlush(file: QlogFile): void {
  dirty.add(file);
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushDirty).unref();
}

function flushDirty(): void {
  flushScheduled = false;
  for (const file of dirty) file.flush();
  dirty.clear();
}

function warnOnce(dir: string, error: unknown): void {
  if (warned.has(dir)) return;
  warned.add(dir);
  const reason = error instanceof Error ? error.message : String(error);
  process.emitWarning(`microtp: cannot write qlog traces to ${dir} (${reason}); those connections are not traced`, { code: 'MICROTP_QLOG' });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `a.b.c.d-port`, safe in a file name (IPv6 colons become dashes). */
function endpointName(address: string | undefined, port: number | undefined): string {
  return `${(address ?? 'unbound').replace(/[^A-Za-z0-9.]/g, '-')}_${port ?? 0}`;
}

/** The file name of a connection's trace: start time, role, both ends and the recv id, e.g. `2026-11-22T07-47-10.123Z_client_127.0.0.1_50123_127.0.0.1_6881_c4660.sqlog`. */
export function qlogFileName(connection: TracedConnection, startEpochMs: number): string {
  const stamp = new Date(Math.round(startEpochMs)).toISOString().replace(/:/g, '-');
  const role = connection.initiator ? 'client' : 'server';
  return `${stamp}_${role}_${endpointName(connection.localAddress, connection.localPort)}_${endpointName(connection.remoteAddress, connection.remotePort)}_c${connection.recvId}.sqlog`;
}

function header(c: TracedConnection, referenceTime: number): object {
  const local = `${c.localAddress ?? '?'}:${c.localPort ?? '?'}`;
  const remote = `${c.remoteAddress}:${c.remotePort}`;
  return {
    qlog_version: QLOG_VERSION,
    qlog_format: QLOG_FORMAT,
    title: `microtp µTP connection ${c.initiator ? `${local} -> ${remote}` : `${remote} -> ${local}`}`,
    description: `${c.initiator ? 'client' : 'server'} side, recv_id ${c.recvId}, send_id ${c.sendId}`,
    trace: {
      common_fields: {
        protocol_type: ['UTP'],
        time_format: 'relative',
        reference_time: round(referenceTime),
        group_id: `${c.localAddress ?? ''}:${c.localPort ?? ''}/${remote}/${c.recvId}`,
        local_address: c.localAddress ?? null,
        local_port: c.localPort ?? null,
        remote_address: c.remoteAddress,
        remote_port: c.remotePort,
        recv_id: c.recvId,
        send_id: c.sendId,
      },
      vantage_point: { name: 'microtp', type: c.initiator ? 'client' : 'server' },
    },
  };
}

/** The trace of this message's connection, begun at its first event; undefined when not traced. */
function fileFor(message: TraceMessage): QlogFile | undefined {
  const connection = message.connection;
  const known = files.get(connection);
  if (known !== undefined) return known ?? undefined;
  const dir = qlogDirectoryOf(connection);
  if (dir === undefined) return undefined;
  const file = new QlogFile(connection, dir, message.time);
  // Ours (we connected): the file at once. Accepted: once confirmed (see QlogFile).
  if (connection.initiator && !file.open()) {
    files.set(connection, null);
    return undefined;
  }
  files.set(connection, file);
  return file;
}

/** seq_nr ranges [first, last] a selective ACK bitmask acknowledges (bit i: ack + 2 + i). */
export function sackRanges(ack: number, mask: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [];
  let start = -1;
  const bits = mask.length * 8;
  for (let i = 0; i <= bits; i++) {
    const set = i < bits && (mask[i >> 3]! & (1 << (i & 7))) !== 0;
    if (set && start < 0) start = i;
    if (!set && start >= 0) {
      ranges.push([(ack + 2 + start) & 0xffff, (ack + 1 + i) & 0xffff]);
      start = -1;
    }
  }
  return ranges;
}

/** A finite number as JSON (null otherwise: JSON has no Infinity). */
function n(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/**
 * A packet event's data as JSON text, written by hand: per-packet events are most of a trace, and
 * a template is several times cheaper than an object tree for JSON.stringify. Every value is a
 * number, a boolean, or a string from a fixed set (packet types, verdicts): nothing to escape.
 */
function packetJson(m: PacketMessage, last: string): string {
  const sack = m.selectiveAck === undefined ? '' : `,"sack":${JSON.stringify(sackRanges(m.ack, m.selectiveAck))}`;
  return (
    `{"header":{"packet_type":"${m.type}","seq_nr":${m.seq},"ack_nr":${m.ack},"wnd_size":${m.windowSize},` +
    `"timestamp_difference_us":${m.timestampDifference}},"raw":{"length":${m.size},"payload_length":${m.payloadSize}}${sack},${last}}`
  );
}

const listeners: Record<keyof typeof channels, (message: unknown) => void> = {
  state(message) {
    const m = message as StateMessage;
    const file = fileFor(m);
    if (!file) return;
    const data: Record<string, unknown> = { old: m.from ?? null, new: m.to };
    if (m.error !== undefined) data.error = { code: m.error.code, message: m.error.message };
    file.event(m.time, 'connection_state_updated', data);
    if (m.to === 'connected' && !file.opened && !file.open()) files.set(m.connection, null);
    if (m.to === 'closed') {
      file.close();
      files.set(m.connection, null);
    }
  },
  packetSent(message) {
    const m = message as PacketSentMessage;
    const file = fileFor(m);
    if (!file) return;
    file.eventJson(m.time, 'packet_sent', packetJson(m, `"resend":${m.resend}`));
  },
  packetReceived(message) {
    const m = message as PacketReceivedMessage;
    const file = fileFor(m);
    if (!file) return;
    file.eventJson(m.time, 'packet_received', packetJson(m, `"verdict":"${m.verdict}"`));
  },
  metrics(message) {
    const m = message as MetricsMessage;
    fileFor(m)?.eventJson(
      m.time,
      'metrics_updated',
      `{"cwnd":${n(m.cwnd)},"bytes_in_flight":${n(m.bytesInFlight)},"smoothed_rtt":${n(round(m.rtt))},"latest_rtt":${n(round(m.latestRtt))},` +
        `"rtt_variance":${n(round(m.rttVar))},"rto":${n(round(m.rto))},"queuing_delay":${n(round(m.queuingDelay))},"base_delay":${n(round(m.baseDelay))},` +
        `"target_delay":${n(m.targetDelay)},"slow_start":${m.slowStart},"peer_window":${n(m.peerWindow)}}`,
    );
  },
  loss(message) {
    const m = message as LossMessage;
    fileFor(m)?.event(m.time, 'packet_lost', { seq_nr: m.seq, payload_length: m.payloadSize });
  },
  retransmit(message) {
    const m = message as RetransmitMessage;
    fileFor(m)?.event(m.time, 'packet_retransmitted', { packet_type: m.type, seq_nr: m.seq, payload_length: m.payloadSize });
  },
  timeout(message) {
    const m = message as TimeoutMessage;
    fileFor(m)?.event(m.time, 'timeout', { cwnd: m.cwnd, rto: round(m.rto), bytes_in_flight: m.bytesInFlight });
  },
  window(message) {
    const m = message as WindowMessage;
    fileFor(m)?.event(m.time, 'peer_window_updated', { old: m.previous, new: m.current });
  },
};

function closeAll(): void {
  for (const file of openFiles) file.close();
}

/**
 * @internal A socket that records qlog files was created: subscribe (first one). Paired with
 * `releaseQlog()` when it closes, so the channels have no subscriber once no such socket is left.
 */
export function acquireQlog(): void {
  if (subscribers++ > 0) return;
  for (const key of Object.keys(channels) as (keyof typeof channels)[]) diagnosticsChannel.subscribe(channels[key], listeners[key]);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', closeAll);
  }
}

/** @internal The socket closed: unsubscribe after the last one and close the files still open. */
export function releaseQlog(): void {
  if (subscribers === 0 || --subscribers > 0) return;
  for (const key of Object.keys(channels) as (keyof typeof channels)[]) diagnosticsChannel.unsubscribe(channels[key], listeners[key]);
  closeAll();
}

/**
 * The directory a socket records qlog files in: its `qlog` option when given (a string, or
 * false for none), else `MICROTP_QLOG` as the environment has it now (read at socket creation,
 * so a program may set it after importing microtp). Empty means none.
 */
export function qlogDirectory(option: string | false | undefined): string | undefined {
  const dir = option === undefined ? process.env.MICROTP_QLOG : option;
  return typeof dir === 'string' && dir !== '' ? dir : undefined;
}
