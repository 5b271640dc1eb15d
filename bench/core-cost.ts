// The protocol core's own JavaScript per DATA packet, sender and receiver apart, with no sockets:
// two Endpoints in one process, a bulk transfer between them, each datagram copied and released
// as the Node driver does (the kernel's copy, then Endpoint.release). Much steadier than the gauge
// (no syscalls, no second process), so a change to the core's per-packet work shows at the 0.1 us
// level the gauge's noise hides; it says nothing about the kernel's or Node's share.
//
//   node build/bench/core-cost.js [MiB=256] [runs=5] [connections=1]     (after npm run build:all)
// Each connection is written to as a Socket writes: a 64 KiB chunk, the next on its 'written'.
// Prints each run and the medians of us per DATA packet on each side.
import { performance } from 'node:perf_hooks';
import { Endpoint } from '../src/protocol/endpoint.js';
import type { Remote } from '../src/protocol/events.js';
import { median } from './transfer.js';

const A_ADDRESS: Remote = { address: '10.0.0.1', port: 1000, family: 'IPv4' };
const B_ADDRESS: Remote = { address: '10.0.0.2', port: 2000, family: 'IPv4' };

interface Cost {
  senderUs: number;
  receiverUs: number;
  packets: number;
}

/** Bytes per application write, the gauge's (bench/throughput.ts). */
const CHUNK = 64 * 1024;

function once(bytes: number, conns: number): Cost {
  let seed = 1;
  const random = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const a = new Endpoint({ random, releasesDatagrams: true });
  // Each connection advertises its share of a 1 MiB window, as a backlogged Node socket does
  // (ReceiveShare): with 64 connections the windows, not the core, then decide how writes queue.
  const b = new Endpoint({ random, releasesDatagrams: true, config: { receiveBufferSize: Math.max(64 * 1024, (1024 * 1024) / conns) } });
  b.listening = true;
  const chunk = Buffer.alloc(CHUNK, 7);
  const connections = Array.from({ length: conns }, () => a.connect(B_ADDRESS, performance.now()));
  const time = { a: 0, b: 0 };
  let received = 0;
  /** Bytes each connection was given so far; a connection holds one write at a time, as a Socket does. */
  const written = new Map(connections.map((connection) => [connection, 0]));
  const share = Math.floor(bytes / conns);
  const write = (connection: (typeof connections)[number]): void => {
    const done = written.get(connection)!;
    if (done >= share) return;
    const size = Math.min(CHUNK, share - done);
    connection.write(size === CHUNK ? chunk : chunk.subarray(0, size));
    written.set(connection, done + size);
  };
  let packets = 0;
  /** One service round of `from` (timers, events, writes, flush), then its datagrams into `to`; returns how many. */
  const round = (from: Endpoint, to: Endpoint, fromAddress: Remote, side: 'a' | 'b'): number => {
    const other = side === 'a' ? 'b' : 'a';
    let t = performance.now();
    from.handleTimeout(t);
    for (const event of from.events.splice(0)) {
      if (event.type === 'connect' || event.type === 'written') write(event.connection);
      if (event.type !== 'data') continue;
      for (const piece of event.pieces) received += piece.length;
      event.connection.setApplicationBuffered(0); // read at once
    }
    from.flush(performance.now());
    const out = from.transmits.splice(0);
    const copies = out.map((transmit) => Buffer.from(transmit.data));
    for (const transmit of out) from.release(transmit);
    time[side] += performance.now() - t;
    t = performance.now();
    for (const copy of copies) to.handleDatagram(copy, fromAddress, performance.now());
    time[other] += performance.now() - t;
    if (side === 'a') packets += out.length;
    return out.length;
  };
  let idle = 0;
  while (received < share * conns) {
    const moved = round(a, b, A_ADDRESS, 'a') + round(b, a, B_ADDRESS, 'b');
    if (moved > 0) idle = 0;
    else if (++idle > 1_000_000) throw new Error(`stuck at ${received} bytes`);
  }
  return { senderUs: (1000 * time.a) / packets, receiverUs: (1000 * time.b) / packets, packets };
}

const mib = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 5);
const conns = Number(process.argv[4] ?? 1);
const costs: Cost[] = [];
for (let i = 0; i < runs; i++) {
  const cost = once(mib * 1024 * 1024, conns);
  costs.push(cost);
  console.log(`run ${i + 1}: sender ${cost.senderUs.toFixed(3)} us, receiver ${cost.receiverUs.toFixed(3)} us per DATA packet (${cost.packets} packets)`);
}
console.log(`medians of ${runs}, ${mib} MiB each over ${conns} connection(s): sender ${median(costs.map((c) => c.senderUs))!.toFixed(3)} us, receiver ${median(costs.map((c) => c.receiverUs))!.toFixed(3)} us per DATA packet`);
