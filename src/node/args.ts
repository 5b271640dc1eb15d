import { isIP, SocketAddress } from 'node:net';
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

/** A UDP buffer size the kernel could be asked for (SO_RCVBUF / SO_SNDBUF take an int). */
export function validateBufferSize(bytes: unknown): number {
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes <= 0 || bytes > 0x7fffffff) {
    throw new UtpError('ERR_SOCKET_BAD_BUFFER_SIZE', `buffer size must be a positive integer below 2^31, got ${String(bytes)}`);
  }
  return bytes;
}

export function familyOf(address: string): 'IPv4' | 'IPv6' {
  return isIP(address) === 6 ? 'IPv6' : 'IPv4';
}

export function udpTypeFor(address: string | undefined): 'udp4' | 'udp6' {
  return address !== undefined && isIP(address) === 6 ? 'udp6' : 'udp4';
}

/**
 * The one spelling of an IP address that the OS reports in rinfo (inet_ntop: IPv6 lower-case and
 * zero-compressed, IPv4-mapped IPv6 as `::ffff:a.b.c.d`). The core demultiplexes by the exact
 * string, so `'0:0:0:0:0:0:0:1'` must become `'::1'` or the peer's replies match nothing.
 * A zone (`%eth0`) is kept as given. Not an IP literal: returned unchanged (the caller resolves it).
 */
export function canonicalAddress(address: string): string {
  // Many connects name the same peer (10,000 clients of one server: SocketAddress cost ~8 us each).
  if (address === lastCanonical.input) return lastCanonical.output;
  const output = canonicalize(address);
  lastCanonical.input = address;
  lastCanonical.output = output;
  return output;
}

/** canonicalAddress's last answer: a one-entry cache. */
const lastCanonical = { input: '', output: '' };

function canonicalize(address: string): string {
  const percent = address.indexOf('%');
  const bare = percent < 0 ? address : address.slice(0, percent);
  const version = isIP(bare);
  if (version === 0) return address;
  // SocketAddress parses with inet_pton and prints with inet_ntop, as rinfo is printed.
  const canonical = new SocketAddress({ address: bare, family: version === 6 ? 'ipv6' : 'ipv4' }).address;
  return percent < 0 ? canonical : canonical + address.slice(percent);
}

/**
 * An IP literal as a socket of `type` reaches it: canonical, an IPv4 address mapped into IPv6 on
 * a udp6 socket (dual stack; rinfo reports IPv4 peers that way), an IPv4-mapped one unmapped on
 * a udp4 socket (which cannot send to IPv6 at all).
 */
export function addressFor(type: 'udp4' | 'udp6', address: string): string {
  const canonical = canonicalAddress(address);
  const version = isIP(canonical);
  if (type === 'udp6' && version === 4) return `::ffff:${canonical}`;
  if (type === 'udp4' && version === 6 && canonical.startsWith('::ffff:') && isIP(canonical.slice(7)) === 4) return canonical.slice(7);
  return canonical;
}

/**
 * Whether a datagram's source can be answered at all. dgram.send throws synchronously for port 0,
 * and the unspecified, multicast and broadcast addresses are never a legitimate source (RFC 1122
 * 3.2.1.3, RFC 4291 2.7): answering them would reflect our replies to a whole segment. Such
 * datagrams are spoofed; the driver drops them before any state is made. Port and address are
 * checked apart: the driver checks an address only when it differs from the last valid one.
 */
export function isValidSourcePort(port: number): boolean {
  return port > 0 && port <= 0xffff;
}

/** The address half: not unspecified, multicast or broadcast (see isValidSourcePort). */
export function isValidSourceAddress(address: string): boolean {
  const colon = address.indexOf(':');
  if (colon < 0) return validIPv4Source(address);
  if (address === '::') return false;
  // ff00::/8 multicast: a first group of four digits starting "ff" (rinfo prints lower case).
  if (colon === 4 && address.charCodeAt(0) === 0x66 && address.charCodeAt(1) === 0x66) return false;
  if (address.startsWith('::ffff:') && address.indexOf('.') > 0) return validIPv4Source(address.slice(7));
  return true;
}

function validIPv4Source(address: string): boolean {
  const first = Number.parseInt(address, 10);
  // 0.0.0.0/8 is "this network" (never a source to answer); 224/4 multicast, 240/4 reserved and
  // 255.255.255.255 broadcast.
  return first > 0 && first < 224;
}
