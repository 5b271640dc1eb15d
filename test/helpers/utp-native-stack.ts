/**
 * The utp-native API as a CommonJS user gets it (issue 7): `require('utp-native')` from a
 * temporary app directory whose `node_modules/utp-native` is a symlink, so Node resolves the
 * package by name through its package.json `exports`/`main`, exactly as after
 * `npm install utp-native@npm:microtp`. Importing our TypeScript sources instead would skip the
 * CommonJS entry, which is the part a utp-native user actually loads.
 *
 * MICROTP_DHT_STACK selects what the symlink points at:
 * - unset or `microtp`: this repository (its CommonJS entry, built into dist/ by `npm run build`);
 * - `utp-native`: the real utp-native 2.5.3 (libutp) from node_modules, which proves the tests
 *   themselves: a test that fails there is a wrong test, not a microtp bug.
 */
import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';

export type StackName = 'microtp' | 'utp-native';

export const STACK: StackName = (() => {
  const value = process.env['MICROTP_DHT_STACK'] ?? 'microtp';
  if (value !== 'microtp' && value !== 'utp-native') {
    throw new Error(`MICROTP_DHT_STACK must be 'microtp' or 'utp-native', got '${value}'`);
  }
  return value;
})();

export interface UtpNativeRemoteInfo {
  address: string;
  family: string;
  port: number;
}

/** A connection as utp-native hands it out (a Duplex with the remote's address). */
export interface UtpNativeConnection extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** The socket `utp()` returns: a UDP socket (what bittorrent-dht sees) and a µTP server/client. */
export interface UtpNativeSocket extends EventEmitter {
  readonly connections: UtpNativeConnection[];
  maxConnections: number;
  bind(port?: number, host?: string | (() => void), onListening?: () => void): void;
  listen(port?: number, host?: string | (() => void), onListening?: () => void): void;
  connect(port: number, host?: string): UtpNativeConnection;
  send(buf: Buffer, offset: number, length: number, port: number, host: string, callback?: (error: Error | null) => void): void;
  address(): UtpNativeRemoteInfo;
  close(onClose?: () => void): void;
  firewall(yes: boolean): void;
  setTTL(ttl: number): void;
  ref(): void;
  unref(): void;
}

export interface UtpNativeApi {
  (options?: { allowHalfOpen?: boolean }): UtpNativeSocket;
  createServer(onConnection?: (connection: UtpNativeConnection) => void): UtpNativeSocket;
  connect(port: number, host?: string): UtpNativeConnection;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // from build/test/helpers/

/**
 * Loads the selected stack by the name `utp-native` through a symlinked node_modules. Returns
 * the API and a cleanup that removes the temporary directory (the module stays cached).
 */
export function requireUtpNative(stack: StackName = STACK): { utp: UtpNativeApi; cleanup: () => void } {
  const app = mkdtempSync(join(tmpdir(), 'microtp-cjs-'));
  mkdirSync(join(app, 'node_modules'));
  const target = stack === 'utp-native' ? join(REPO_ROOT, 'node_modules', 'utp-native') : REPO_ROOT;
  symlinkSync(target, join(app, 'node_modules', 'utp-native'), 'dir');
  const require = createRequire(join(app, 'app.js'));
  const resolved = require.resolve('utp-native');
  // microtp must come from its package.json `require` condition (a .cjs file in dist/), not from
  // `main` (the ESM build) nor from sources: that entry is what an aliased install loads.
  if (stack === 'microtp' && !(resolved.startsWith(join(REPO_ROOT, 'dist')) && resolved.endsWith('.cjs'))) {
    throw new Error(`require('utp-native') resolved to ${resolved}, not microtp's CommonJS entry in dist/`);
  }
  const utp = require('utp-native') as UtpNativeApi;
  if (typeof utp !== 'function') throw new Error(`require('utp-native') (${resolved}) is not utp-native's callable API`);
  return { utp, cleanup: () => rmSync(app, { recursive: true, force: true }) };
}
