/**
 * Opening µTP endpoints for the subcommands, with failures turned into messages the user can act
 * on (a port in use, nothing listening, no answer): a CliError, printed without a stack.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from '../index.js';
import { explainError, formatAddress } from './args.js';
import { CliError } from './command.js';

/** A server of half-open connections, listening on address:port once this resolves. */
export async function listenOn(address: string, port: number, onConnection?: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.listen(port, address);
  await once(server, 'listening').catch((error: unknown) => {
    throw new CliError(explainError(error, formatAddress(address, port)));
  });
  return server;
}

/** Resolves once `socket` (from connect()) is connected to `peer` (host:port, for the message). */
export async function connected(socket: Socket, peer: string): Promise<void> {
  await once(socket, 'connect').catch((error: unknown) => {
    throw new CliError(explainError(error, peer));
  });
}
