/**
 * The framing of `microtp send` / `microtp recv` (documented in docs/cli.md):
 *
 *   sender -> receiver   `microtp-file/1 {"name":"<basename>","size":<bytes>}\n`
 *                        <size bytes of the file>
 *                        `sha256 <64 hex digits>\n`, then FIN
 *   receiver -> sender   `sha256 <64 hex digits>\n` (what it received and wrote), then FIN
 *                        or `error <message>\n`, then FIN, to refuse (e.g. the file exists)
 *
 * The header gives the receiver the size (for percent and ETA) and a name to save under; the
 * sender's digest comes last so the file is read only once; each end compares the two digests.
 */

import { CliError } from './command.js';

export const HEADER_PREFIX = 'microtp-file/1 ';
export const MAX_LINE = 4096;

export interface FileHeader {
  name: string;
  size: number;
}

export function encodeHeader(header: FileHeader): string {
  return `${HEADER_PREFIX}${JSON.stringify(header)}\n`;
}

export function decodeHeader(line: string): FileHeader {
  if (!line.startsWith(HEADER_PREFIX)) {
    throw new Error('the peer did not send a microtp file header (is it "microtp send"?)');
  }
  const parsed = JSON.parse(line.slice(HEADER_PREFIX.length)) as Partial<FileHeader>;
  if (typeof parsed.name !== 'string' || !Number.isSafeInteger(parsed.size) || (parsed.size as number) < 0) {
    throw new Error('a malformed microtp file header');
  }
  return { name: parsed.name, size: parsed.size as number };
}

export function digestLine(hex: string): string {
  return `sha256 ${hex}\n`;
}

/** The hex digest from a `sha256 <hex>` line, or an Error for an `error ...` line or garbage. */
export function parseDigestLine(line: string | undefined): string | Error {
  if (line === undefined) return new Error('the peer closed without sending its sha256');
  const match = /^sha256 ([0-9a-f]{64})$/.exec(line);
  if (match) return match[1]!;
  if (line.startsWith('error ')) return new CliError(`the peer refused: ${line.slice(6)}`);
  return new Error(`an unexpected line from the peer: ${JSON.stringify(line.slice(0, 80))}`);
}

/** A name from the peer, reduced to a plain file name in the current directory. */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\x00-\x1f]/g, '');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'received.bin' : cleaned;
}
