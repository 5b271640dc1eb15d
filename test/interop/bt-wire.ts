// A deliberately small BitTorrent peer (one torrent, one connection) on top of
// bittorrent-protocol, usable over ANY stream.Duplex: node:net for TCP or a
// microtp Socket for uTP. It is the JS half of the libtorrent interop test.
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import Wire from 'bittorrent-protocol';

export const BLOCK_SIZE = 16 * 1024;

export interface TorrentMeta {
  infoHash: string; // hex, 20-byte v1 info hash
  pieceLength: number;
  length: number;
  pieceHashes: string[]; // hex SHA-1 per piece
}

export interface WireOptions {
  peerId?: Uint8Array;
  /** Outstanding block requests kept in flight by the downloader. */
  pipeline?: number;
  log?: (msg: string) => void;
}

/** Azureus-style peer id, so libtorrent sees something plausible. */
export function makePeerId(): Uint8Array {
  return Buffer.concat([Buffer.from('-MT0001-'), randomBytes(12)]);
}

export function sha1Hex(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function pieceCount(meta: TorrentMeta): number {
  return Math.ceil(meta.length / meta.pieceLength);
}

export function pieceSize(meta: TorrentMeta, index: number): number {
  return Math.min(meta.pieceLength, meta.length - index * meta.pieceLength);
}

/**
 * Connect a socket and a Wire in both directions with backpressure. We pump by
 * hand instead of pipe() because the Wire is a streamx stream and the two
 * pipe() implementations only loosely agree; this is explicit and typed.
 */
function attach(socket: Duplex, wire: Wire): void {
  socket.on('data', (chunk: Buffer) => {
    if (!wire.write(chunk)) {
      socket.pause();
      wire.once('drain', () => socket.resume());
    }
  });
  wire.on('data', (chunk) => {
    if (!socket.write(chunk)) {
      wire.pause();
      socket.once('drain', () => wire.resume());
    }
  });
  socket.on('end', () => wire.end());
  socket.on('close', () => wire.destroy());
  // Errors on the socket surface through 'close'; the callers watch the socket.
  socket.on('error', () => wire.destroy());
  wire.on('end', () => socket.end());
  wire.on('error', (err) => socket.destroy(err));
}

function checkInfoHash(meta: TorrentMeta, got: string): string | null {
  return got === meta.infoHash.toLowerCase() ? null : `info hash mismatch: got ${got}, want ${meta.infoHash}`;
}

/**
 * Download the whole torrent from the peer at the other end of `socket`
 * (we initiate the handshake). Every piece is SHA-1 checked as it completes.
 * Resolves with the assembled file; rejects if the connection closes early or
 * a piece fails its hash. The caller owns and eventually closes `socket`.
 */
export function download(socket: Duplex, meta: TorrentMeta, opts: WireOptions = {}): Promise<Buffer> {
  const log = opts.log ?? (() => {});
  const pipeline = opts.pipeline ?? 32;
  const numPieces = pieceCount(meta);
  const file = Buffer.alloc(meta.length);
  const blocksLeft = new Array<number>(numPieces);
  // Queue of blocks not yet requested (or to re-request after a choke).
  const queue: Array<{ piece: number; offset: number; length: number }> = [];
  for (let p = 0; p < numPieces; p++) {
    const size = pieceSize(meta, p);
    blocksLeft[p] = Math.ceil(size / BLOCK_SIZE);
    for (let off = 0; off < size; off += BLOCK_SIZE) {
      queue.push({ piece: p, offset: off, length: Math.min(BLOCK_SIZE, size - off) });
    }
  }
  let piecesLeft = numPieces;
  let inFlight = 0;

  return new Promise<Buffer>((resolve, reject) => {
    const wire = new Wire();
    let settled = false;
    const fail = (msg: string): void => {
      if (settled) return;
      settled = true;
      log(`download failed: ${msg}`);
      wire.destroy();
      reject(new Error(msg));
    };

    const onBlock = (piece: number, offset: number, block: Uint8Array): void => {
      file.set(block, piece * meta.pieceLength + offset);
      const left = (blocksLeft[piece] ?? 0) - 1;
      blocksLeft[piece] = left;
      if (left > 0) return;
      const start = piece * meta.pieceLength;
      const got = sha1Hex(file.subarray(start, start + pieceSize(meta, piece)));
      if (got !== meta.pieceHashes[piece]) return fail(`piece ${piece} failed SHA-1 check`);
      if (--piecesLeft === 0) {
        settled = true;
        log(`download complete: ${meta.length} bytes`);
        wire.uninterested();
        resolve(file);
      }
    };

    const fill = (): void => {
      // Only ask for pieces the peer announced (a seed announces all of them).
      while (!settled && !wire.peerChoking && inFlight < pipeline) {
        const i = queue.findIndex((b) => wire.peerPieces.get(b.piece));
        if (i < 0) return;
        const b = queue.splice(i, 1)[0]!;
        inFlight++;
        wire.request(b.piece, b.offset, b.length, (err, block) => {
          inFlight--;
          if (settled) return;
          if (err || !block) {
            // A choke cancels outstanding requests; ask again after unchoke.
            if (wire.peerChoking) return void queue.push(b);
            return fail(`request ${b.piece}/${b.offset} failed: ${err?.message ?? 'no data'}`);
          }
          if (block.length !== b.length) return fail(`block ${b.piece}/${b.offset} has ${block.length} bytes`);
          onBlock(b.piece, b.offset, block);
          fill();
        });
      }
    };

    attach(socket, wire);
    wire.on('handshake', (infoHash, peerId) => {
      log(`handshake from peer ${Buffer.from(peerId, 'hex').toString('latin1').slice(0, 8)}`);
      const err = checkInfoHash(meta, infoHash);
      if (err) return fail(err);
    });
    const onPieces = (): void => {
      wire.interested();
      fill();
    };
    wire.on('bitfield', onPieces);
    wire.on('have-all', onPieces);
    wire.on('have', onPieces);
    wire.on('unchoke', () => {
      log('unchoked');
      fill();
    });
    wire.on('choke', () => log('choked'));
    socket.on('error', (err: NodeJS.ErrnoException) => fail(`socket error ${err.code ?? ''}: ${err.message}`));
    socket.on('close', () => fail(`connection closed with ${piecesLeft}/${numPieces} pieces missing`));
    wire.handshake(meta.infoHash, opts.peerId ?? makePeerId());
  });
}

export interface Seeder {
  /** Payload bytes sent so far. */
  readonly uploaded: number;
  /** Why we hung up, if we did (e.g. wrong info hash). */
  readonly error: string | null;
  /** Settles when the connection closes; never rejects. */
  readonly closed: Promise<void>;
}

/**
 * Serve `data` to the peer at the other end of `socket`, which initiates the
 * handshake. The caller reads `uploaded` whenever it likes: libtorrent drops
 * the connection once it has finished, but how fast that close is noticed is
 * the transport's business, not the transfer's.
 */
export function seed(socket: Duplex, meta: TorrentMeta, data: Uint8Array, opts: WireOptions = {}): Seeder {
  const log = opts.log ?? (() => {});
  const numPieces = pieceCount(meta);
  const wire = new Wire();
  let error: string | null = null;
  attach(socket, wire);
  wire.on('handshake', (infoHash, peerId) => {
    log(`handshake from peer ${Buffer.from(peerId, 'hex').toString('latin1').slice(0, 8)}`);
    error = checkInfoHash(meta, infoHash);
    if (error) {
      log(error);
      return wire.destroy();
    }
    wire.handshake(meta.infoHash, opts.peerId ?? makePeerId());
    // Full bitfield, MSB first; spare bits in the last byte must stay 0.
    const bits = new Uint8Array(Math.ceil(numPieces / 8));
    for (let i = 0; i < numPieces; i++) bits[i >> 3]! |= 0x80 >> (i & 7);
    wire.bitfield(bits);
    wire.unchoke();
  });
  wire.on('interested', () => log('peer interested'));
  wire.on('request', (index, offset, length, respond) => {
    const start = index * meta.pieceLength + offset;
    if (index >= numPieces || length > BLOCK_SIZE * 8 || offset + length > pieceSize(meta, index)) {
      return respond(new Error(`bad request ${index}/${offset}/${length}`));
    }
    respond(null, data.subarray(start, start + length));
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      log(`seed connection closed, uploaded ${wire.uploaded} bytes`);
      resolve();
    });
  });
  return {
    get uploaded() {
      return wire.uploaded;
    },
    get error() {
      return error;
    },
    closed,
  };
}
