import { isIP } from 'node:net';
import { UtpError } from '../protocol/errors.js';

/** Argument checks for the public API: misuse throws at once, with a `code`. */

export function validatePort(port: unknown, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw new UtpError('ERR_SOCKET_BAD_PORT', `port should be an integer ${allowZero ? '>= 0' : '> 0'} and < 65536, got ${String(port)}`);
  }
  return n;
}

export function validateHost(host: unknown): string | undefined {
  if (host === undefined || host === null) return undefined;
  if (typeof host !== 'string' || host === '') {
    throw new UtpError('ERR_INVALID_ARG_TYPE', `host must be a non-empty string, got ${typeof host}`);
  }
  return host;
}

export function familyOf(address: string): 'IPv4' | 'IPv6' {
  return isIP(address) === 6 ? 'IPv6' : 'IPv4';
}

export function udpTypeFor(address: string | undefined): 'udp4' | 'udp6' {
  return address !== undefined && isIP(address) === 6 ? 'udp6' : 'udp4';
}
