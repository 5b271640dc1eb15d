// The BitTorrent peer wire protocol over µTP, as BitTorrent clients speak it: the
// `bittorrent-protocol` package (webtorrent's) on top of a microtp socket.
//
//   npm run build:all && node build/examples/bittorrent-wire.js
//
// A seed with one 64 KiB piece and a leecher connect over µTP, handshake, and the leecher
// downloads the piece block by block and checks its SHA-1 as a torrent client would.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import Wire from 'bittorrent-protocol';
import { createServer, connect } from 'microtp';

const PIECE = randomBytes(64 * 1024);
const PIECE_SHA1 = createHash('sha1').update(PIECE).digest('hex');
const BLOCK = 16 * 1024;
const INFO_HASH = randomBytes(20).toString('hex'); // would come from the .torrent file
const peerId = (name: string): Buffer => Buffer.concat([Buffer.from(`-MT0001-${name}`), randomBytes(20)]).subarray(0, 20);

// Wire is a streamx stream: connect it to the socket both ways by hand, with backpressure.
function attach(socket: Duplex, wire: Wire): void {
  socket.on('data', (data: Buffer) => {
    if (!wire.write(data)) {
      socket.pause();
      wire.once('drain', () => socket.resume());
    }
  });
  wire.on('data', (data) => {
    if (!socket.write(data)) {
      wire.pause();
      socket.once('drain', () => wire.resume());
    }
  });
  socket.on('end', () => wire.end());
  wire.on('end', () => socket.end());
  socket.on('error', () => wire.destroy());
}

// The seed: answers the handshake, says it has piece 0, unchokes, serves block requests.
const server = createServer((socket) => {
  const wire = new Wire();
  attach(socket, wire);
  wire.on('handshake', (infoHash) => {
    console.log(`seed: handshake for ${infoHash.slice(0, 8)}…`);
    wire.handshake(INFO_HASH, peerId('seed'));
    wire.bitfield(Buffer.from([0b1000_0000])); // piece 0
  });
  wire.on('interested', () => wire.unchoke());
  wire.on('request', (index, offset, length, respond) => respond(null, PIECE.subarray(offset, offset + length)));
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');

// The leecher: connects, handshakes, and once unchoked requests the piece's four blocks.
const socket = connect(server.address()!.port, '127.0.0.1');
await once(socket, 'connect');
const wire = new Wire();
attach(socket, wire);
wire.handshake(INFO_HASH, peerId('leech'));
wire.on('handshake', (_infoHash, id) => console.log(`leecher: handshake from ${Buffer.from(id, 'hex').subarray(0, 12).toString()}`));
wire.on('bitfield', () => wire.interested());
await once(wire as unknown as NodeJS.EventEmitter, 'unchoke');
console.log('leecher: unchoked, requesting piece 0');

const blocks = await Promise.all(
  Array.from({ length: PIECE.length / BLOCK }, (_, i) =>
    new Promise<Uint8Array>((resolve, reject) =>
      wire.request(0, i * BLOCK, BLOCK, (error, block) => (error || !block ? reject(error ?? new Error('no block')) : resolve(block))),
    ),
  ),
);
const sha1 = createHash('sha1').update(Buffer.concat(blocks)).digest('hex');
console.log(`leecher: piece 0 SHA-1 ${sha1} ${sha1 === PIECE_SHA1 ? 'OK' : 'MISMATCH'}`);

wire.end(); // ends the socket too; the seed's side follows
server.close();
await once(server, 'close');
process.exitCode = sha1 === PIECE_SHA1 ? 0 : 1;
