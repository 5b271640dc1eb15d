/**
 * Errors with stable `code`s. Socket-level codes are the POSIX names Node users already branch on;
 * misuse of the API gets `ERR_*` codes. Nothing a peer sends is ever thrown: it is counted,
 * dropped, or ends its connection with one of these as the reason.
 */

/**
 * The `code`s of the errors microtp's API gives, to branch on as with `net` and `dgram`.
 * Connection failures arrive as a {@link Socket}'s `'error'` event; bad arguments throw at once.
 * Besides these, `code` can be `EPIPE` (a write after the connection closed),
 * `ERR_OUT_OF_RANGE` (a bad `timeout`), `ERR_SOCKET_ALREADY_BOUND` (a second `bind()`), a
 * `dns.lookup` code (`ENOTFOUND`...) or the OS's code when it keeps refusing our datagrams
 * (`EHOSTUNREACH`, `ENETUNREACH`, `EACCES`, rarely `EMSGSIZE`).
 *
 * @example
 * ```ts
 * import { connect, type UtpErrorCode } from 'microtp';
 *
 * const socket = connect(6881, '192.0.2.7');
 * socket.on('error', (error: Error & { code?: UtpErrorCode | string }) => {
 *   if (error.code === 'ECONNREFUSED') console.error('nothing listens on that port');
 *   else if (error.code === 'ETIMEDOUT') console.error('no answer');
 *   else console.error(error);
 * });
 * ```
 */
export type UtpErrorCode =
  /** The peer answered our SYN with a RESET: nothing listens there, or it is full. */
  | 'ECONNREFUSED'
  /** The peer reset the connection. */
  | 'ECONNRESET'
  /** The connect, the retransmissions of the same data, or the idle timeout ran out. */
  | 'ETIMEDOUT'
  /** The UDP port is taken (an `'error'` event of the Server or SharedSocket, from `dgram`). */
  | 'EADDRINUSE'
  /** An argument of the wrong type (a host that is not a non-empty string...). */
  | 'ERR_INVALID_ARG_TYPE'
  /** An argument of the right type but a bad value (socket `type`, `congestionControl`). */
  | 'ERR_INVALID_ARG_VALUE'
  /** A port that is not an integer from 1 (0 where binding) to 65535. */
  | 'ERR_SOCKET_BAD_PORT'
  /** A UDP buffer size that is not a positive integer below 2^31. */
  | 'ERR_SOCKET_BAD_BUFFER_SIZE'
  /** The `signal` given to `connect()` aborted (an `AbortError`, the reason as `cause`). */
  | 'ABORT_ERR'
  /** utp-native's `address()` before bind or after close. */
  | 'ERR_SOCKET_NOT_BOUND'
  /** A connect, bind or send on a socket that was closed. */
  | 'ERR_SOCKET_CLOSED'
  /** `Server#listen()` on a server that is listening already. */
  | 'ERR_SERVER_ALREADY_LISTEN'
  /** A Server method that needs `listen()` first, or a second `close()`. */
  | 'ERR_SERVER_NOT_RUNNING';

/**
 * An error of microtp with a stable {@link UtpError.code}: thrown for bad arguments, and given
 * to `'error'` listeners for connection failures (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`).
 * Errors from Node itself (`dgram`'s `EADDRINUSE`, `dns`'s `ENOTFOUND`) reach you unwrapped,
 * so branch on `code`, not on `instanceof UtpError`.
 *
 * @example
 * ```ts
 * import { connect, UtpError } from 'microtp';
 *
 * try {
 *   connect(70000, '127.0.0.1');
 * } catch (error) {
 *   if (error instanceof UtpError && error.code === 'ERR_SOCKET_BAD_PORT') console.error(error.message);
 * }
 * ```
 */
export class UtpError extends Error {
  /** What went wrong, stable across versions: one of {@link UtpErrorCode} or an OS error code. */
  readonly code: UtpErrorCode | string;
  /**
   * microtp makes these itself; you would only to mimic its errors (in a test double, say).
   *
   * @param code The error's {@link UtpError.code}.
   * @param message A human-readable explanation.
   */
  constructor(code: UtpErrorCode | string, message: string) {
    super(message);
    this.name = 'UtpError';
    this.code = code;
  }
}

export function connectionRefused(): UtpError {
  return new UtpError('ECONNREFUSED', 'uTP connection refused by peer (RESET in reply to SYN)');
}

export function connectionReset(): UtpError {
  return new UtpError('ECONNRESET', 'uTP connection reset by peer');
}

export function timedOut(what: string): UtpError {
  return new UtpError('ETIMEDOUT', `uTP ${what} timed out`);
}

/** The OS refused to send our datagrams (EHOSTUNREACH, ENETUNREACH, EACCES, EMSGSIZE...). */
export function sendFailed(code: string): UtpError {
  return new UtpError(code, `uTP send failed: ${code}`);
}
