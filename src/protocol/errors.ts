/**
 * Errors with stable `code`s. Socket-level codes are the POSIX names Node users already branch on;
 * misuse of the API gets `ERR_*` codes. Nothing a peer sends is ever thrown: it is counted,
 * dropped, or ends its connection with one of these as the reason.
 */

export type UtpErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_SOCKET_BAD_PORT'
  | 'ERR_SOCKET_BAD_BUFFER_SIZE'
  | 'ABORT_ERR'
  | 'ERR_SOCKET_NOT_BOUND'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_SERVER_ALREADY_LISTEN'
  | 'ERR_SERVER_NOT_RUNNING';

export class UtpError extends Error {
  readonly code: UtpErrorCode | string;
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
