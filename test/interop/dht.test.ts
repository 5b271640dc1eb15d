// bittorrent-dht sharing one UDP port with µTP through the utp-native socket API (issue 7), the
// way discovery-swarm (dat) wires it: `const socket = utp()` is handed to bittorrent-dht as its
// UDP socket (k-rpc-socket uses `opts.socket` instead of creating a dgram socket and calls
// send(buf, offset, len, port, host, cb), bind(), address(), close(), and listens for 'message',
// 'error' and 'listening'), while the same socket accepts and opens µTP connections.
//
// Stack switch (see test/helpers/utp-native-stack.ts): by default `require('utp-native')`
// resolves, through a symlinked node_modules, to this repository's CommonJS entry;
// MICROTP_DHT_STACK=utp-native runs the same test against the real utp-native 2.5.3 (libutp),
// which proves the test itself:
//
//   MICROTP_DHT_STACK=utp-native node --test build/test/interop/dht.test.js
//
// The DHT is five nodes on 127.0.0.1 with local bootstrap only (never the public routers):
// three on plain dgram sockets (bittorrent-dht's default) and two on utp() sockets, wired the
// two ways real code does:
// - the announcer, as discovery-swarm does: socket.listen(0) first, then bittorrent-dht gets the
//   already-bound socket and never binds it;
// - the looker, as a DHT user would: bittorrent-dht's own listen() binds the utp() socket.
// The real discovery-swarm is checked by hand (test/interop/manual/discovery-swarm.cjs).
//
// It runs in about 3 s on microtp, 0.5 s on utp-native: destroying the DHTs closes the utp()
// sockets, whose 'close' waits out the 3 s linger of the gracefully closed µTP connection.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { after, test } from 'node:test';
import DHT from 'bittorrent-dht';
import { seededBytes, firstDifference } from '../helpers/random.js';
import { requireUtpNative, STACK, type UtpNativeConnection, type UtpNativeSocket } from '../helpers/utp-native-stack.js';

const HOST = '127.0.0.1';
const CHUNK = 16 * 1024;
const PAYLOAD = Buffer.from(seededBytes(0xd47, 1024 * 1024));
// Two distinct info-hashes: one announced before the transfer, one while it runs.
const INFO_HASH = Buffer.alloc(20, 0x11);
const INFO_HASH_DURING = Buffer.alloc(20, 0x22);

const { utp, cleanup } = requireUtpNative();
after(cleanup);

interface Node {
  name: string;
  dht: DHT;
  port: number;
  /** The utp() socket under the DHT, when it has one. */
  socket?: UtpNativeSocket;
}

/** Fails the test on any DHT 'error' (k-rpc-socket forwards only EACCES and EADDRINUSE there). */
function watchErrors(node: Node, errors: Error[]): Node {
  node.dht.on('error', (error: Error) => errors.push(new Error(`${node.name}: ${error.message}`)));
  return node;
}

async function ready(dht: DHT): Promise<void> {
  if (!dht.ready) await once(dht, 'ready');
}

/** A node on bittorrent-dht's own dgram socket. */
async function plainNode(name: string, bootstrap: false | string[]): Promise<Node> {
  const dht = new DHT({ bootstrap });
  await new Promise<void>((resolve) => dht.listen(0, HOST, resolve));
  return { name, dht, port: dht.address().port };
}

/** discovery-swarm's wiring: the utp() socket listens first; the DHT gets it bound. */
async function discoverySwarmNode(name: string, bootstrap: string[], onConnection: (c: UtpNativeConnection) => void): Promise<Node> {
  const socket = utp();
  socket.on('connection', onConnection);
  const listening = once(socket, 'listening');
  socket.listen(0, HOST);
  await listening;
  const dht = new DHT({ bootstrap, socket });
  return { name, dht, port: socket.address().port, socket };
}

/** The DHT binds the utp() socket itself, through k-rpc-socket's bind(). */
async function dhtBoundNode(name: string, bootstrap: string[]): Promise<Node> {
  const socket = utp();
  const dht = new DHT({ bootstrap, socket });
  await new Promise<void>((resolve) => dht.listen(0, HOST, resolve));
  return { name, dht, port: socket.address().port, socket };
}

/** Looks infoHash up from node; resolves with the peers found through a remote node (not node's own store). */
async function lookupRemote(node: Node, infoHash: Buffer): Promise<{ host: string; port: number }[]> {
  const found: { host: string; port: number }[] = [];
  const onPeer = (peer: { host: string; port: number }, hash: Buffer, from: unknown): void => {
    if (from && hash.equals(infoHash)) found.push(peer);
  };
  node.dht.on('peer', onPeer);
  try {
    await new Promise<void>((resolve, reject) => node.dht.lookup(infoHash, (error) => (error ? reject(error) : resolve())));
  } finally {
    node.dht.removeListener('peer', onPeer);
  }
  return found;
}

function announce(node: Node, infoHash: Buffer): Promise<void> {
  // Port 0 announces implied_port: the DHT stores the source port of the announce, i.e. the
  // shared socket's port; discovery-swarm announces this way when it runs on utp.
  return new Promise((resolve, reject) => node.dht.announce(infoHash, 0, (error) => (error ? reject(error) : resolve())));
}

function destroy(node: Node): Promise<void> {
  return new Promise((resolve) => node.dht.destroy(() => resolve()));
}

test(`bittorrent-dht and µTP share one port through utp() (${STACK})`, { timeout: 60_000 }, async () => {
  const errors: Error[] = [];
  const echoed: UtpNativeConnection[] = [];
  const seed = watchErrors(await plainNode('plain-0', false), errors);
  const boot = [`${HOST}:${seed.port}`];
  const plain1 = watchErrors(await plainNode('plain-1', boot), errors);
  const plain2 = watchErrors(await plainNode('plain-2', boot), errors);
  const announcer = watchErrors(
    await discoverySwarmNode('announcer', [...boot, `${HOST}:${plain1.port}`], (connection) => {
      echoed.push(connection);
      connection.pipe(connection); // echo, ending our side when the peer ends its own
    }),
    errors,
  );
  const looker = watchErrors(await dhtBoundNode('looker', [...boot, `${HOST}:${plain2.port}`]), errors);
  const nodes = [seed, plain1, plain2, announcer, looker];
  // Every KRPC message is a bencoded dictionary ('d'...'e'); anything else reaching the DHT's
  // 'message' listener on a shared socket is µTP traffic that leaked out of the demultiplexer.
  const leaked: string[] = [];
  for (const node of [announcer, looker]) {
    node.socket!.on('message', (data: Buffer) => {
      if (data[0] !== 0x64) leaked.push(`${node.name}: ${data.subarray(0, 4).toString('hex')}… (${data.length} bytes)`);
    });
  }
  try {
    await Promise.all(nodes.map((n) => ready(n.dht)));

    await announce(announcer, INFO_HASH);
    const peers = await lookupRemote(looker, INFO_HASH);
    const peer = peers.find((p) => p.port === announcer.port);
    assert.ok(peer, `looker found the announcer (port ${announcer.port}) through the DHT; found ${JSON.stringify(peers)}`);

    // µTP from the looker's DHT socket to the port the DHT gave us, which is the announcer's DHT port.
    const connection = looker.socket!.connect(peer.port, peer.host);
    const received: Buffer[] = [];
    let receivedBytes = 0;
    connection.on('data', (data: Buffer) => {
      received.push(data);
      receivedBytes += data.length;
    });
    const ended = once(connection, 'end');
    const firstEcho = once(connection, 'data');
    await once(connection, 'connect');

    // Everything but the last chunk goes out now; the last one waits until the DHT operations
    // below have completed, so they run while the connection is mid-transfer (no timing).
    const last = PAYLOAD.length - CHUNK;
    for (let off = 0; off < last; off += CHUNK) {
      if (!connection.write(PAYLOAD.subarray(off, off + CHUNK))) await once(connection, 'drain');
      if (off === 0) await firstEcho;
    }
    assert.ok(receivedBytes > 0 && receivedBytes < PAYLOAD.length, 'the transfer is running');

    // DHT traffic on both shared sockets while the transfer runs: the announcer announces a
    // second hash, the looker finds it, and a plain node finds the first one.
    await announce(announcer, INFO_HASH_DURING);
    const [during, fromPlain] = await Promise.all([lookupRemote(looker, INFO_HASH_DURING), lookupRemote(plain2, INFO_HASH)]);
    assert.ok(during.some((p) => p.port === announcer.port), `looker found the second announce: ${JSON.stringify(during)}`);
    assert.ok(fromPlain.some((p) => p.port === announcer.port), `plain node found the announcer: ${JSON.stringify(fromPlain)}`);
    assert.ok(receivedBytes < PAYLOAD.length, 'the DHT operations completed before the transfer did');

    connection.end(PAYLOAD.subarray(last));
    await ended;
    const echo = Buffer.concat(received);
    assert.equal(echo.length, PAYLOAD.length, 'echo length');
    assert.equal(firstDifference(echo, PAYLOAD), -1, 'echo is byte-exact');
    assert.equal(echoed.length, 1, 'the announcer accepted one µTP connection');
    assert.equal(echoed[0]!.remotePort, looker.port, 'and it came from the looker’s DHT port');
    assert.deepEqual(errors, []);
    assert.deepEqual(leaked.slice(0, 5), [], `no µTP datagram reached 'message' (${leaked.length} did)`);
    if (!connection.destroyed) await once(connection, 'close');
  } finally {
    await Promise.all(nodes.map(destroy));
  }
});
