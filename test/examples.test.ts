import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';

/**
 * Every example in examples/ runs to completion by itself on loopback, as a reader would run it
 * (`node build/examples/<name>.js`, importing `microtp` by its package name).
 */

const examples: Array<[name: string, expected: RegExp[]]> = [
  ['echo', [/client: echoed "hello µTP"/]],
  ['file-transfer', [/OK: identical/]],
  ['stats-loop', [/rtt +qdelay +cwnd/, /done: 32 MiB in/]],
  ['bittorrent-wire', [/seed: handshake/, /leecher: piece 0 SHA-1 [0-9a-f]{40} OK/]],
  ['shared-socket-dht', [/A: DHT and µTP both on UDP 127\.0\.0\.1:(\d+)/, /B: the DHT says 127\.0\.0\.1:\d+ has the torrent/, /B: µTP says: hello over µTP/]],
];

describe('examples/', () => {
  for (const [name, expected] of examples) {
    test(name, async () => {
      const script = new URL(`../examples/${name}.js`, import.meta.url).pathname;
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [script], { timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
      });
      assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
      for (const pattern of expected) assert.match(stdout, pattern);
    });
  }
});
