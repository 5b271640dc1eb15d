// The cost of tracing per event, measured on the simulator (CPU-bound, no sockets): the same
// seeded transfer with no tracer, with the channel tracer and nobody subscribed, and with a
// counting subscriber on every channel. Run: node build/bench/trace-cost.js [MiB=32] [rounds=5]
import diagnosticsChannel from 'node:diagnostics_channel';
import { ChannelTracer, channels } from '../src/trace/channels.js';
import { seededBytes, SimNetwork } from '../test/helpers/sim-network.js';

const mib = Number(process.argv[2] ?? 32);
const rounds = Number(process.argv[3] ?? 5);
const data = seededBytes(1, mib * 1024 * 1024);

function transfer(traced: boolean): number {
  const net = new SimNetwork({ seed: 1, link: { latency: 5 } });
  const tracer = traced ? { tracer: new ChannelTracer({ clock: () => net.now }) } : {};
  const a = net.addHost('a', tracer);
  const b = net.addHost('b', { listening: true, ...tracer });
  const start = process.cpuUsage();
  net.connect(a, b, { send: data });
  net.runUntil(() => b.accepted.length > 0 && b.app(b.accepted[0]!).receivedBytes === data.length, 3_600_000);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

let events = 0;
const count = (): void => void events++;
const modes = ['no tracer', 'tracer, unsubscribed', 'tracer, counting subscriber'] as const;
const results: Record<string, number[]> = {};
transfer(true); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const mode of modes) {
    if (mode === 'tracer, counting subscriber') for (const name of Object.values(channels)) diagnosticsChannel.subscribe(name, count);
    events = 0;
    (results[mode] ??= []).push(transfer(mode !== 'no tracer'));
    if (mode === 'tracer, counting subscriber') for (const name of Object.values(channels)) diagnosticsChannel.unsubscribe(name, count);
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const base = median(results['no tracer']!);
for (const mode of modes) console.log(`${mode.padEnd(28)} ${median(results[mode]!).toFixed(0).padStart(6)} ms CPU (median of ${rounds})  x${(median(results[mode]!) / base).toFixed(3)}`);
console.log(`events per transfer with the subscriber: ${events} (${((median(results['tracer, counting subscriber']!) - base) * 1000 / events).toFixed(2)} µs each)`);
