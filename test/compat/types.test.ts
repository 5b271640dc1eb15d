import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The package's types through its `exports` conditions, as a consumer's TypeScript sees them: a
 * .cts file requiring microtp gets utp-native's callable API, a .mts file importing it the
 * net-like one (and utp-native's under microtp/utp-native). skipLibCheck is off, so an error in
 * the emitted declarations (dist/, built by `npm test`) fails too.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const project = mkdtempSync(path.join(tmpdir(), 'microtp-types-'));
after(() => rmSync(project, { recursive: true, force: true }));

const CTS = `import utp = require('microtp');
import same = require('microtp/utp-native');
const server: ReturnType<typeof same> = utp.createServer({ allowHalfOpen: true }, (connection) => {
  connection.setInteractive(true).setContentSize(1).setPacketSize(1).pipe(connection);
});
server.listen(0, null, () => {
  const size: number = server.setRecvBufferSize(1 << 20);
  const out = server.connect(server.address().port, '127.0.0.1');
  const host: string | undefined = out.remoteAddress;
  server.send(Buffer.from('x'), 0, 1, 6881, '127.0.0.1', (error) => void error);
  void size; void host;
});
const connections: unknown[] = server.connections;
// @ts-expect-error: the net-like API is import's, not require's
utp.createSocket();
void connections;
`;

const MTS = `import { createServer, createSocket, type Socket } from 'microtp';
import utp from 'microtp/utp-native';
const shared = createSocket('udp4');
const server = createServer((socket: Socket) => socket.pipe(socket));
utp().firewall(false);
// @ts-expect-error: utp-native's API is not the default import of 'microtp'
import('microtp').then((m) => m.default());
void shared; void server;
`;

test("a consumer's TypeScript: require('microtp') is typed as utp-native's API, import as the net-like one", { timeout: 60_000 }, async () => {
  mkdirSync(path.join(project, 'node_modules/@types'), { recursive: true });
  symlinkSync(root, path.join(project, 'node_modules/microtp'), 'dir');
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(project, 'node_modules/@types/node'), 'dir');
  writeFileSync(path.join(project, 'use.cts'), CTS);
  writeFileSync(path.join(project, 'use.mts'), MTS);
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
      files: ['use.cts', 'use.mts'],
    }),
  );
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const result = await new Promise<{ code: number; output: string }>((resolve) =>
    execFile(process.execPath, [tsc, '-p', project], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, output: stdout + stderr }),
    ),
  );
  assert.equal(result.output, '');
  assert.equal(result.code, 0);
});
