// The processes of one bottleneck run and the steps every run shares (run.ts's single flows,
// multi-flow.ts's staggered flows): the bottleneck set and empty, the echo and the pinger, idle
// pings for the base RTT, tbf sampling while the transfer runs, a watch for children that fail,
// and the ordered stop at the end. Every child is started with `ip netns exec` and killed by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { addedDelay, baseRtt, linkStats, parsePing, round, type DelayStats } from './metrics.js';
import { NS, RECEIVER_ADDR, sampleQdisc, setBottleneck, type QdiscSample, type TbfConfig } from './netns.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
export const UTP_PORT = 7001;
export const ECHO_PORT = 7002;
export const TCP_PORT = 7003;

/** Every child we started and that has not exited, for the emergency cleanup. */
const live = new Set<ChildProcess>();

export class Child {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  private stderr = '';
  private waiters: Array<{ prefix: string; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  private exited: Promise<void>;
  exitInfo: string | undefined;

  constructor(
    readonly label: string,
    ns: string,
    cmd: string,
    args: string[],
    onLine?: (line: string) => void,
  ) {
    // `ip netns exec` execs the command in place, so proc.pid is the worker itself.
    this.proc = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      onLine?.(line);
      for (const w of [...this.waiters]) {
        if (line.startsWith('ERROR')) w.reject(new Error(`${this.label}: ${line}`));
        else if (line.startsWith(w.prefix)) w.resolve(line);
        else continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
      }
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.exitInfo = `spawn failed: ${err.message}`;
        this.failWaiters();
        live.delete(this.proc);
        resolve();
      });
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = `exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        live.delete(this.proc);
        // Let the last stdout lines arrive before failing whoever still waits.
        setImmediate(() => this.failWaiters());
        resolve();
      });
    });
  }

  private failWaiters(): void {
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.label} ${this.exitInfo}`));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && this.exitInfo === undefined;
  }

  /** The first line (already seen or to come) starting with `prefix`. */
  waitFor(prefix: string, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((l) => l.startsWith(prefix) || l.startsWith('ERROR'));
    if (seen) return seen.startsWith('ERROR') ? Promise.reject(new Error(`${this.label}: ${seen}`)) : Promise.resolve(seen);
    if (!this.running) return Promise.reject(new Error(`${this.label} ${this.exitInfo}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== res);
        reject(new Error(`${this.label}: no '${prefix}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const res = (l: string): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ prefix, resolve: res, reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  errorLine(): string | undefined {
    return this.lines.find((l) => l.startsWith('ERROR'));
  }

  /** SIGTERM by PID, SIGKILL by PID after 2 s. */
  async stop(): Promise<void> {
    if (!this.running || this.proc.pid === undefined) return this.exited;
    const pid = this.proc.pid;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

export function killAllNow(): void {
  for (const p of live) {
    if (p.pid === undefined) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
}

export const nodeWorker = (label: string, ns: string, args: string[], onLine?: (l: string) => void): Child =>
  new Child(label, ns, process.execPath, [WORKER, ...args], onLine);

async function waitQueueEmpty(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const q = await sampleQdisc();
    if (q.backlog === 0) return;
    await sleep(100);
  }
  throw new Error('bottleneck queue did not drain within 5 s');
}

export interface PathMetrics {
  summary: { baseRttMs: number; baseRttMinMs: number; delay: DelayStats; linkUtilPct?: number; tbfDrops?: number };
  pings: Array<[number, number | null]>; // [s since t0, added delay ms | null = lost]
  qdisc: Array<[number, number, number]>; // [s since t0, backlog bytes, drops so far]
  rel: (t: number) => number; // epoch ms -> s since t0
  w0: number; // the window, epoch ms
  w1: number;
}

/** One run through the bottleneck: its children, its tbf samples. */
export class PathRun {
  readonly children: Child[] = [];
  readonly qdisc: QdiscSample[] = [];
  ping: Child | undefined;
  private sampling = false;
  private sampler: Promise<void> | undefined;

  /** `maxS`: every child ends itself after that many seconds. */
  constructor(
    readonly tbf: TbfConfig,
    readonly maxS: string,
  ) {}

  add<C extends Child>(child: C): C {
    this.children.push(child);
    return child;
  }

  /**
   * Sets the bottleneck and waits for its queue to be empty, starts the echo, the pinger and
   * the receivers `startReceivers` makes, and lets `baseS` seconds of idle pings measure the
   * base RTT once the receivers are ready.
   */
  async open(pingHz: number, baseS: number, startReceivers: () => Child[]): Promise<void> {
    setBottleneck(this.tbf);
    await waitQueueEmpty();
    const echo = this.add(nodeWorker('echo', NS.receiver, ['echo', RECEIVER_ADDR, String(ECHO_PORT), this.maxS]));
    await echo.waitFor('READY', 10_000);
    this.ping = this.add(nodeWorker('ping', NS.sender, ['ping', RECEIVER_ADDR, String(ECHO_PORT), String(pingHz), this.maxS]));
    const receivers = startReceivers().map((c) => this.add(c));
    await Promise.all(receivers.map((c) => c.waitFor('READY', 10_000)));
    await this.ping.waitFor('R ', 5000); // the echo path works
    await sleep(baseS * 1000); // idle pings: the base RTT
  }

  /** Samples the tbf counters every 200 ms until stopSampling(). */
  startSampling(): void {
    this.sampling = true;
    this.sampler = (async () => {
      while (this.sampling) {
        try {
          this.qdisc.push(await sampleQdisc());
        } catch {
          /* a missed sample only thins the series */
        }
        await sleep(200);
      }
    })();
  }

  async stopSampling(): Promise<void> {
    this.sampling = false;
    await this.sampler;
  }

  /** Waits until `deadline` (epoch ms), failing as soon as a child reports ERROR or exits. */
  async runUntil(deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      for (const c of this.children) {
        const e = c.errorLine();
        if (e) throw new Error(`${c.label}: ${e}`);
        if (!c.running) throw new Error(`${c.label} ${c.exitInfo}`);
      }
      await sleep(Math.min(250, Math.max(1, deadline - Date.now())));
    }
  }

  /**
   * The end of the transfer: sampling stops, then the senders, then the receivers (late ERRORs,
   * e.g. a receiver timing out after its sender is gone, do not count) while the pings still in
   * the queue come back (it drains within `queueMs`), so they do not count as lost.
   */
  async finish(senders: Array<Child | undefined>, receivers: Array<Child | undefined>, queueMs: number): Promise<void> {
    await this.stopSampling();
    await Promise.all(senders.map((c) => c?.stop()));
    await Promise.all([...receivers.map((c) => c?.stop()), sleep(queueMs + 300)]);
    await this.close();
  }

  /**
   * Runs the transfer until `seconds` after t0 (epoch ms, when the first flow connected), ends
   * it (finish), and measures what every run measures of the path: the base RTT (idle pings
   * before t0), the added delay of the pings sent in `window` (seconds after t0), link use and
   * tbf drops there; and the ping and tbf series, in seconds after t0.
   */
  async complete(t0: number, seconds: number, window: readonly [number, number], senders: Array<Child | undefined>, receivers: Array<Child | undefined>, queueMs: number): Promise<PathMetrics> {
    await this.runUntil(t0 + seconds * 1000);
    await this.finish(senders, receivers, queueMs);
    const rel = (t: number): number => round((t - t0) / 1000);
    const w0 = t0 + window[0] * 1000;
    const w1 = t0 + window[1] * 1000;
    const pings = parsePing(this.ping!.lines);
    const base = baseRtt(pings, t0);
    if (base === undefined) throw new Error('no base RTT: no idle ping came back');
    const added = addedDelay(pings, base.median, t0, w0, w1);
    const d0 = this.qdisc[0]?.drops ?? 0;
    return {
      summary: { baseRttMs: round(base.median), baseRttMinMs: round(base.min), delay: added.delay, ...linkStats(this.qdisc, w0, w1, this.tbf.rateBps) },
      pings: added.series,
      qdisc: this.qdisc.map((q) => [rel(q.t), q.backlog, q.drops - d0]),
      rel,
      w0,
      w1,
    };
  }

  /**
   * Runs `body` (the run: open, start, complete, fill `result`), marks `result` ok or records
   * its error, and stops every child either way: one run's failure does not end the bench.
   */
  async attempt<R extends { ok: boolean; error?: string }>(result: R, body: () => Promise<void>): Promise<R> {
    try {
      await body();
      result.ok = true;
    } catch (err) {
      result.error = err instanceof Error ? err.message : String(err);
    } finally {
      await this.close();
    }
    return result;
  }

  /** Stops everything (also after a failure). */
  async close(): Promise<void> {
    await this.stopSampling();
    await Promise.all(this.children.map((c) => c.stop()));
  }
}

export type UtpStack = 'microtp' | 'utp-native';
/** microtp's congestionControl option for every microtp process; undefined: the library default. */
export type MicrotpCc = 'ledbat' | 'ledbat++' | undefined;

/** The µTP receiver of one run: accepts every flow on UTP_PORT and counts each one's bytes. */
export function utpReceiver(stack: UtpStack, cc: MicrotpCc, maxS: string): Child {
  return nodeWorker(`${stack} receiver`, NS.receiver, ['recv', stack, RECEIVER_ADDR, String(UTP_PORT), cc ?? '-', maxS]);
}

/** One sender process for all flows of a run: flow i connects startsMs[i] after flow 0 (startsMs[0] = 0). */
export function utpSender(stack: UtpStack, cc: MicrotpCc, startsMs: readonly number[], maxS: string): Child {
  return nodeWorker(`${stack} sender`, NS.sender, ['send', stack, RECEIVER_ADDR, String(UTP_PORT), startsMs.join(','), cc ?? '-', maxS]);
}
