import { ABORTED, untilAborted } from '../abort.js';
import { realClock, type Clock } from '../clock.js';
import type { AudioFrame, AudioSource } from './frame.js';

export interface AudioHubOptions {
  /** Audio kept for replay (pre-roll, late joiners). Default 3000 ms. */
  historyMs?: number;
  /** Clock the source is paced on; used to map clock time to the stream timeline (streamMsAt). */
  clock?: Clock;
}

export interface HubFramesOptions {
  /**
   * Stream time to start from: kept history from here, then live frames. Default: the hub's nowMs
   * when frames() is called (live audio only, none missed before iteration starts).
   */
  fromMs?: number;
}

function frameEndMs(frame: AudioFrame): number {
  return frame.timestampMs + (frame.samples.length * 1000) / frame.sampleRate;
}

/** The part of `frame` from `fromMs` on, cut at the nearest sample; null when none of it is. */
export function trimFrom(frame: AudioFrame, fromMs: number): AudioFrame | null {
  if (fromMs <= frame.timestampMs) return frame;
  const skip = Math.round(((fromMs - frame.timestampMs) * frame.sampleRate) / 1000);
  if (skip >= frame.samples.length) return null;
  return {
    samples: frame.samples.slice(skip),
    sampleRate: frame.sampleRate,
    timestampMs: frame.timestampMs + (skip * 1000) / frame.sampleRate,
    ...(frame.forRecognizer ? { forRecognizer: frame.forRecognizer.slice(skip) } : {}),
  };
}

/**
 * Shares one microphone stream among the actors that run one after another (wake word, listener,
 * barge-in detector): pumps the source once, fans frames out in arrival order and keeps recent
 * history so a new consumer can start a little in the past (pre-roll). Frames keep the source's
 * timestamps.
 */
export class AudioHub {
  private readonly source: AudioSource;
  private readonly historyMs: number;
  private readonly clock: Clock;
  private readonly kept: AudioFrame[] = [];
  private readonly listeners = new Set<(frame: AudioFrame) => void>();
  /** Woken when the stream ends or fails, so waiting iterators notice. */
  private readonly endWatchers = new Set<() => void>();
  private started = false;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private latestEndMs = 0;
  private startedAtClockMs: number | null = null;
  /** Smallest (arrival clock time − frame end): the best estimate of where stream time 0 is on the clock. */
  private minLagMs = Number.POSITIVE_INFINITY;

  constructor(source: AudioSource, options: AudioHubOptions = {}) {
    const historyMs = options.historyMs ?? 3000;
    if (!Number.isFinite(historyMs) || historyMs < 0) throw new RangeError(`historyMs must be ≥ 0, got ${historyMs}`);
    this.source = source;
    this.historyMs = historyMs;
    this.clock = options.clock ?? realClock;
  }

  /** End timestamp (stream time) of the latest frame; 0 before the first. */
  get nowMs(): number {
    return this.latestEndMs;
  }

  /** Active subscribers, frames() iterators included (diagnostics, leak tests). */
  get subscriberCount(): number {
    return this.listeners.size;
  }

  /**
   * Pumps the source until it ends (resolves), fails (rejects with its error, and frames()
   * iterators throw it) or the signal aborts (resolves). A subscriber that throws fails the hub the same way.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error('AudioHub.start() was already called');
    this.started = true;
    this.startedAtClockMs = this.clock.now();
    if (signal.aborted) return this.finish(null);
    const iterator = this.source.frames(signal)[Symbol.asyncIterator]();
    try {
      for (;;) {
        // A source that does not notice the abort must not keep start() (and the app) waiting.
        const step = await untilAborted(iterator.next(), signal);
        if (step === ABORTED || signal.aborted) {
          iterator.return?.().catch(() => undefined);
          break;
        }
        if (step.done) break;
        this.accept(step.value);
      }
      this.finish(null);
    } catch (error) {
      if (signal.aborted) return this.finish(null);
      this.finish({ error });
      iterator.return?.().catch(() => undefined);
      throw error;
    }
  }

  /** Calls `fn` synchronously with every live frame, in arrival order. Returns the unsubscribe function. */
  subscribe(fn: (frame: AudioFrame) => void): () => void {
    const listener = (frame: AudioFrame): void => fn(frame);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Kept history from `fromMs` (the first frame cut to the exact sample; from the oldest kept frame
   * if `fromMs` is older), then live frames, until the signal aborts or the source ends; throws the
   * source's error if it fails. Nothing is dropped for a slow consumer (the queue is unbounded).
   * Stopping early (break/return) unsubscribes.
   */
  frames(signal: AbortSignal, options: HubFramesOptions = {}): AsyncIterable<AudioFrame> {
    return this.stream(signal, options.fromMs ?? this.latestEndMs);
  }

  /** Kept audio from `fromMs` (default: the oldest kept) as one array. */
  history(fromMs = Number.NEGATIVE_INFINITY): Int16Array {
    const parts: Int16Array[] = [];
    for (const frame of this.kept) {
      const part = trimFrom(frame, fromMs);
      if (part) parts.push(part.samples);
    }
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  /**
   * The stream time at clock time `clockMs` (default now): what a sink played at `clockMs` lines up
   * with on the microphone's timeline. Assumes a source paced in real time on the hub's clock; the
   * offset is the smallest delivery delay seen, so it is late by the source's best-case latency
   * (timer lateness × speed on a scaled clock). A caller that knows when the source started should use that.
   */
  streamMsAt(clockMs: number = this.clock.now()): number {
    if (Number.isFinite(this.minLagMs)) return clockMs - this.minLagMs;
    if (this.startedAtClockMs !== null) return clockMs - this.startedAtClockMs;
    return this.latestEndMs;
  }

  private accept(frame: AudioFrame): void {
    const end = frameEndMs(frame);
    this.latestEndMs = end;
    this.minLagMs = Math.min(this.minLagMs, this.clock.now() - end);
    this.kept.push(frame);
    const horizon = end - this.historyMs;
    while (this.kept.length > 1 && this.kept[1]!.timestampMs <= horizon) this.kept.shift();

    let failed: { error: unknown } | null = null;
    for (const listener of [...this.listeners]) {
      try {
        listener(frame);
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed) throw failed.error;
  }

  private finish(failure: { error: unknown } | null): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    for (const wake of [...this.endWatchers]) wake();
  }

  private async *stream(signal: AbortSignal, fromMs: number): AsyncGenerator<AudioFrame, void, undefined> {
    let queue: AudioFrame[] = [];
    let head = 0;
    let wake: (() => void) | null = null;
    const notify = (): void => {
      const resolve = wake;
      wake = null;
      resolve?.();
    };
    const listener = (frame: AudioFrame): void => {
      const part = trimFrom(frame, fromMs);
      if (!part) return;
      queue.push(part);
      notify();
    };
    // History and subscription are taken in the same turn, so no frame is missed or repeated.
    for (const frame of this.kept) {
      const part = trimFrom(frame, fromMs);
      if (part) queue.push(part);
    }
    this.listeners.add(listener);
    this.endWatchers.add(notify);
    signal.addEventListener('abort', notify);
    try {
      for (;;) {
        if (signal.aborted) return;
        if (head < queue.length) {
          const frame = queue[head]!;
          head += 1;
          if (head >= 1024 && head * 2 >= queue.length) {
            queue = queue.slice(head);
            head = 0;
          }
          yield frame;
          continue;
        }
        if (this.failure) throw this.failure.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      this.listeners.delete(listener);
      this.endWatchers.delete(notify);
      signal.removeEventListener('abort', notify);
    }
  }
}
