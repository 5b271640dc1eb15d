/** The far end of `microtp bench`: `microtp bench --serve <port>`, and the loopback self-test's child. */
import type { Socket } from '../../index.js';
import { boundPort, formatAddress } from '../args.js';
import { EXIT_OK } from '../command.js';
import { listenOn } from '../endpoints.js';
import { watchInterrupt } from '../interrupt.js';
import { StreamReader } from '../stream-reader.js';
import { HEADER_PREFIX, PING_BYTES, type BenchHeader, type SinkReply } from './protocol.js';

/** What the sink prints on stdout once it listens (the self-test reads the port from it). */
export const SINK_READY = /sink listening on (\S+)/;

/** The sink: serves bench clients, any number at once, until Ctrl-C or SIGTERM. */
export async function serve(address: string, port: number): Promise<number> {
  const server = await listenOn(address, port, (socket) => {
    socket.on('error', () => {}); // a client that goes away is its own business
    void sinkOne(socket).catch(() => socket.destroy());
  });
  process.stdout.write(`microtp bench: sink listening on ${formatAddress(address, boundPort(server))}\n`);
  const interrupt = watchInterrupt();
  const terminated = new Promise((resolve) => process.once('SIGTERM', resolve));
  await Promise.race([interrupt.signalled, terminated]);
  interrupt.dispose();
  server.close();
  return EXIT_OK;
}

async function sinkOne(socket: Socket): Promise<void> {
  socket.setNoDelay(true);
  const reader = new StreamReader(socket);
  const line = (await reader.readLine(4096)) ?? '';
  if (!line.startsWith(HEADER_PREFIX)) throw new Error('not a bench client');
  const { pings, size } = JSON.parse(line.slice(HEADER_PREFIX.length)) as BenchHeader;
  for (let i = 0; i < pings; i++) {
    for await (const chunk of reader.take(PING_BYTES)) socket.write(chunk);
  }
  let first: number | undefined;
  const cpuBefore = process.cpuUsage();
  let bytes = 0;
  for await (const chunk of reader.take(size)) {
    first ??= performance.now();
    bytes += chunk.length;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const ms = first === undefined ? 0 : performance.now() - first;
  const reply: SinkReply = { bytes, ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  socket.end(JSON.stringify(reply) + '\n');
  await reader.atEnd();
}
