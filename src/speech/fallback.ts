import type { AudioFrame } from '../audio/frame.js';
import { realClock, type Clock } from '../clock.js';
import { ProviderError, type SpeechToText, type SttEvent, type TextToSpeech } from './types.js';

export interface FallbackOptions {
  clock?: Clock;
  /** How long the primary is skipped after it failed; doubles on each further failure up to maxRetryAfterMs. Default 30000. */
  retryAfterMs?: number;
  /** Default 300000. */
  maxRetryAfterMs?: number;
  /** Told when requests move to the fallback (true) and back to the primary (false). */
  onSwitch?: (usingFallback: boolean, reason: string) => void;
}

/** Whether the primary is worth trying, and for how long it is skipped after failing. */
class PrimaryHealth {
  private readonly clock: Clock;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly onSwitch: FallbackOptions['onSwitch'];
  private delayMs: number;
  /** Clock time until which the primary is skipped; null while it is healthy. */
  private downUntil: number | null = null;

  constructor(private readonly primaryName: string, options: FallbackOptions) {
    this.clock = options.clock ?? realClock;
    this.firstDelayMs = options.retryAfterMs ?? 30_000;
    this.maxDelayMs = Math.max(this.firstDelayMs, options.maxRetryAfterMs ?? 300_000);
    if (!(this.firstDelayMs >= 0)) throw new RangeError(`retryAfterMs must be ≥ 0, got ${this.firstDelayMs}`);
    this.onSwitch = options.onSwitch;
    this.delayMs = this.firstDelayMs;
  }

  get usable(): boolean {
    return this.downUntil === null || this.clock.now() >= this.downUntil;
  }

  failed(reason: string): void {
    const now = this.clock.now();
    // Requests that were already running when it went down report the same outage.
    if (this.downUntil !== null && now < this.downUntil) return;
    const wasUp = this.downUntil === null;
    if (!wasUp) this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.downUntil = now + this.delayMs;
    if (wasUp) this.onSwitch?.(true, reason);
  }

  succeeded(): void {
    if (this.downUntil === null) return;
    this.downUntil = null;
    this.delayMs = this.firstDelayMs;
    this.onSwitch?.(false, `${this.primaryName} works again`);
  }
}

/**
 * Records an input stream as it is consumed, so it can be read again from the start: the primary
 * reads it live, and when the primary fails the fallback replays what the primary had taken, then
 * continues live. Only one pull of the source is in flight at a time.
 */
class Replayable<T> {
  private readonly iterator: AsyncIterator<T>;
  private readonly items: T[] = [];
  private done = false;
  private failure: { error: unknown } | null = null;
  private pending: Promise<void> | null = null;

  constructor(source: AsyncIterable<T>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** A reader from the first item; after detach() it ends (a pull it started still lands in the record). */
  reader(): AsyncIterable<T> & { detach(): void } {
    let index = 0;
    let detached = false;
    const next = async (): Promise<IteratorResult<T, undefined>> => {
      for (;;) {
        if (detached) return { done: true, value: undefined };
        if (index < this.items.length) return { done: false, value: this.items[index++]! };
        if (this.failure) throw this.failure.error;
        if (this.done) return { done: true, value: undefined };
        await this.pull();
      }
    };
    const iterator: AsyncIterator<T, undefined> = {
      next,
      return: async () => {
        detached = true;
        return { done: true, value: undefined };
      },
    };
    return {
      [Symbol.asyncIterator]: () => iterator,
      detach: () => {
        detached = true;
      },
    };
  }

  /** Stops the source if nobody read it to the end. */
  close(): void {
    if (this.done || this.failure) return;
    this.done = true;
    Promise.resolve(this.iterator.return?.()).catch(() => undefined);
  }

  private pull(): Promise<void> {
    this.pending ??= this.iterator.next().then(
      (step) => {
        this.pending = null;
        if (step.done) this.done = true;
        else this.items.push(step.value);
      },
      (error: unknown) => {
        this.pending = null;
        this.failure = { error };
      },
    );
    return this.pending;
  }
}

/**
 * Runs a request on the primary and, if the primary fails retryably before producing output,
 * the same request (input replayed) on the fallback.
 */
async function* withFallback<I, O>(
  input: AsyncIterable<I>,
  signal: AbortSignal,
  health: PrimaryHealth,
  primary: (input: AsyncIterable<I>, signal: AbortSignal) => AsyncIterable<O>,
  fallback: (input: AsyncIterable<I>, signal: AbortSignal) => AsyncIterable<O>,
  isOutput: (item: O) => boolean,
): AsyncGenerator<O, void, undefined> {
  if (!health.usable) {
    yield* fallback(input, signal);
    return;
  }
  const recorded = new Replayable(input);
  const own = new AbortController();
  const onAbort = (): void => own.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) own.abort(signal.reason);
  const primaryInput = recorded.reader();
  let produced = false;
  try {
    try {
      for await (const item of primary(primaryInput, own.signal)) {
        if (!produced && isOutput(item)) {
          produced = true;
          health.succeeded();
        }
        yield item;
      }
      return;
    } catch (error) {
      if (signal.aborted || !(error instanceof ProviderError) || !error.retryable) throw error;
      // The server is in trouble either way; after output began, the caller has to deal with it.
      health.failed(error.message);
      if (produced) throw error;
    } finally {
      primaryInput.detach();
      own.abort();
    }
    yield* fallback(recorded.reader(), signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
    recorded.close();
  }
}

/** Speech-to-text on `primary`, handing requests to `fallback` while the primary cannot be reached. */
export class FallbackSpeechToText implements SpeechToText {
  readonly name: string;
  private readonly health: PrimaryHealth;

  constructor(
    private readonly primary: SpeechToText,
    private readonly fallback: SpeechToText,
    options: FallbackOptions = {},
  ) {
    this.name = `${primary.name}, falling back to ${fallback.name}`;
    this.health = new PrimaryHealth(primary.name, options);
  }

  transcribe(audio: AsyncIterable<AudioFrame>, signal: AbortSignal): AsyncIterable<SttEvent> {
    return withFallback(
      audio,
      signal,
      this.health,
      (input, s) => this.primary.transcribe(input, s),
      (input, s) => this.fallback.transcribe(input, s),
      // speech_started/stopped carry no words: the fallback may repeat them harmlessly.
      (event) => event.type === 'interim' || event.type === 'final',
    );
  }
}

/** Text-to-speech on `primary`, handing requests to `fallback` while the primary cannot be reached. */
export class FallbackTextToSpeech implements TextToSpeech {
  readonly name: string;
  private readonly health: PrimaryHealth;

  constructor(
    private readonly primary: TextToSpeech,
    private readonly fallback: TextToSpeech,
    options: FallbackOptions = {},
  ) {
    this.name = `${primary.name}, falling back to ${fallback.name}`;
    this.health = new PrimaryHealth(primary.name, options);
  }

  synthesize(text: AsyncIterable<string>, signal: AbortSignal): AsyncIterable<AudioFrame> {
    return withFallback(
      text,
      signal,
      this.health,
      (input, s) => this.primary.synthesize(input, s),
      (input, s) => this.fallback.synthesize(input, s),
      () => true,
    );
  }
}
