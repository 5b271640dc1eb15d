/**
 * One BitTorrent transfer between a real webtorrent (test/clients/wt-driver.mjs, its own
 * process) and libtorrent (test/interop/lt_peer.py, TCP off), over µTP on loopback. Shared by
 * test/interop/webtorrent.test.ts (pass/fail, with the µTP-only evidence) and
 * bench/webtorrent.ts (times). It returns the evidence; callers decide what to assert.
 *
 * Stacks: "microtp" is webtorrent exactly as installed in test/clients, where the name
 * utp-native is this checkout. "utp-native" starts the same driver with
 * `node -r test/clients/real-utp-native.cjs`, which points that name at the real libutp
 * binding (the root devDependency) - the measurement switch for the comparison, not an
 * adapter.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJsonChild, type JsonChild, type JsonLine } from '../helpers/json-child.js';

export const PYTHON = '/usr/bin/python3';
// Compiled to build/test/interop/; these files are not copied, so point at the sources.
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLIENTS_DIR = join(REPO_ROOT, 'test', 'clients');
const LT_PEER = join(REPO_ROOT, 'test', 'interop', 'lt_peer.py');
const DRIVER = join(CLIENTS_DIR, 'wt-driver.mjs');
const REAL_UTP_NATIVE = join(CLIENTS_DIR, 'real-utp-native.cjs');

/** The pinned releases in test/clients/package.json, by the driver's --wt. */
export const WEBTORRENT = { '2': '2.8.5', '3': '3.0.21' } as const;
export type WtMajor = keyof typeof WEBTORRENT;
export type Stack = 'microtp' | 'utp-native';
/** Who has the file at the start. */
export type Direction = 'webtorrent-seeds' | 'libtorrent-seeds';

export const INSTALL_COMMAND = 'npm run build && npm ci --prefix test/clients --ignore-scripts --no-audit --no-fund';

/** Why test/clients cannot run (not installed, or half), or null if it can. */
export function clientsMissing(): string | null {
  for (const major of Object.keys(WEBTORRENT) as WtMajor[]) {
    if (!existsSync(join(CLIENTS_DIR, 'node_modules', `webtorrent${major}`, 'package.json'))) return `test/clients/node_modules/webtorrent${major} is not installed`;
  }
  const link = join(CLIENTS_DIR, 'node_modules', 'utp-native');
  if (!existsSync(link) || realpathSync(link) !== realpathSync(REPO_ROOT)) return 'test/clients/node_modules/utp-native is not the link to this checkout';
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js'))) return 'dist/ is not built (npm run build)';
  return null;
}

export const hasLibtorrent = spawnSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0;

/** True if the file that answered webtorrent's require('utp-native') is this checkout's, not an installed package. */
export function isMicrotp(utpModule: string | null | undefined): boolean {
  if (!utpModule) return false;
  const file = realpathSync(utpModule);
  return file.startsWith(realpathSync(REPO_ROOT) + sep) && !file.includes(`${sep}node_modules${sep}`);
}

export interface TransferOptions {
  wt: WtMajor;
  direction: Direction;
  stack: Stack;
  bytes: number;
  /** Whole transfer, startup included; children are killed when it passes. */
  timeoutMs: number;
  /**
   * Negative control: webtorrent with utp: false and libtorrent with only TCP (lt_peer.py
   * --tcp), to show the µTP evidence in the result does tell TCP apart.
   */
  tcp?: boolean;
  echoStderr?: boolean;
}

export interface TransferResult {
  /** The downloader's own clock: its first connect attempt (libtorrent) / addPeer (webtorrent) to its last piece. */
  seconds: number;
  sha256: string;
  expectedSha256: string;
  /** What webtorrent's require('utp-native') loaded (from the driver). */
  utpModule: string | null;
  webtorrent: string;
  /** webtorrent's wire.type for every peer connection it had. */
  wtWires: string[];
  /** TCP sockets webtorrent opened or accepted (diagnostics_channel). */
  wtTcp: JsonLine[];
  /** libtorrent's peer_info for every peer connection (utp = utp_socket flag). */
  ltPeers: JsonLine[];
  /** libtorrent's incoming_connection / peer_connect alerts (utp = socket type). */
  ltConnections: JsonLine[];
}

function withDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out`)), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** On failure, say what every child printed last: the cause is usually in one of them. */
function annotate(err: unknown, children: Array<[string, JsonChild]>): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  for (const [name, c] of children) {
    // JsonChild's own errors already quote their child's stderr.
    if (!e.message.includes(c.stderrTail(3))) e.message += `\n--- ${name} stderr (tail):\n${c.stderrTail(40)}`;
    e.message += `\n--- ${name} last stdout lines: ${JSON.stringify(c.lines.slice(-3))}`;
  }
  return e;
}

export async function transfer(opts: TransferOptions): Promise<TransferResult> {
  const deadline = Date.now() + opts.timeoutMs;
  const dir = await mkdtemp(join(tmpdir(), `microtp-wt${opts.wt}-`));
  // Not a multiple of the 256 KiB piece: exercises the short last piece.
  const data = randomBytes(opts.bytes);
  const dataPath = join(dir, 'data.bin');
  await writeFile(dataPath, data);
  const expectedSha256 = createHash('sha256').update(data).digest('hex');

  const driver = (args: string[]): JsonChild =>
    startJsonChild(`webtorrent ${WEBTORRENT[opts.wt]} (${opts.stack})`, process.execPath, [...(opts.stack === 'utp-native' ? ['-r', REAL_UTP_NATIVE] : []), DRIVER, ...args, '--wt', opts.wt, ...(opts.tcp ? ['--tcp'] : [])], {
      cwd: CLIENTS_DIR,
      echoStderr: !!opts.echoStderr,
    });
  const ltPeer = (args: string[]): JsonChild => startJsonChild('lt_peer.py', PYTHON, [LT_PEER, ...args, '--peer-info', ...(opts.tcp ? ['--tcp'] : [])], { echoStderr: !!opts.echoStderr });
  const children: Array<[string, JsonChild]> = [];
  const events = (c: JsonChild, event: string): JsonLine[] => c.lines.filter((l) => l.event === event);
  /** The downloader's figures, webtorrent's identity (from whichever line reported it) and the evidence both printed. */
  const result = (
    done: { seconds: number; sha256: string },
    identity: { utpModule: string | null; webtorrent: string },
    wt: JsonChild,
    lt: JsonChild,
  ): TransferResult => ({
    seconds: done.seconds,
    sha256: done.sha256,
    expectedSha256,
    utpModule: identity.utpModule,
    webtorrent: identity.webtorrent,
    wtWires: events(wt, 'wire').map((l) => String(l['type'])),
    wtTcp: events(wt, 'tcp'),
    ltPeers: events(lt, 'peer'),
    ltConnections: events(lt, 'connection'),
  });

  try {
    if (opts.direction === 'webtorrent-seeds') {
      const wt = driver(['seed', '--data', dataPath]);
      children.push(['webtorrent', wt]);
      const ready = await withDeadline(wt.waitFor<{ port: number; torrentPath: string; utpModule: string | null; webtorrent: string }>('ready'), deadline, 'webtorrent seed startup');
      await mkdir(join(dir, 'lt'));
      const lt = ltPeer(['download', join(dir, 'lt'), '--data', dataPath, '--torrent', ready.torrentPath, '--peer-port', String(ready.port), '--timeout', String(Math.max(1, (deadline - Date.now()) / 1000))]);
      children.push(['libtorrent', lt]);
      const done = await withDeadline(lt.waitFor<{ ok: boolean; sha256: string; seconds: number; error?: string }>('done'), deadline, 'libtorrent download');
      if (done.error) throw new Error(`libtorrent download: ${done.error}`);
      await lt.stop();
      // The seed's own summary comes as it stops; its "wire"/"tcp" lines were printed live.
      await wt.stop();
      return result(done, ready, wt, lt);
    } else {
      const lt = ltPeer(['seed', join(dir, 'lt'), '--data', dataPath]);
      children.push(['libtorrent', lt]);
      const ready = await withDeadline(lt.waitFor<{ port: number; torrentPath: string }>('ready'), deadline, 'libtorrent seed startup');
      const wt = driver(['download', '--torrent', ready.torrentPath, '--dir', join(dir, 'wt'), '--peer', `127.0.0.1:${ready.port}`]);
      children.push(['webtorrent', wt]);
      const done = await withDeadline(wt.waitFor<{ seconds: number; sha256: string; utpModule: string | null; webtorrent: string }>('done'), deadline, 'webtorrent download');
      await wt.stop();
      await lt.stop();
      return result(done, done, wt, lt);
    }
  } catch (err) {
    throw annotate(err, children);
  } finally {
    for (const [, c] of children) c.kill();
    await Promise.all(children.map(([, c]) => c.exited));
    await rm(dir, { recursive: true, force: true });
  }
}
