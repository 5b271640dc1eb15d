// One side of a traced bulk transfer, for bench/trace-example/run.sh (each side in its own
// network namespace):   node build/bench/trace-example/transfer.js receiver <host> <port>
//                       node build/bench/trace-example/transfer.js sender <host> <port> <MiB>
// Both sides record a qlog file when MICROTP_QLOG is set (run.sh sets it).
import { connect, createServer } from '../../src/index.js';

const [role, host = '127.0.0.1', portText = '0', mibText = '16'] = process.argv.slice(2);
const port = Number(portText);

if (role === 'receiver') {
  const server = createServer((socket) => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => {
      console.error(`receiver: ${bytes} bytes`);
      socket.end();
      server.close();
    });
  });
  server.listen(port, host, () => console.error(`receiver: listening on ${host}:${port}`));
} else if (role === 'sender') {
  const total = Number(mibText) * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const socket = connect(port, host);
  const start = Date.now();
  socket.on('connect', async () => {
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end();
  });
  socket.resume();
  socket.on('close', () => console.error(`sender: ${total} bytes in ${((Date.now() - start) / 1000).toFixed(2)} s`));
} else {
  console.error('usage: transfer.js receiver|sender <host> <port> [MiB]');
  process.exitCode = 2;
}
