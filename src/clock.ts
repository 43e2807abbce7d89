/**
 * Time source for everything that waits or measures latency, so `kai simulate --speed N` can run the
 * real pipeline N times faster. Structurally a superset of XState's `Clock`, so it can be passed to
 * `createActor(machine, { clock })` and the machine's `after` delays follow the same time.
 */
export interface Clock {
  /** Milliseconds on this clock's timeline (monotonic; the origin is arbitrary). */
  now(): number;
  /** Calls `fn` after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Resolves after `ms` of this clock's time; rejects with `signal.reason` if the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepOn(clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function wallTimeout(fn: () => void, ms: number): unknown {
  return globalThis.setTimeout(fn, Math.max(0, ms));
}

function wallClearTimeout(handle: unknown): void {
  globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout> | undefined);
}

/** Wall time (performance.now(), monotonic). */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: wallTimeout,
  clearTimeout: wallClearTimeout,
  sleep(ms, signal) {
    return sleepOn(realClock, ms, signal);
  },
};

/**
 * A clock running `speed` times faster than wall time: now() advances `speed` ms per wall ms and
 * setTimeout(fn, ms) fires after ms / speed wall ms. now() starts at 0 when the clock is created.
 * Timers are as late (in wall ms) as Node's timers are, so code measuring with now() stays exact.
 */
export function scaledClock(speed: number): Clock {
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError(`speed must be a positive finite number, got ${speed}`);
  const origin = performance.now();
  const clock: Clock = {
    now: () => (performance.now() - origin) * speed,
    setTimeout: (fn, ms) => wallTimeout(fn, ms / speed),
    clearTimeout: wallClearTimeout,
    sleep: (ms, signal) => sleepOn(clock, ms, signal),
  };
  return clock;
}
