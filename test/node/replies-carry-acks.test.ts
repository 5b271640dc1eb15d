/**
 * The driver runs the application's event handlers before it flushes (issue 9): what the
 * application writes on 'connect' or in answer to 'data' goes out in the same flush as the ACK it
 * would otherwise have followed, and carries that ACK (as libutp's deferred ACKs and libtorrent's
 * m_deferred_ack do). Real sockets on loopback; the packets each side sent are read off the
 * diagnostics channel.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect, createServer, createSocket, traceChannels, type Socket } from '../../src/index.js';
import type { PacketSentMessage } from '../../src/trace/channels.js';

/**
 * Runs `body` against a fresh echo server; returns the types of the packets each side of its
 * connections sent, in order (not those of earlier tests' connections still closing).
 */
async function echoServerPackets(body: (port: number) => Promise<void>): Promise<{ client: string[]; server: string[] }> {
  const sent = { client: [] as string[], server: [] as string[] };
  let port = -1;
  const listener = (message: unknown): void => {
    const m = message as PacketSentMessage;
    if (m.connection.initiator && m.connection.remotePort === port) sent.client.push(m.type);
    if (!m.connection.initiator && m.connection.localPort === port) sent.server.push(m.type);
  };
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = server.address()!.port;
  diagnosticsChannel.subscribe(traceChannels.packetSent, listener);
  try {
    await body(port);
  } finally {
    diagnosticsChannel.unsubscribe(traceChannels.packetSent, listener);
    server.close();
  }
  return sent;
}

/**
 * Connects and, for each message in turn, writes it (the first on 'connect') and waits for its
 * whole echo; resolves with the echoes.
 */
function echoes(port: number, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const client = connect(port, '127.0.0.1');
    const answers: string[] = [];
    let pending = '';
    client.on('error', reject);
    client.on('connect', () => client.write(messages[0]!));
    client.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      if (pending.length < messages[answers.length]!.length) return;
      answers.push(pending);
      pending = '';
      if (answers.length < messages.length) client.write(messages[answers.length]!);
      else {
        client.destroy();
        resolve(answers);
      }
    });
  });
}

test("a client that writes on 'connect' sends no ACK of its own: its first DATA confirms the handshake", async () => {
  let answers: string[] = [];
  const sent = await echoServerPackets(async (port) => void (answers = await echoes(port, ['hello'])));
  assert.deepEqual(answers, ['hello']);
  // Before: syn, state (the confirmation, flushed before 'connect' ran), data.
  assert.deepEqual(sent.client.slice(0, 2), ['syn', 'data'], `client sent ${sent.client.join(', ')}`);
});

test('an answer carries the ACK of the request it answers: no STATE goes out alone before it', async () => {
  let answers: string[] = [];
  const sent = await echoServerPackets(async (port) => void (answers = await echoes(port, ['first', 'second', 'third'])));
  assert.deepEqual(answers, ['first', 'second', 'third']);
  // The server's first packet answers the SYN; then each echo is the ACK of its request. The first
  // request reaches a socket that pipe() resumes on the next tick, after the handlers: the flush
  // waits for that tick. Before: state, data for each request (state, state, data for the first
  // until the flush waited for the tick).
  assert.deepEqual(sent.server.slice(0, 4), ['state', 'data', 'data', 'data'], `server sent ${sent.server.join(', ')}`);
});

test('the flush queued behind the handlers\' ticks leaves the end-of-burst immediate tracked: none runs unscheduled', async () => {
  // The deferred flush cleared the "an immediate is queued" flag while the immediate the echo's
  // write had queued was still pending: that immediate then ran untracked, and the next burst
  // queued a second one, so two end-of-burst flushes ran in one check phase (the second judging
  // an empty burst: a backlog marked by the first ended at once). The timer's flush started such
  // pairs too, and once two were queued each flush's writes kept two queued: in many-connects at
  // 3,000, 2,410 of 2,516 end-of-burst flushes had another queued behind them (2,578 of 2,720
  // without the deferral), 0 of 1,313 with the flag cleared by the immediate alone.
  const shared = createSocket();
  shared.on('connection', (socket: Socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => shared.listen(0, '127.0.0.1', () => resolve()));
  const driver = shared.udpDriver as unknown as { runFlush: () => void; flushScheduled: boolean };
  const runFlush = driver.runFlush;
  let untracked = 0;
  let runs = 0;
  driver.runFlush = () => {
    runs++;
    if (!driver.flushScheduled) untracked++;
    runFlush();
  };
  try {
    assert.deepEqual(await echoes(shared.address().port, ['first', 'second']), ['first', 'second']);
  } finally {
    shared.close();
  }
  assert.ok(runs > 0);
  assert.equal(untracked, 0, `${untracked} of ${runs} end-of-burst flushes ran with no flush scheduled`);
});

test('a listener that throws before the flush: the ACK it held up goes at the next immediate', () => {
  // In a child process, as the exception must reach it as an uncaught exception (as from any
  // emitter). The server's 'data' listener throws at the second DATA; the flush of that burst (the
  // ACK) has not run yet. A check queued from the exception handler runs after the driver's
  // rescheduled flush, before the client could resend anything: the ACK must be out by then.
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `
    import diagnosticsChannel from 'node:diagnostics_channel';
    import { connect, createServer, traceChannels } from ${JSON.stringify(index)};
    let acks = 0;
    diagnosticsChannel.subscribe(traceChannels.packetSent, (m) => { if (!m.connection.initiator && m.type === 'state') acks++; });
    process.on('uncaughtException', (error) => {
      if (error.message !== 'listener bug') throw error;
      const before = acks;
      setImmediate(() => {
        console.log(JSON.stringify({ acksAtThrow: before, acksAfter: acks }));
        process.exit(0);
      });
    });
    // The first DATA reaches a socket that is not flowing yet ('data' listeners resume it on a
    // later tick, outside the driver); the second, 50 ms on, is dispatched by the driver itself.
    let chunks = 0;
    const server = createServer((socket) => socket.on('data', () => { if (++chunks === 2) throw new Error('listener bug'); }));
    server.listen(0, '127.0.0.1', () => {
      const client = connect(server.address().port, '127.0.0.1');
      client.on('connect', () => {
        client.write('x');
        setTimeout(() => client.write('y'), 50);
      });
    });
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(result.status, 0, result.stderr);
  const { acksAtThrow, acksAfter } = JSON.parse(result.stdout.trim()) as { acksAtThrow: number; acksAfter: number };
  assert.ok(acksAfter > acksAtThrow, `server ACKs: ${acksAtThrow} at the throw, ${acksAfter} after`);
});

test("the handlers' time does not age what the flush after them sends (timestamps, RTT samples)", async () => {
  // The clock jumps 300 ms in the server's 'data' handler, as if it had worked that long, before
  // the handler echoes the request. The echo leaves after the handler: its timestamp and its
  // send time (the server's RTT sample when the client acks it) must be read after the jump. With
  // the flush using the clock read before the handlers, the client measured the echo's one-way
  // delay 300 ms too long (its next packet echoes that to the server's LEDBAT as queueing delay)
  // and the server took an RTT sample of 300 ms on loopback.
  const JUMP = 300;
  const realNow = performance.now.bind(performance);
  let skew = 0;
  performance.now = () => realNow() + skew;
  const echoedDelays: number[] = [];
  let rttAtSecond: number | undefined;
  let echoes = 0;
  const listener = (message: unknown): void => {
    const m = message as PacketSentMessage;
    // What the client sends once it has the first echo: its timestamp_difference is that echo's
    // one-way delay.
    if (m.connection.initiator && echoes === 1) echoedDelays.push(m.timestampDifference / 1000);
  };
  diagnosticsChannel.subscribe(traceChannels.packetSent, listener);
  let requests = 0;
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (++requests === 1) skew += JUMP;
      // The second request acknowledges the first echo: the server's RTT sample of it is in.
      else rttAtSecond = socket.stats()!.latestRtt;
      socket.write(chunk);
    });
  });
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect(server.address()!.port, '127.0.0.1');
    client.on('error', () => {});
    await once(client, 'connect');
    client.write('first');
    await once(client, 'data');
    echoes = 1;
    client.write('second');
    await once(client, 'data');
    echoes = 2;
    client.destroy();
  } finally {
    diagnosticsChannel.unsubscribe(traceChannels.packetSent, listener);
    performance.now = realNow;
    server.close();
  }
  assert.ok(echoedDelays.length > 0, 'the client sent nothing after the first echo');
  assert.ok(echoedDelays[0]! < JUMP / 2, `one-way delay of the echo as the client measured it: ${echoedDelays[0]} ms`);
  assert.ok(rttAtSecond !== undefined && rttAtSecond < JUMP / 2, `server's RTT sample of the echo: ${rttAtSecond} ms`);
});
