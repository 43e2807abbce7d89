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

/** `Clock.sleep` for any clock, built on its setTimeout and clearTimeout. */
export function sleepOn(clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>, ms: number, signal?: AbortSignal): Promise<void> {
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

/** What setTimeout returns: the Node timer can change when a timer that fired early is re-armed. */
class TimerHandle {
  constructor(public timer: ReturnType<typeof globalThis.setTimeout>) {}
}

function makeClock(now: () => number, speed: number): Clock {
  const clock: Clock = {
    now,
    setTimeout(fn, ms) {
      const due = now() + Math.max(0, ms);
      // Node's timers run on a millisecond loop clock and can fire a little before performance.now()
      // reaches the due time (×speed on a scaled clock); re-arm so a timeout never ends early.
      const fire = (): void => {
        const left = due - now();
        if (left > 0) handle.timer = globalThis.setTimeout(fire, left / speed);
        else fn();
      };
      const handle = new TimerHandle(globalThis.setTimeout(fire, Math.max(0, ms) / speed));
      return handle;
    },
    clearTimeout(handle) {
      if (handle instanceof TimerHandle) globalThis.clearTimeout(handle.timer);
    },
    sleep: (ms, signal) => sleepOn(clock, ms, signal),
  };
  return clock;
}

/** Wall time (performance.now(), monotonic). */
export const realClock: Clock = makeClock(() => performance.now(), 1);

/**
 * A clock running `speed` times faster than wall time: now() advances `speed` ms per wall ms and
 * setTimeout(fn, ms) fires after ms / speed wall ms. now() starts at 0 when the clock is created.
 */
export function scaledClock(speed: number): Clock {
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError(`speed must be a positive finite number, got ${speed}`);
  const origin = performance.now();
  return makeClock(() => (performance.now() - origin) * speed, speed);
}
