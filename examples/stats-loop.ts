// Watches a connection's congestion control at work: stats() in a loop during a transfer.
//
//   npm run build:all && node build/examples/stats-loop.js
//
// socket.stats() is a snapshot: rtt and queueing delay (ms), the congestion window and the
// bytes in flight, slow start, retransmits... Reading it is cheap; here, every 100 ms.
import { once } from 'node:events';
import { createServer, connect } from 'microtp';

const SIZE = 32 * 1024 * 1024;

// A sink: reads and drops everything, then closes.
const server = createServer((socket) => {
  socket.resume();
  socket.on('end', () => socket.end());
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');

const client = connect(server.address()!.port, '127.0.0.1');
await once(client, 'connect');

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`.padStart(9);
console.log('    ms       rtt  qdelay       cwnd   inflight  slow start  retransmits');
const startedAt = performance.now();
const report = (): void => {
  const s = client.stats();
  if (!s) return; // no connection (yet, or any more)
  const ms = (performance.now() - startedAt).toFixed(0).padStart(6);
  console.log(
    `${ms}  ${s.rtt.toFixed(1).padStart(6)} ms ${s.queuingDelay.toFixed(1).padStart(5)} ms ${kib(s.cwnd)}  ${kib(s.bytesInFlight)}  ${String(s.slowStart).padStart(10)}  ${String(s.retransmits).padStart(11)}`,
  );
};
const timer = setInterval(report, 100);

// Send SIZE bytes, respecting backpressure (write() returns false: wait for 'drain').
const chunk = Buffer.alloc(64 * 1024, 0x61);
for (let sent = 0; sent < SIZE; sent += chunk.length) {
  if (!client.write(chunk)) await once(client, 'drain');
}
client.end();
await once(client, 'finish'); // the peer acknowledged every byte and our FIN
report();
clearInterval(timer);

const final = client.stats() ?? { packetsSent: 0, bytesSent: 0 };
const seconds = (performance.now() - startedAt) / 1000;
console.log(`done: 32 MiB in ${seconds.toFixed(2)} s, ${final.packetsSent} packets`);
server.close();
