// `npm start`: a first look at microtp. A server and a client in this one
// process talk µTP over loopback: the client sends 64 MiB, the server answers
// with the SHA-256 of what it received, and the client checks it. The API
// mirrors node:net: createServer/listen/address/close, connect, and sockets
// that are ordinary Duplex streams.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect } from '../src/index.js';

const SIZE = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const data = randomBytes(SIZE);
const expected = createHash('sha256').update(data).digest('hex');

// Give up instead of hanging if something goes wrong (unref: don't keep us alive).
setTimeout(() => {
  console.error('demo: did not finish (transfer and close) within 60 s');
  process.exit(1);
}, 60_000).unref();

// The server hashes everything it receives and, when the client ends its
// side, replies with the digest and closes. One connection, then it stops.
const server = createServer({}, (socket) => {
  const hash = createHash('sha256');
  socket.on('data', (chunk: Buffer) => hash.update(chunk));
  socket.on('end', () => {
    socket.end(hash.digest('hex'));
    server.close();
  });
});

server.listen(0, '127.0.0.1');
await once(server, 'listening');
const address = server.address();
if (!address || typeof address !== 'object') throw new Error('server has no address');
console.log(`µTP server listening on 127.0.0.1:${address.port}`);

const client = connect(address.port, '127.0.0.1');
await once(client, 'connect');
const startedAt = performance.now();

let reply = '';
client.setEncoding('utf8');
client.on('data', (text: string) => (reply += text));

// Write in 1 MiB pieces; write() returns false when the socket's buffer is
// full, and 'drain' says when to continue (backpressure, as with TCP).
for (let offset = 0; offset < SIZE; offset += CHUNK) {
  if (!client.write(data.subarray(offset, offset + CHUNK))) await once(client, 'drain');
}
client.end();

await once(client, 'end'); // the server's digest has arrived
const seconds = (performance.now() - startedAt) / 1000;
console.log(`sent 64 MiB in ${seconds.toFixed(2)} s = ${(SIZE / 1024 / 1024 / seconds).toFixed(1)} MiB/s`);
if (reply !== expected) {
  console.log(`FAILED: server saw sha256 ${reply}, expected ${expected}`);
  process.exit(1);
}
console.log('OK');
