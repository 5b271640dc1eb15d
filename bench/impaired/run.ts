// Impaired-link benchmark: microtp's goodput against libutp's (utp-native,
// 1 MiB kernel UDP buffers) through a userspace relay that drops, duplicates,
// delays, reorders and rate-limits datagrams with seeded randomness; both
// stacks cross the same seeded link in the same run.
//
//   npx tsc -p tsconfig.all.json && node build/bench/impaired/run.js
//
// Per transfer, four processes: this one (orchestration only), the receiver,
// the relay and the sender (peer.ts, relay.ts), all on 127.0.0.1:
//   sender --> relay client-side port --(impaired)--> receiver's port
//   sender <-- relay client-side port <-(impaired)--- receiver's port
// A transfer ends when the receiver has IMPAIRED_MB MiB or IMPAIRED_SECONDS
// have passed since the sender's connect(), whichever comes first. Goodput is
// in-order bytes delivered to the receiving application over that window
// (handshake included). The data is checked byte by byte at the receiver and
// here by SHA-256 (of the prefix that arrived; of everything when complete).
//
// Env: IMPAIRED_SCENARIOS (JSON array of {name, loss, dup, delayMs, jitterMs,
//   rateMiB, queueKiB}; loss/dup are fractions, missing fields take the
//   defaults in link.ts), IMPAIRED_SECONDS (30), IMPAIRED_MB (16),
//   IMPAIRED_SEED (1), IMPAIRED_RUNS (1; run r uses seed + r - 1),
//   IMPAIRED_STACKS (microtp,utp-native), IMPAIRED_JSON=1 to write
//   bench/results/impaired-<date>.json (with per-500 ms microtp sender stats).
// Exit code 1 if any transfer delivered wrong data or a stack reported an error.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ConnectionStats } from '../../src/index.js';
import { names } from '../env.js';
import { prefixSha256 } from './data.js';
import { DEFAULT_SCENARIOS, describe, parseScenario, subSeed, type DirCounters, type Scenario } from './link.js';
import { STACKS, type ReceiverReport, type SenderReport, type StackName } from './peer.js';
import type { RelayCounters } from './relay.js';

const MiB = 1024 * 1024;
const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));
const RELAY = fileURLToPath(new URL('./relay.js', import.meta.url));

const env = process.env;
const seconds = Number(env.IMPAIRED_SECONDS ?? 30);
const mb = Number(env.IMPAIRED_MB ?? 16);
const seed = Number(env.IMPAIRED_SEED ?? 1) >>> 0;
const runs = Number(env.IMPAIRED_RUNS ?? 1);
const stacks = names('IMPAIRED_STACKS', 'microtp,utp-native', STACKS);
if (!(seconds > 0) || !(mb > 0) || !(runs >= 1)) throw new Error('IMPAIRED_SECONDS, IMPAIRED_MB and IMPAIRED_RUNS must be positive');
const scenarios: Scenario[] = env.IMPAIRED_SCENARIOS
  ? (() => {
      const raw: unknown = JSON.parse(env.IMPAIRED_SCENARIOS);
      if (!Array.isArray(raw) || raw.length === 0) throw new Error('IMPAIRED_SCENARIOS must be a non-empty JSON array');
      return raw.map(parseScenario);
    })()
  : DEFAULT_SCENARIOS;
const totalBytes = Math.round(mb * MiB);

const epochNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Children

const live = new Set<ChildProcess>();

/** Kills every child still running, by PID (SIGKILL). */
function killAll(): void {
  for (const c of live) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

type Msg = { type: string; [k: string]: unknown };

/** A forked child and its messages; errors and unexpected exits go to `onTrouble`. */
class Child {
  readonly proc: ChildProcess;
  readonly errors: string[] = [];
  lastProgress: { bytes: number; at: number } | undefined;
  private readonly inbox: Msg[] = [];
  private readonly waiters = new Set<() => void>();
  private stopping = false;

  constructor(
    file: string,
    args: string[],
    readonly who: string,
    onTrouble: (message: string) => void,
  ) {
    // stdout stays quiet so the table is readable; stderr is passed through.
    this.proc = fork(file, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    live.add(this.proc);
    this.proc.on('message', (msg: Msg) => {
      if (msg.type === 'progress') this.lastProgress = msg as unknown as { bytes: number; at: number };
      else if (msg.type === 'error') {
        this.errors.push(String(msg.message));
        onTrouble(String(msg.message));
      } else this.inbox.push(msg);
      this.wake();
    });
    this.proc.on('exit', (code, signal) => {
      live.delete(this.proc);
      if (!this.stopping) onTrouble(`${who} exited (${signal ?? code})`);
      this.wake();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The first unread message of `type`, or undefined after `ms` or if the child is gone. */
  wait<T>(type: string, ms: number): Promise<(T & Msg) | undefined> {
    return new Promise((resolve) => {
      const check = (): void => {
        const i = this.inbox.findIndex((m) => m.type === type);
        if (i >= 0) {
          const [m] = this.inbox.splice(i, 1);
          return done(m as T & Msg);
        }
        if (!this.running) done(undefined);
      };
      const timer = setTimeout(() => done(undefined), ms);
      const done = (m: (T & Msg) | undefined): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(m);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sends `request` and waits for the reply of `type`. */
  ask<T>(request: string, type: string, ms = 3000): Promise<(T & Msg) | undefined> {
    if (!this.running || !this.proc.connected) return Promise.resolve(undefined);
    this.proc.send(request);
    return this.wait<T>(type, ms);
  }

  /** Polite 'exit', then SIGKILL by PID after 2 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    if (this.proc.connected) this.proc.send('exit');
    const timer = setTimeout(() => {
      if (this.proc.pid !== undefined && this.running) process.kill(this.proc.pid, 'SIGKILL');
    }, 2000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Datagrams the kernel dropped for want of receive-buffer space, per local UDP port (Linux
 * /proc/net/udp, last column), for the sockets of this transfer; undefined where unreadable.
 */
function socketDrops(ports: number[]): number | undefined {
  try {
    const want = new Set(ports);
    let drops = 0;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const port = parseInt(f[1]?.split(':')[1] ?? '', 16);
      if (want.has(port)) drops += Number(f[f.length - 1] ?? 0);
    }
    return drops;
  } catch {
    return undefined;
  }
}

/** The source microtp was built from (the bench runs whatever src/ holds). */
function gitState(): { commit?: string; dirty?: string[] } {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: fileURLToPath(new URL('../../../', import.meta.url)), encoding: 'utf8' }).trim();
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean) };
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------
// One transfer

type Verdict = 'ok' | 'CORRUPT' | 'unverified';

interface Result {
  scenario: string;
  stack: StackName;
  run: number;
  linkSeed: number;
  complete: boolean;
  bytes: number;
  /** sender connect() -> last byte (complete) or -> the deadline (incomplete), s */
  seconds?: number;
  goodputMiBps?: number;
  /** receiver's first byte -> last byte, for complete transfers */
  firstToLastMiBps?: number;
  connectSeconds?: number;
  data: Verdict;
  dataDetail?: string;
  errors: string[];
  maxGapSeconds?: number;
  maxGapAtMiB?: number;
  sender?: ConnectionStats;
  receiver?: ConnectionStats;
  samples?: SenderReport['samples'];
  relay?: RelayCounters;
  /** Kernel receive-buffer drops on this transfer's sockets (Linux only). */
  kernelDrops?: { receiver?: number; sender?: number; relay?: number };
  senderCpuSeconds?: number;
  receiverCpuSeconds?: number;
}

async function transfer(scenario: Scenario, stack: StackName, run: number): Promise<Result> {
  const linkSeed = (seed + run - 1) >>> 0;
  const dataSeed = subSeed(linkSeed, 0xb17e5, 0);
  const result: Result = { scenario: scenario.name, stack, run, linkSeed, complete: false, bytes: 0, data: 'unverified', errors: [] };
  const children: Child[] = [];
  let troubled: ((m: string) => void) | undefined;
  const trouble = new Promise<string>((resolve) => (troubled = resolve));
  const onTrouble = (m: string): void => troubled?.(m);
  const spawn = (file: string, args: string[], who: string): Child => {
    const c = new Child(file, args, who, onTrouble);
    children.push(c);
    return c;
  };
  const hardCap = setTimeout(() => {
    // Nothing should get here; if a child hangs on IPC, do not hang the bench.
    result.errors.push('hard time cap reached');
    for (const c of children) if (c.proc.pid !== undefined && c.running) process.kill(c.proc.pid, 'SIGKILL');
  }, (seconds + 30) * 1000);
  try {
    const receiver = spawn(PEER, ['receiver', stack, String(totalBytes), String(dataSeed)], 'receiver');
    const ready = await receiver.wait<{ port: number }>('ready', 10_000);
    if (!ready) throw new Error('receiver did not start');
    const relay = spawn(RELAY, [JSON.stringify(scenario), String(linkSeed), String(ready.port)], 'relay');
    const relayReady = await relay.wait<{ port: number }>('ready', 10_000);
    if (!relayReady) throw new Error('relay did not start');
    const sender = spawn(PEER, ['sender', stack, String(totalBytes), String(dataSeed), String(relayReady.port)], 'sender');
    const started = await sender.wait<{ startAt: number }>('started', 10_000);
    if (!started) throw new Error('sender did not start');
    const remaining = seconds * 1000 - (epochNow() - started.startAt);

    const finished = await Promise.race([
      receiver.wait<ReceiverReport>('done', remaining),
      trouble.then((m) => {
        result.errors.push(m);
        return undefined;
      }),
    ]);
    const endAt = epochNow();
    const rep: ReceiverReport | undefined = finished ?? (await receiver.ask<ReceiverReport>('report', 'report'));
    const snd = await sender.ask<SenderReport>('stats', 'stats');
    const connected = sender.running ? await sender.wait<{ at: number }>('connected', 0) : undefined;
    const counters = await relay.ask<RelayCounters>('counters', 'counters');
    if (counters) {
      result.relay = counters;
      const p = counters.ports;
      const drops = { receiver: socketDrops([ready.port]), sender: socketDrops(p.clients), relay: socketDrops([p.front, ...p.upstreams]) };
      result.kernelDrops = Object.fromEntries(Object.entries(drops).filter(([, v]) => v !== undefined));
    }
    for (const c of children) for (const e of c.errors) if (!result.errors.includes(e)) result.errors.push(e);

    if (connected) result.connectSeconds = (connected.at - started.startAt) / 1000;
    if (rep) {
      result.bytes = rep.bytes;
      result.complete = finished !== undefined;
      const last = result.complete ? (rep.lastByteAt ?? endAt) : endAt;
      result.seconds = (last - started.startAt) / 1000;
      result.goodputMiBps = rep.bytes / MiB / result.seconds;
      if (result.complete && rep.firstByteAt !== undefined && rep.lastByteAt !== undefined) {
        result.firstToLastMiBps = rep.bytes / MiB / ((rep.lastByteAt - rep.firstByteAt) / 1000);
      }
      result.maxGapSeconds = rep.maxGapMs / 1000;
      result.maxGapAtMiB = rep.maxGapAtBytes / MiB;
      result.receiverCpuSeconds = rep.cpuMicros / 1e6;
      if (rep.stats) result.receiver = rep.stats;
      for (const e of rep.errors) if (!result.errors.includes(e)) result.errors.push(e);
      // Verification: the receiver compared every byte; check its SHA-256 here independently.
      const problems: string[] = [];
      if (rep.firstMismatch !== undefined) problems.push(`first wrong byte at offset ${rep.firstMismatch}`);
      if (rep.bytes > totalBytes) problems.push(`${rep.bytes - totalBytes} bytes more than were sent`);
      else if (rep.sha256 !== prefixSha256(dataSeed, rep.bytes)) problems.push(`SHA-256 of the ${rep.bytes} bytes received differs from what was sent`);
      if (result.complete && snd?.allWrittenAt !== undefined && snd.sha256 !== rep.sha256) problems.push("full SHA-256 differs from the sender's");
      if (problems.length) {
        result.data = 'CORRUPT';
        result.dataDetail = problems.join('; ');
      } else if (rep.bytes === 0 || (result.complete && snd?.allWrittenAt === undefined)) {
        result.data = 'unverified';
        result.dataDetail = rep.bytes === 0 ? 'nothing arrived' : 'no sender hash';
      } else {
        result.data = 'ok';
        result.dataDetail = result.complete ? 'full SHA-256 matches the sender' : `SHA-256 of the ${rep.bytes}-byte prefix matches`;
      }
    } else {
      result.errors.push('no report from the receiver');
    }
    if (snd) {
      if (snd.stats) result.sender = snd.stats;
      result.samples = snd.samples;
      result.senderCpuSeconds = snd.cpuMicros / 1e6;
    }
  } catch (err) {
    result.errors.push(err instanceof Error ? err.message : String(err));
  } finally {
    troubled = undefined;
    clearTimeout(hardCap);
    await Promise.all(children.map((c) => c.stop()));
  }
  return result;
}

// ---------------------------------------------------------------------------
// Output

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const label = (s: StackName): string => (s === 'utp-native' ? 'libutp' : s);

function relayLine(c: RelayCounters | undefined): string {
  if (!c) return 'relay: no counters';
  const d = (x: DirCounters): string =>
    `${x.received} in, ${x.dropped} dropped, ${x.queueDrops} queue-dropped, ${x.duplicated} duplicated, ${x.reordered} reordered, ${x.delivered} out` +
    `, max queue ${fmt(x.maxQueueMs, 0)} ms`;
  return `relay data->: ${d(c.dirs[0])}\n      <-acks: ${d(c.dirs[1])}` + `\n      timer fires ${c.timerFires}; deliveries late by >2 ms ${c.late2ms}, >10 ms ${c.late10ms}, at most ${fmt(c.maxLateMs, 1)} ms`;
}

/**
 * Retransmissions that were not needed: duplicate packets at the receiver beyond the copies the
 * link made (each of those arrives as a duplicate too). An estimate: a copy of a retransmission
 * counts once more.
 */
function spurious(r: Result): number | undefined {
  if (!r.receiver || !r.relay) return undefined;
  return Math.max(0, r.receiver.duplicatePackets - r.relay.dirs[0].duplicated);
}

function transferLine(r: Result): string {
  const head = `  ${r.scenario.padEnd(20)} run ${r.run} ${label(r.stack).padEnd(7)}`;
  const body =
    `${fmt(r.goodputMiBps).padStart(6)} MiB/s  ${fmt(r.bytes / MiB, 1).padStart(5)} MiB in ${fmt(r.seconds, 1)} s` +
    `${r.complete ? '' : ' (INCOMPLETE)'}  data ${r.data}` +
    (r.sender ? `  rtx ${r.sender.retransmits} (fast ${r.sender.fastRetransmits}), timeouts ${r.sender.timeouts}` : '') +
    (r.receiver && r.relay ? `, spurious ~${spurious(r)}` : '') +
    (r.maxGapSeconds !== undefined && r.maxGapSeconds >= 1 ? `  longest stall ${fmt(r.maxGapSeconds, 1)} s at ${fmt(r.maxGapAtMiB, 1)} MiB` : '');
  // First lines only here; the JSON keeps the stacks.
  const errs = r.errors.length ? `\n      errors: ${r.errors.map((e) => e.split('\n')[0]).join(' | ')}` : '';
  const detail = r.data === 'CORRUPT' ? `\n      data: ${r.dataDetail}` : '';
  return `${head} ${body}${errs}${detail}`;
}

async function main(): Promise<void> {
  console.log(
    `impaired-link bench: up to ${mb} MiB or ${seconds} s per transfer, seed ${seed}, ${runs} run(s), ` +
      `stacks ${stacks.map(label).join(', ')}; sender -> relay -> receiver on 127.0.0.1, each its own process`,
  );
  for (const s of scenarios) console.log(`  ${s.name.padEnd(20)} ${describe(s)}`);
  const results: Result[] = [];
  for (let run = 1; run <= runs; run++) {
    for (const [si, scenario] of scenarios.entries()) {
      // Alternate which stack goes first, so warm-up and machine noise spread evenly.
      const order = (si + run) % 2 === 1 ? stacks : [...stacks].reverse();
      for (const stack of order) {
        const r = await transfer(scenario, stack, run);
        results.push(r);
        console.log(transferLine(r));
        const kd = r.kernelDrops;
        const kdText = kd ? `\n      kernel receive-buffer drops: receiver ${kd.receiver ?? '-'}, sender ${kd.sender ?? '-'}, relay ${kd.relay ?? '-'}` : '';
        console.log(`      ${relayLine(r.relay)}${kdText}`);
        await sleep(200);
      }
    }
  }

  // Summary: medians over runs.
  console.log(`\ngoodput, MiB/s (in-order bytes at the receiving application / time from connect(); ${runs > 1 ? 'medians over runs; ' : ''}* = incomplete after ${seconds} s)`);
  const stackCols = stacks.map((s) => label(s).padStart(9)).join('');
  const hasBoth = stacks.includes('microtp') && stacks.includes('utp-native');
  console.log(
    `${'scenario'.padEnd(20)} ${'loss'.padStart(5)} ${'dup'.padStart(5)} ${'jitter'.padStart(7)}${stackCols}` +
      `${hasBoth ? '  microtp/libutp' : ''}  microtp rtx (fast) / timeouts / spurious  data`,
  );
  const summary = scenarios.map((s) => {
    const per = Object.fromEntries(
      stacks.map((stack) => {
        const rs = results.filter((r) => r.scenario === s.name && r.stack === stack);
        return [
          stack,
          {
            goodputMiBps: median(rs.map((r) => r.goodputMiBps).filter((x): x is number => x !== undefined)),
            complete: rs.filter((r) => r.complete).length,
            runs: rs.length,
            data: rs.every((r) => r.data === 'ok') ? 'ok' : rs.map((r) => r.data).join(','),
            retransmits: median(rs.flatMap((r) => (r.sender ? [r.sender.retransmits] : []))),
            fastRetransmits: median(rs.flatMap((r) => (r.sender ? [r.sender.fastRetransmits] : []))),
            timeouts: median(rs.flatMap((r) => (r.sender ? [r.sender.timeouts] : []))),
            spurious: median(rs.flatMap((r) => { const x = spurious(r); return x === undefined ? [] : [x]; })),
          },
        ];
      }),
    ) as Record<StackName, { goodputMiBps?: number; complete: number; runs: number; data: string; retransmits?: number; fastRetransmits?: number; timeouts?: number; spurious?: number }>;
    const ours = per.microtp?.goodputMiBps;
    const theirs = per['utp-native']?.goodputMiBps;
    const ratio = ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    return { scenario: s, per, ratio };
  });
  for (const { scenario: s, per, ratio } of summary) {
    const cols = stacks
      .map((stack) => {
        const p = per[stack];
        return `${fmt(p.goodputMiBps)}${p.complete < p.runs ? '*' : ' '}`.padStart(9);
      })
      .join('');
    const m = per.microtp;
    const rtx = m ? `${fmt(m.retransmits, 0)} (${fmt(m.fastRetransmits, 0)}) / ${fmt(m.timeouts, 0)} / ${fmt(m.spurious, 0)}` : '-';
    const data = stacks.map((st) => `${label(st)} ${per[st].data}`).join(', ');
    console.log(
      `${s.name.padEnd(20)} ${`${+(s.loss * 100).toFixed(1)}%`.padStart(5)} ${`${+(s.dup * 100).toFixed(1)}%`.padStart(5)} ${`${s.jitterMs}ms`.padStart(7)}` +
        `${cols}${hasBoth ? `x${fmt(ratio)}`.padStart(16) : ''}  ${rtx.padStart(39)}  ${data}`,
    );
  }

  if (env.IMPAIRED_JSON === '1') {
    const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url)); // build/bench/impaired -> bench/results
    mkdirSync(dir, { recursive: true });
    const file = `${dir}impaired-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    const config = { mb, seconds, seed, runs, stacks, utpSockbuf: 1048576, node: process.version, microtpSource: gitState() };
    const out = {
      config,
      scenarios,
      summary: summary.map(({ scenario, per, ratio }) => ({ scenario: scenario.name, ratioMicrotpToLibutp: ratio, ...per })),
      results,
    };
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  }
  // Corrupt data from anyone fails the run; an error fails it only when it is ours (libutp timing
  // out on the harsh links is a finding about the anchor, reported in the table).
  if (results.some((r) => r.data === 'CORRUPT' || (r.stack === 'microtp' && r.errors.length > 0))) process.exitCode = 1;
}

await main();
