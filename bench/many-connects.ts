/**
 * Diagnostic, not part of `npm test` or `npm run bench`: N simultaneous connects to one server on
 * loopback, each writing 100 bytes and reading them back. Prints how many clients failed, with
 * which code, and whether the failure came after 'connect'; plus the server's endpoint counters.
 *
 *   npm run build:all && node build/bench/many-connects.js [N=10000]
 */
import { connect, createServer, type Socket } from '../src/index.js';

const n = Number(process.argv[2] ?? 10_000);
const server = createServer((socket: Socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.name));

server.listen(0, '127.0.0.1', () => {
  const port = server.address()!.port;
  const failures = new Map<string, number>();
  let ok = 0;
  let done = 0;
  const started = performance.now();
  const finish = (): void => {
    if (++done < n) return;
    const shared = (server as unknown as { shared?: { endpoint: { counters: unknown; size: number } } }).shared;
    console.log(
      JSON.stringify(
        { n, ok, failures: Object.fromEntries(failures), ms: Math.round(performance.now() - started), warnings, server: shared?.endpoint.counters },
        null,
        1,
      ),
    );
    server.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  for (let i = 0; i < n; i++) {
    const client = connect(port, '127.0.0.1');
    let connected = false;
    let settled = false;
    client.on('connect', () => {
      connected = true;
      client.write(Buffer.alloc(100, i & 0xff));
    });
    let got = 0;
    client.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= 100 && !settled) {
        settled = true;
        ok++;
        client.end();
        finish();
      }
    });
    client.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      const key = `${error.code}${connected ? ' after connect' : ' before connect'}`;
      failures.set(key, (failures.get(key) ?? 0) + 1);
      finish();
    });
  }
});
