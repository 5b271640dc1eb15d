// The parent's side of one bulk transfer between two worker processes (bench/throughput.ts),
// the order stacks run in, and the medians/ratios table, shared by the loopback bench
// (bench/run.ts, forked workers) and the veth gauge (bench/gauge/run.ts, workers inside network
// namespaces). How a worker is started is the caller's: `spawn` returns a child with an IPC
// channel.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ReceiverDone, SenderStats, StackName } from './throughput.js';

export const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface TransferResult {
  stack: StackName;
  run: number;
  ok: boolean;
  error?: string;
  bytesReceived: number; // on failure: as of the receiver's last progress report (1 s)
  failedAfterSeconds?: number; // sender start -> failure
  seconds?: number; // receiver's first byte -> last byte
  mibPerSec?: number; // over `seconds`
  e2eMibPerSec?: number; // sender's connect() -> receiver's last byte
  senderCpuSecPerGiB?: number;
  receiverCpuSecPerGiB?: number;
  /** The main thread's part of the two figures above (Linux); the rest is V8's compiler and GC threads. */
  senderMainCpuSecPerGiB?: number;
  receiverMainCpuSecPerGiB?: number;
  /** Times each process slept (voluntary context switches) per MiB received. */
  sleepsPerMiB?: { receiver: number; sender: number };
  acksPerPacket?: number; // microtp: the receiver's packets sent per packet received
  resendsPerPacket?: number; // microtp: the sender's retransmissions per packet sent
  timeouts?: number; // microtp: the sender's retransmission timeouts
  fastRetransmits?: number; // microtp: packets the sender found lost from ACKs
  /** Datagrams the kernel dropped for a full socket receive buffer during the transfer (gauge only). */
  kernelDrops?: { receiver: number; sender: number };
}

export interface TransferSpec {
  stack: StackName;
  run: number;
  bytes: number;
  timeoutMs: number;
  /** Worker arguments after the role, for each side (the sender's get the port prepended). */
  receiverArgs: string[];
  senderArgs: string[];
  /** Starts `throughput.js <args>` with an IPC channel. */
  spawn(side: 'receiver' | 'sender', args: string[]): ChildProcess;
}

type Msg = { type: 'ready'; port: number } | { type: 'progress'; bytes: number } | { type: 'error'; message: string } | ReceiverDone | SenderStats;

/** Next message of `type` from child, rejecting on an error message or exit. */
function next<T extends Msg['type']>(child: ChildProcess, type: T, who: string): Promise<Extract<Msg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Msg): void => {
      if (msg.type === 'error') finish(() => reject(new Error(`${who}: ${msg.message}`)));
      else if (msg.type === type) finish(() => resolve(msg as Extract<Msg, { type: T }>));
    };
    const onExit = (code: number | null, signal: string | null): void => finish(() => reject(new Error(`${who} exited (${signal ?? code})`)));
    const finish = (settle: () => void): void => {
      child.off('message', onMessage).off('exit', onExit);
      settle();
    };
    child.on('message', onMessage).on('exit', onExit);
  });
}

/** Terminates a child: polite 'exit' first, SIGKILL (by its PID) if it is still there after 2 s. */
export async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send('exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

export async function transfer(spec: TransferSpec): Promise<TransferResult> {
  const { stack, run, bytes, timeoutMs } = spec;
  const result: TransferResult = { stack, run, ok: false, bytesReceived: 0 };
  const receiver = spec.spawn('receiver', ['receiver', stack, String(bytes), ...spec.receiverArgs]);
  let sender: ChildProcess | undefined;
  let senderSpawnedAt: number | undefined;
  receiver.on('message', (msg: Msg) => {
    if (msg.type === 'progress') result.bytesReceived = msg.bytes;
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        const { port } = await next(receiver, 'ready', 'receiver');
        sender = spec.spawn('sender', ['sender', stack, String(bytes), String(port), ...spec.senderArgs]);
        senderSpawnedAt = performance.now();
        // The sender never says 'done'; waiting on it only surfaces its errors or death.
        const done = await Promise.race([next(receiver, 'done', 'receiver'), next(sender, 'done', 'sender')]);
        const stats = next(sender, 'stats', 'sender');
        sender.send('stop');
        const { startAt, cpuMicros, mainCpuMicros, sleeps, resendsPerPacket, timeouts, fastRetransmits } = await stats;
        const perGiB = (micros: number | undefined): number | undefined =>
          micros === undefined || !Number.isFinite(micros) ? undefined : micros / 1e6 / (done.bytes / GiB);
        const seconds = (done.lastByteAt - done.firstByteAt) / 1000;
        Object.assign(result, {
          ok: true,
          bytesReceived: done.bytes,
          seconds,
          mibPerSec: done.bytes / MiB / seconds,
          e2eMibPerSec: done.bytes / MiB / ((done.lastByteAt - startAt) / 1000),
          senderCpuSecPerGiB: perGiB(cpuMicros),
          receiverCpuSecPerGiB: perGiB(done.cpuMicros),
          senderMainCpuSecPerGiB: perGiB(mainCpuMicros),
          receiverMainCpuSecPerGiB: perGiB(done.mainCpuMicros),
          sleepsPerMiB: { receiver: done.sleeps / (done.bytes / MiB), sender: sleeps / (done.bytes / MiB) },
          acksPerPacket: done.acksPerPacket,
          resendsPerPacket,
          timeouts,
          fastRetransmits,
        });
      })(),
      deadline,
    ]);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    if (senderSpawnedAt !== undefined) result.failedAfterSeconds = (performance.now() - senderSpawnedAt) / 1000;
  } finally {
    clearTimeout(timer);
    await Promise.all([stopWorker(receiver), sender ? stopWorker(sender) : undefined]);
  }
  return result;
}

/** The stacks in the order of run `run` (from 1): interleaved and rotated a step each run, so machine noise and warm-up spread evenly. */
export function runOrder(stacks: readonly StackName[], run: number): StackName[] {
  return stacks.map((_, i) => stacks[(i + run - 1) % stacks.length]!);
}

export const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
export const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : x.toFixed(digits));

/** One line per finished transfer, as it finishes. */
export function resultLine(r: TransferResult): string {
  return r.ok
    ? `${fmt(r.mibPerSec)} MiB/s, CPU s/GiB sender ${fmt(r.senderCpuSecPerGiB, 2)} receiver ${fmt(r.receiverCpuSecPerGiB, 2)}` +
        (r.senderMainCpuSecPerGiB === undefined && r.receiverMainCpuSecPerGiB === undefined ? '' : ` (main threads ${fmt(r.senderMainCpuSecPerGiB, 2)} and ${fmt(r.receiverMainCpuSecPerGiB, 2)})`) +
        (r.sleepsPerMiB === undefined ? '' : `; sleeps/MiB sender ${fmt(r.sleepsPerMiB.sender)} receiver ${fmt(r.sleepsPerMiB.receiver)}`) +
        (r.acksPerPacket === undefined ? '' : `; acks/packet ${fmt(r.acksPerPacket, 3)}`) +
        (r.resendsPerPacket === undefined ? '' : `, resends/packet ${fmt(r.resendsPerPacket, 4)} (timeouts ${r.timeouts}, lost from ACKs ${r.fastRetransmits})`) +
        (r.kernelDrops === undefined ? '' : `; rcvbuf drops receiver ${r.kernelDrops.receiver} sender ${r.kernelDrops.sender}`)
    : `FAILED: ${r.error} (receiver had ${fmt(r.bytesReceived / MiB)} MiB` +
        (r.failedAfterSeconds ? `, ~${fmt(r.bytesReceived / MiB / r.failedAfterSeconds)} MiB/s)` : ')');
}

export interface StackSummary {
  stack: StackName;
  ok: number;
  runs: number;
  mibPerSec: number | undefined;
  e2eMibPerSec: number | undefined;
  senderCpuSecPerGiB: number | undefined;
  receiverCpuSecPerGiB: number | undefined;
  senderMainCpuSecPerGiB: number | undefined;
  receiverMainCpuSecPerGiB: number | undefined;
  /**
   * Cores both processes kept busy together: CPU-seconds per second of transfer, the end-to-end
   * MiB/s times both sides' CPU per GiB (each side's CPU is counted from about the sender's start,
   * the receiver being idle before, to the last byte; the sender's until it is told to stop, an
   * idle tail, so the figure reads a little high). Where every stack keeps the machine's cores
   * busy, throughput is about their count over the summed CPU per GiB, and two stacks'
   * throughputs are roughly in the inverse ratio of their summed CPU per GiB.
   */
  coresBusy: number | undefined;
}

/** See StackSummary.coresBusy; undefined without both sides' CPU. */
export function coresBusy(r: TransferResult): number | undefined {
  if (r.e2eMibPerSec === undefined || r.senderCpuSecPerGiB === undefined || r.receiverCpuSecPerGiB === undefined) return undefined;
  return (r.e2eMibPerSec * (r.senderCpuSecPerGiB + r.receiverCpuSecPerGiB)) / 1024;
}

type MedianKey = 'mibPerSec' | 'e2eMibPerSec' | 'senderCpuSecPerGiB' | 'receiverCpuSecPerGiB' | 'senderMainCpuSecPerGiB' | 'receiverMainCpuSecPerGiB';

export function summarize(stacks: readonly StackName[], results: TransferResult[], runs: number): StackSummary[] {
  return stacks.map((stack) => {
    const ok = results.filter((r) => r.stack === stack && r.ok);
    const medianOf = (f: (r: TransferResult) => number | undefined): number | undefined =>
      median(ok.map(f).filter((x): x is number => x !== undefined));
    const pick = (k: MedianKey): number | undefined => medianOf((r) => r[k]);
    return {
      stack,
      ok: ok.length,
      runs,
      mibPerSec: pick('mibPerSec'),
      e2eMibPerSec: pick('e2eMibPerSec'),
      senderCpuSecPerGiB: pick('senderCpuSecPerGiB'),
      receiverCpuSecPerGiB: pick('receiverCpuSecPerGiB'),
      senderMainCpuSecPerGiB: pick('senderMainCpuSecPerGiB'),
      receiverMainCpuSecPerGiB: pick('receiverMainCpuSecPerGiB'),
      coresBusy: medianOf(coresBusy),
    };
  });
}

const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : (a / b).toFixed(2));

/**
 * The medians table, then microtp's ratio to each other stack (`extraAnchors` too, e.g. a ceiling
 * measured apart). The main-thread columns appear where the workers could measure them (Linux).
 */
export function printSummary(summary: StackSummary[], extraAnchors: StackSummary[] = []): void {
  const mainThreads = summary.some((s) => s.senderMainCpuSecPerGiB !== undefined || s.receiverMainCpuSecPerGiB !== undefined);
  console.log(`stack                ok   MiB/s   e2e MiB/s   send CPU s/GiB   recv CPU s/GiB${mainThreads ? '   main thread: send   recv' : ''}   cores busy`);
  for (const s of summary) {
    console.log(
      `${s.stack.padEnd(19)} ${`${s.ok}/${s.runs}`.padStart(4)} ${fmt(s.mibPerSec).padStart(7)} ${fmt(s.e2eMibPerSec).padStart(11)}` +
        ` ${fmt(s.senderCpuSecPerGiB, 2).padStart(16)} ${fmt(s.receiverCpuSecPerGiB, 2).padStart(16)}` +
        (mainThreads ? ` ${fmt(s.senderMainCpuSecPerGiB, 2).padStart(19)} ${fmt(s.receiverMainCpuSecPerGiB, 2).padStart(6)}` : '') +
        ` ${fmt(s.coresBusy, 2).padStart(12)}`,
    );
  }
  const ours = summary.find((s) => s.stack === 'microtp');
  if (!ours) return;
  console.log('microtp / anchor (throughput: higher is better; CPU: lower is better)');
  for (const s of [...summary.filter((x) => x !== ours), ...extraAnchors]) {
    console.log(
      `  vs ${s.stack.padEnd(19)} throughput x${ratio(ours.mibPerSec, s.mibPerSec)}` +
        `  sender CPU x${ratio(ours.senderCpuSecPerGiB, s.senderCpuSecPerGiB)}  receiver CPU x${ratio(ours.receiverCpuSecPerGiB, s.receiverCpuSecPerGiB)}` +
        (mainThreads
          ? `  (main threads: sender x${ratio(ours.senderMainCpuSecPerGiB, s.senderMainCpuSecPerGiB)} receiver x${ratio(ours.receiverMainCpuSecPerGiB, s.receiverMainCpuSecPerGiB)})`
          : ''),
    );
  }
}
