/**
 * The framing between `microtp bench` and its sink (`microtp bench --serve <port>`):
 *
 *   client -> sink  `microtp-bench/1 {"pings":P,"size":N}\n`, then P times: 64 bytes, waiting
 *                   for the sink to echo them (the ping-pong latency), then N bytes
 *   sink -> client  the P echoes, then `{"bytes":N,"ms":<first to last byte>,"cpuMs":<sink CPU>}\n`
 *                   and FIN; the client ends too.
 */
export const HEADER_PREFIX = 'microtp-bench/1 ';
export const PING_BYTES = 64;

export interface BenchHeader {
  pings: number;
  size: number;
}

export interface SinkReply {
  bytes: number;
  ms: number;
  cpuMs: number;
}
