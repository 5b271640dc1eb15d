// One UDP port for both a DHT and µTP connections, as BitTorrent clients run them.
//
//   npm run build:all && node build/examples/shared-socket-dht.js
//
// `bittorrent-dht` takes a socket with dgram's send/bind/address/close and 'message' events;
// microtp's utp-native-compatible socket (`microtp/utp-native`) is one, and it also accepts and
// opens µTP connections on the same port. Incoming datagrams are told apart: µTP packets go to
// the connections, bencoded DHT messages (and anything else) to 'message', that is to the DHT.
//
// Here node A runs its DHT and a µTP server on ONE port and announces itself for an info hash;
// node B (a plain DHT) finds A through the DHT and connects to the announced port over µTP.
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import DHT from 'bittorrent-dht';
import { connect } from 'microtp';
import utp from 'microtp/utp-native';

const HOST = '127.0.0.1';
const INFO_HASH = randomBytes(20);

// Node A: one socket. µTP connections get a greeting; DHT traffic goes to bittorrent-dht.
const socket = utp();
socket.on('connection', (connection) => connection.end('hello over µTP, from the DHT port\n'));
socket.listen(0, HOST);
await once(socket, 'listening');
const port = socket.address().port;
const dhtA = new DHT({ bootstrap: false, socket }); // the DHT uses our socket instead of its own
console.log(`A: DHT and µTP both on UDP ${HOST}:${port}`);

// Node B: a plain DHT node that bootstraps from A (no public routers: loopback only).
const dhtB = new DHT({ bootstrap: [`${HOST}:${port}`] });
dhtB.listen(0, HOST);
await once(dhtB as unknown as NodeJS.EventEmitter, 'ready');

// A announces "I have INFO_HASH" with port 0 (implied_port: the announce's source port, i.e.
// the shared socket's); B looks the hash up and gets A's address back.
await new Promise<void>((resolve, reject) => dhtA.announce(INFO_HASH, 0, (error) => (error ? reject(error) : resolve())));
const peers: Array<{ host: string; port: number }> = [];
dhtB.on('peer', (peer: { host: string; port: number }) => peers.push(peer));
await new Promise<void>((resolve, reject) => dhtB.lookup(INFO_HASH, (error) => (error ? reject(error) : resolve())));
const found = peers.find((peer) => peer.port === port);
if (!found) throw new Error(`the DHT did not return A's port ${port}: ${JSON.stringify(peers)}`);
console.log(`B: the DHT says ${found.host}:${found.port} has the torrent`);

// B connects over µTP to the port the DHT gave: the same UDP port A's DHT answers on.
const connection = connect(found.port, found.host);
let greeting = '';
connection.setEncoding('utf8').on('data', (text: string) => (greeting += text));
await once(connection, 'end');
console.log(`B: µTP says: ${greeting.trim()}`);

// Destroying A's DHT closes its socket (which waits for its µTP connection to finish closing).
await Promise.all([
  new Promise<void>((resolve) => dhtA.destroy(() => resolve())),
  new Promise<void>((resolve) => dhtB.destroy(() => resolve())),
]);
