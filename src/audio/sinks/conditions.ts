/** Promises that resolve once a condition holds; the owner calls wake() whenever its state changes. */
export class Conditions {
  private readonly waiters = new Set<() => boolean>();

  /** Resolves when `ready()` is true at a wake(), or at once when it already is or the signal aborts. */
  until(ready: () => boolean, signal?: AbortSignal): Promise<void> {
    if (ready() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (!ready() && !signal?.aborted) return false;
        this.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve();
        return true;
      };
      const onAbort = (): void => {
        check();
      };
      this.waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
