/**
 * netcat over µTP (`listen`, `connect`): stdin goes to the connection, the connection to
 * stdout. EOF on stdin half-closes (a FIN) while the peer may go on sending, and the peer's FIN
 * ends our reading while we may go on sending, so a file moves byte-exact both ways, as ucat.
 */
import type { Readable } from 'node:stream';
import type { Socket } from '../index.js';

/**
 * Feeds stdin to one connection at a time (`listen -k` serves connections in turn). Once stdin
 * has ended, each later connection gets our FIN at once.
 */
export class InputFeeder {
  private target: Socket | undefined;
  private ended = false;
  /** Bytes written to connections. */
  sent = 0;

  constructor(private readonly input: Readable) {
    input.pause();
    input.on('data', (chunk: Buffer) => {
      const target = this.target;
      if (!target) return;
      this.sent += chunk.length;
      if (!target.write(chunk)) {
        input.pause();
        target.once('drain', () => {
          if (this.target === target) input.resume();
        });
      }
    });
    input.on('end', () => {
      this.ended = true;
      this.target?.end();
    });
    input.on('error', () => {
      this.ended = true; // an unreadable stdin (closed, EIO) counts as empty
      this.target?.end();
    });
  }

  attach(socket: Socket): void {
    this.target = socket;
    if (this.ended) socket.end();
    else this.input.resume();
  }

  detach(socket: Socket): void {
    if (this.target !== socket) return;
    this.target = undefined;
    this.input.pause();
  }

  /** Lets the process exit even though stdin is still open (a terminal nobody closes). */
  release(): void {
    this.input.pause();
    this.input.destroy();
  }
}

export interface RelayResult {
  received: number;
  error: Error | undefined;
}

/** Runs one connection to its close: stdin via `feeder`, received bytes to `output`. */
export function relay(socket: Socket, feeder: InputFeeder, output: NodeJS.WritableStream): Promise<RelayResult> {
  return new Promise((resolve) => {
    let received = 0;
    let error: Error | undefined;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (!output.write(chunk)) {
        socket.pause();
        output.once('drain', () => socket.resume());
      }
    });
    socket.on('error', (e) => (error ??= e));
    socket.on('close', () => {
      feeder.detach(socket);
      resolve({ received, error });
    });
    feeder.attach(socket);
  });
}
