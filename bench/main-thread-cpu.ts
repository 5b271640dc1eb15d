// The CPU time of a bench worker's main thread alone (bench/throughput.ts). The rest of
// process.cpuUsage is V8's background threads: the optimizing compiler and the GC's helpers
// (docs/performance-state.md, "V8's warm-up in the gauge's CPU figures").
import { readFileSync } from 'node:fs';

/**
 * The on-CPU time in a /proc/<pid>/task/<tid>/schedstat line (its first field, ns), in us; undefined
 * where the line holds no usable figure. A kernel without sched_info prints "0 0 0", and a thread
 * running this code has been on a CPU, so zero means unknown, not idle.
 */
export function schedstatMicros(text: string): number | undefined {
  const ns = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(ns) && ns > 0 ? ns / 1000 : undefined;
}

/** The main thread's CPU time so far, us, or undefined where /proc has no schedstat (not Linux). */
export function mainThreadMicros(path = `/proc/self/task/${process.pid}/schedstat`): number | undefined {
  try {
    return schedstatMicros(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The main thread's CPU between two mainThreadMicros readings, or undefined if either is. */
export function mainBetween(start: number | undefined, end: number | undefined): number | undefined {
  return start === undefined || end === undefined || end < start ? undefined : end - start;
}
