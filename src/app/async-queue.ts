/** A push-driven async iterable: producers push, one consumer iterates until close(). */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;
  private done = false;

  push(item: T): void {
    if (this.done) return;
    this.items.push(item);
    this.wake?.();
  }

  close(): void {
    this.done = true;
    this.wake?.();
  }

  get closed(): boolean {
    return this.done;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }
}

/** Reads `source` eagerly into a queue, so its producer (an LLM stream) never waits for the consumer. */
export function prefetch<T>(source: AsyncIterable<T>, signal: AbortSignal): { items: AsyncQueue<T>; failure: Promise<void> } {
  const items = new AsyncQueue<T>();
  const failure = (async () => {
    try {
      for await (const item of source) {
        if (signal.aborted) break;
        items.push(item);
      }
    } finally {
      items.close();
    }
  })();
  // Awaited by the consumer once it has drained the items; until then it must not count as unhandled.
  failure.catch(() => {});
  return { items, failure };
}
