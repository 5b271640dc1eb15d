/**
 * A child process that reports on stdout in JSON lines (test/interop/lt_peer.py,
 * test/clients/wt-driver.mjs): read its lines in order, wait for a given event, keep the tail
 * of its stderr for failure messages, and stop it (stdin EOF first, SIGKILL if it lingers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type JsonLine = Record<string, unknown> & { event?: string };

export interface JsonChild {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Every line parsed so far, consumed or not, in order. */
  readonly lines: JsonLine[];
  /** Next unconsumed line; rejects if the child's stdout ends first. */
  next<T>(): Promise<T>;
  /**
   * Consume lines up to the first whose "event" is `event`. Rejects on an {"event":"error"}
   * line (the drivers' way to fail) or if stdout ends first.
   */
  waitFor<T>(event: string): Promise<T>;
  stderrTail(lines?: number): string;
  /** Close stdin (the children's stop signal) and wait up to `ms` for exit, then SIGKILL. */
  stop(ms?: number): Promise<void>;
  kill(): void;
}

export interface JsonChildOptions {
  cwd?: string;
  /** Also copy the child's stderr to ours (debugging). */
  echoStderr?: boolean;
}

export function startJsonChild(name: string, command: string, args: string[], opts: JsonChildOptions = {}): JsonChild {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  // A child that died before we wrote to it must not kill us with EPIPE.
  child.stdin!.on('error', () => {});
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr = (stderr + s).slice(-16_000);
    if (opts.echoStderr) process.stderr.write(s);
  });
  const lines: JsonLine[] = [];
  let cursor = 0;
  const waiters: Array<() => void> = [];
  let ended = false;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as JsonLine);
    } catch {
      lines.push({ event: 'unparsed', line });
    }
    waiters.splice(0).forEach((w) => w());
  });
  rl.on('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stderrTail = (n = 25): string => stderr.split('\n').slice(-n).join('\n');

  const next = <T>(): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const take = (): void => {
        if (cursor < lines.length) resolve(lines[cursor++] as T);
        else if (ended) reject(new Error(`${name} exited early; stderr:\n${stderrTail()}`));
        else waiters.push(take);
      };
      take();
    });

  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  return {
    child,
    exited,
    lines,
    next,
    async waitFor<T>(event: string): Promise<T> {
      for (;;) {
        const line = await next<JsonLine>();
        if (line.event === event) return line as T;
        if (line.event === 'error') throw new Error(`${name}: ${String(line['message'])}; stderr:\n${stderrTail()}`);
      }
    },
    stderrTail,
    async stop(ms = 5_000): Promise<void> {
      child.stdin!.end();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
      await Promise.race([exited, late]).finally(() => clearTimeout(timer));
      kill();
      await exited;
    },
    kill,
  };
}
