/** Ctrl-C: a promise that settles on SIGINT, so a command can stop and still print its summary. */
export interface Interrupt {
  /** Resolves (never rejects) when SIGINT arrives. */
  readonly signalled: Promise<'interrupted'>;
  dispose(): void;
}

export function watchInterrupt(): Interrupt {
  let onSignal: () => void = () => {};
  const signalled = new Promise<'interrupted'>((resolve) => {
    onSignal = () => resolve('interrupted');
  });
  process.once('SIGINT', onSignal);
  return { signalled, dispose: () => process.off('SIGINT', onSignal) };
}

/** Runs `work` until it settles or Ctrl-C comes; 'interrupted' in that case (work keeps its rejection to itself). */
export async function untilInterrupted<T>(work: Promise<T>, interrupt: Interrupt): Promise<T | 'interrupted'> {
  work.catch(() => {}); // if Ctrl-C wins the race, a later failure of `work` is expected and ignored
  return Promise.race([work, interrupt.signalled]);
}

/**
 * Aborts a connection (the peer gets a RESET) and waits, briefly, until it is closed: the
 * process exits right after, and the RESET must leave first or the peer waits for its timeout.
 */
export async function abortConnection(socket: {
  destroy(): void;
  destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}): Promise<void> {
  if (socket.destroyed) return;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) => {
    socket.once('close', resolve);
    timer = setTimeout(resolve, 1000);
  });
  socket.destroy();
  await closed;
  clearTimeout(timer);
  // The RESET is written in the driver's next flush; give it that turn.
  await new Promise((resolve) => setImmediate(resolve));
}
