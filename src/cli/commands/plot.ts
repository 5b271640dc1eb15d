/**
 * `microtp plot <trace> [-o out.svg]`: draws a qlog trace (MICROTP_QLOG / the `qlog` option /
 * `microtp send --qlog`) as an SVG: window, delay against the target, rate, and marks for loss,
 * retransmission and timeout over one time axis.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { renderSvg } from '../plot/render-svg.js';
import { extractPlotData, parseTrace, TraceFormatError } from '../plot/trace-data.js';

const usage = `Usage: microtp plot <trace.sqlog> [-o out.svg] [options]

Draws a connection trace (a qlog file written with MICROTP_QLOG=<dir>, the qlog option,
or microtp send --qlog <dir>) as an SVG: cwnd and bytes in flight; RTT and queueing delay
against the LEDBAT target; send/receive rate; marks for loss, retransmission and timeout.

Options:
  -o, --output <file>   where to write the SVG (default: the trace's name with .svg; - for stdout)
      --start <s>       plot from this time (seconds into the trace)
      --end <s>         plot up to this time (seconds into the trace)
      --bin <ms>        width of the rate bins in ms (default: about 120 bins)
      --title <text>    replaces the title (default: the connection's role and addresses)
  -h, --help            this help

Example:
  MICROTP_QLOG=traces microtp send big.iso host 6881
  microtp plot traces/*_client_*.sqlog -o transfer.svg`;

const options = {
  output: { type: 'string', short: 'o' },
  start: { type: 'string' },
  end: { type: 'string' },
  bin: { type: 'string' },
  title: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A wrong argument: the message and the usage on stderr, exit code 2. */
function usageError(message: string): number {
  process.stderr.write(`microtp plot: ${message}\n\n${usage}\n`);
  return 2;
}

function seconds(name: string, text: string | undefined): number | undefined | Error {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) return new Error(`--${name} must be a number of seconds >= 0, got "${text}"`);
  return value;
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (positionals.length === 0) return usageError('a trace file is missing');
  if (positionals.length > 1) return usageError(`one trace at a time, got ${positionals.length}: ${positionals.join(' ')}`);
  const start = seconds('start', values.start);
  const end = seconds('end', values.end);
  if (start instanceof Error) return usageError(start.message);
  if (end instanceof Error) return usageError(end.message);
  if (start !== undefined && end !== undefined && end <= start) return usageError(`--end (${end}) must be after --start (${start})`);
  let bin: number | undefined;
  if (values.bin !== undefined) {
    bin = Number(values.bin) / 1000;
    if (values.bin.trim() === '' || !(bin > 0) || !Number.isFinite(bin)) return usageError(`--bin must be a number of milliseconds > 0, got "${values.bin}"`);
  }
  const input = positionals[0]!;
  let text: string;
  try {
    text = await readFile(input, 'utf8');
  } catch (error) {
    process.stderr.write(`microtp plot: cannot read ${input} (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
    return 1;
  }
  let svg: string;
  try {
    const trace = parseTrace(text);
    if (trace.skipped > 0) process.stderr.write(`microtp plot: skipped ${trace.skipped} record(s) that did not parse (a trace cut short?)\n`);
    svg = renderSvg(extractPlotData(trace, { start, end, bin }), { title: values.title });
  } catch (error) {
    if (!(error instanceof TraceFormatError)) throw error;
    process.stderr.write(`microtp plot: ${input} is not a qlog trace: ${error.message}\n`);
    return 1;
  }
  const output = values.output ?? input.replace(/\.(s?qlog|ndjson|json)$/i, '') + '.svg';
  if (output === '-') {
    process.stdout.write(svg);
    return 0;
  }
  try {
    await writeFile(output, svg);
  } catch (error) {
    process.stderr.write(`microtp plot: cannot write ${output} (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
    return 1;
  }
  process.stderr.write(`microtp plot: wrote ${output}\n`);
  return 0;
}

export default { summary: 'draw a qlog trace (MICROTP_QLOG) as an SVG plot', usage, run };
