/**
 * Runs the BUILT `microtp` command (dist/cli/main.js, what `npx microtp` runs) in a child
 * process: feed stdin, collect stdout and stderr, wait for a line on stderr, send signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

export const CLI = new URL('../../../dist/cli/main.js', import.meta.url).pathname;

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Settles when the process exits; a process still running after `timeoutMs` is killed. */
  done: Promise<Finished>;
  stderr(): string;
  /** Starts reading stdout (after `stallStdout`). */
  readStdout(): void;
  /** Resolves with the first match of `pattern` in stderr (rejects if the process exits first). */
  waitStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Same for stdout (text). */
  waitStdout(pattern: RegExp): Promise<RegExpMatchArray>;
}

export interface StartOptions {
  /** Bytes for stdin, then EOF; 'keep' leaves stdin open (a pipe nobody writes to); default: EOF at once. */
  stdin?: Buffer | string | 'keep';
  /**
   * Don't read stdout until `readStdout()`: a receiver whose output nobody drains (its window
   * closes, then it blocks in write(2): stdout pipes are synchronous on Linux).
   */
  stallStdout?: boolean;
  timeoutMs?: number;
  cwd?: string;
}

export function start(args: string[], options: StartOptions = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe', ...(options.cwd ? { cwd: options.cwd } : {}) });
  const stdout: Buffer[] = [];
  let stderr = '';
  const watchers: Array<() => void> = [];
  let exited = false;
  const readStdout = (): void => {
    child.stdout!.on('data', (b: Buffer) => {
      stdout.push(b);
      watchers.forEach((w) => w());
    });
    child.stdout!.resume(); // a 'data' listener alone does not undo an explicit pause()
  };
  if (options.stallStdout) child.stdout!.pause();
  else readStdout();
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    watchers.forEach((w) => w());
  });
  child.stdin!.on('error', () => {}); // the command may exit before reading all of it
  if (options.stdin !== 'keep') child.stdin!.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      watchers.forEach((w) => w());
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
  });
  const waitFor = (text: () => string, pattern: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(text());
        if (match) resolve(match);
        else if (exited) reject(new Error(`exited without ${pattern}; stderr:\n${stderr}`));
        else return;
        watchers.splice(watchers.indexOf(check), 1);
      };
      watchers.push(check);
      check();
    });
  return {
    child,
    done,
    stderr: () => stderr,
    readStdout,
    waitStderr: (pattern) => waitFor(() => stderr, pattern),
    waitStdout: (pattern) => waitFor(() => Buffer.concat(stdout).toString('utf8'), pattern),
  };
}

export function run(args: string[], options: StartOptions = {}): Promise<Finished> {
  return start(args, options).done;
}

/** The port a `listening on host:port` line names. */
export async function listeningPort(process: Running): Promise<number> {
  const match = await process.waitStderr(/listening on \S*:(\d+)/);
  return Number(match[1]);
}

/** A UDP port that was free a moment ago (for commands that print nothing with --json). */
export async function freeUdpPort(type: 'udp4' | 'udp6' = 'udp4'): Promise<number> {
  const socket = createSocket(type);
  socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  return port;
}

/** Whether this machine has IPv6 loopback (containers may not). */
export async function hasIPv6Loopback(): Promise<boolean> {
  const socket = createSocket('udp6');
  try {
    socket.bind(0, '::1');
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}
