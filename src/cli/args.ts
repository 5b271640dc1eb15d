/** Argument parsing shared by the subcommands: node:util parseArgs, ports, hosts. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, UsageError } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

/** parseArgs in strict mode; its errors (unknown option, missing value) become UsageErrors. */
export function parseCommandLine<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A port from the command line: an integer 1..65535 (0 too where the OS may pick one). */
export function parsePort(text: string | undefined, allowZero = false): number {
  if (text === undefined) throw new UsageError('a port is missing');
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  const low = allowZero ? 0 : 1;
  if (!Number.isInteger(port) || port < low || port > 65535) {
    throw new UsageError(`port must be a whole number from ${low} to 65535, got "${text}"`);
  }
  return port;
}

/** A host as typed: `[::1]` (URL style) and `::1` are the same. */
export function parseHost(text: string): string {
  if (text.startsWith('[') && text.endsWith(']')) return text.slice(1, -1);
  if (text === '') throw new UsageError('the host is empty');
  return text;
}

/** `[host] <port>` (listen, recv): a lone argument is the port. */
export function hostAndPort(positionals: string[], defaultHost: string, allowZero: boolean): { host: string; port: number } {
  if (positionals.length === 0) throw new UsageError('a port is missing');
  if (positionals.length > 2) throw new UsageError(`too many arguments: ${positionals.slice(2).join(' ')}`);
  const [first, second] = positionals as [string, string | undefined];
  if (second === undefined) return { host: defaultHost, port: parsePort(first, allowZero) };
  return { host: parseHost(first), port: parsePort(second, allowZero) };
}

/** An IP address for a host name or literal (dns.lookup: /etc/hosts and the system resolver). */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new CliError(`cannot resolve host "${host}" (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** The port a server got (0 asked the OS for any free one). */
export function boundPort(server: { address(): { port: number } | null }): number {
  return server.address()?.port ?? 0;
}

/** host:port as people write it: brackets around IPv6. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `--qlog <dir>`: the library writes a trace per connection there (MICROTP_QLOG, read at connection creation). */
export function applyQlog(dir: string | undefined): void {
  if (dir !== undefined) process.env['MICROTP_QLOG'] = dir;
}

/** What to tell the user for a connection error, by code. */
export function explainError(error: unknown, target: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return `${target} refused the connection: nothing listens there (start the receiving side first)`;
    case 'ETIMEDOUT':
      return `no answer from ${target} (is it running, and is UDP to that port allowed?)`;
    case 'ECONNRESET':
      return `${target} reset the connection`;
    case 'EADDRINUSE':
      return `${target} is already in use (pick another port, or 0 for any free one)`;
    case 'EADDRNOTAVAIL':
      return `${target}: that address is not on this machine`;
    default:
      return `${target}: ${(error as Error | undefined)?.message ?? String(error)}${code ? ` (${code})` : ''}`;
  }
}
