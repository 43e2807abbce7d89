export const ABORTED: unique symbol = Symbol('aborted');

/**
 * The promise's outcome, or ABORTED as soon as the signal aborts. Use this instead of
 * `Promise.race([next, aborted])` with one long-lived `aborted` promise: every race adds a
 * reaction to that promise which keeps the race's result (an audio frame) alive until the signal
 * aborts, so a loop that runs for weeks would keep every frame it ever saw. Here each call adds
 * its own listener and removes it when the promise settles.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => undefined);
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
