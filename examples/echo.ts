// An echo server and a client, over µTP on loopback.
//
//   npm run build:all && node build/examples/echo.js
//
// microtp's createServer/connect are shaped like node:net's, and its sockets are ordinary
// Duplex streams, so an echo server is one pipe().
import { once } from 'node:events';
import { createServer, connect } from 'microtp';

// The server sends back whatever it receives. When the client ends its side, pipe() ends ours.
const server = createServer((socket) => {
  console.log(`server: connection from ${socket.remoteAddress}:${socket.remotePort}`);
  socket.pipe(socket);
});
server.listen(0, '127.0.0.1'); // port 0: the OS picks a free UDP port
await once(server, 'listening');
const { port } = server.address()!;
console.log(`server: listening on 127.0.0.1:${port} (UDP)`);

const client = connect(port, '127.0.0.1');
await once(client, 'connect');

let echoed = '';
client.setEncoding('utf8');
client.on('data', (text: string) => (echoed += text));
client.write('hello ');
client.end('µTP'); // write the rest and half-close: the server's pipe() then ends its side too
await once(client, 'end');
console.log(`client: echoed "${echoed}"`);

// close() stops accepting; 'close' fires once the (already finished) connection is gone.
server.close();
await once(server, 'close');
