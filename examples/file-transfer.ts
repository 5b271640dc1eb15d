// Sends a file over µTP and checks it arrived intact (SHA-256 at both ends).
//
//   npm run build:all && node build/examples/file-transfer.js
//
// stream.pipeline() moves the bytes with backpressure: a slow disk or a slow network makes the
// other side wait instead of buffering the whole file in memory. (The `microtp send` / `recv`
// commands do the same, with a header, progress and a summary.)
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createServer, connect, type Socket } from 'microtp';

const dir = mkdtempSync(join(tmpdir(), 'microtp-example-'));
const source = join(dir, 'source.bin');
const target = join(dir, 'target.bin');
writeFileSync(source, randomBytes(8 * 1024 * 1024)); // an 8 MiB file to send
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

// The receiving side writes each connection's bytes to target.bin until the sender ends.
const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const received = once(server, 'connection').then(async ([socket]) => {
  await pipeline(socket as Socket, createWriteStream(target));
  server.close();
});

// The sending side streams the file into a connection; pipeline() ends it (a FIN) at EOF.
const startedAt = performance.now();
const client = connect(server.address()!.port, '127.0.0.1');
await once(client, 'connect');
await pipeline(createReadStream(source), client); // resolves once the peer acknowledged all of it
await received;
const seconds = (performance.now() - startedAt) / 1000;

console.log(`sent 8 MiB in ${seconds.toFixed(2)} s`);
const [sent, got] = [sha256(source), sha256(target)];
console.log(`sha256 sent     ${sent}`);
console.log(`sha256 received ${got}`);
rmSync(dir, { recursive: true });
if (sent !== got) {
  console.log('MISMATCH');
  process.exit(1);
}
console.log('OK: identical');
