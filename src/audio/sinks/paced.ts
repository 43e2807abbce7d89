import type { Clock } from '../../clock.js';
import { AudioFormatError } from '../../errors.js';
import { PIPELINE_RATE, type AudioFrame, type AudioSink } from '../frame.js';
import { Conditions } from './conditions.js';

export interface PacedSinkOptions {
  clock: Clock;
  /** Receives every piece as it is played, with the clock time its first sample started playing. */
  output?: (frame: AudioFrame, playedAtMs: number) => void | Promise<void>;
  /** write() resolves once less than this is queued. Default 250 ms. */
  maxQueueMs?: number;
  /** How often (clock ms) queued audio is consumed. Default 20 ms. */
  tickMs?: number;
}

export type PlayedListener = (samples: Int16Array, atMs: number) => void;

const SAMPLES_PER_MS = PIPELINE_RATE / 1000;

/**
 * A virtual loudspeaker that plays at 16 samples per clock millisecond, so with a scaled clock a
 * simulated run hears the reply exactly as long as a real speaker would play it.
 *
 * Playback runs in "runs": a write to an idle sink starts one at clock.now(), and it lasts while
 * audio stays queued; if the queue runs dry (underrun) the next write starts a new run. Pieces are
 * consumed every tick, but their play times are exact: run start + samples already played / 16.
 * playedMs counts the samples due by now, consumed or about to be at the next tick.
 */
export class PacedSink implements AudioSink {
  private readonly clock: Clock;
  private readonly output: PacedSinkOptions['output'];
  private readonly maxQueueSamples: number;
  private readonly tickMs: number;
  private queue: Int16Array[] = [];
  private queuedSamples = 0;
  /** Clock time the current run started at; null when nothing is playing. */
  private runStartMs: number | null = null;
  private runConsumed = 0;
  private consumedTotal = 0;
  private timer: { handle: unknown } | null = null;
  private readonly pendingOutputs = new Set<Promise<void>>();
  private readonly playedListeners = new Set<PlayedListener>();
  private readonly conditions = new Conditions();
  private failure: { error: unknown } | null = null;
  private closed = false;

  constructor(options: PacedSinkOptions) {
    const maxQueueMs = options.maxQueueMs ?? 250;
    const tickMs = options.tickMs ?? 20;
    if (!(maxQueueMs > 0)) throw new RangeError(`maxQueueMs must be positive, got ${maxQueueMs}`);
    if (!(tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${tickMs}`);
    this.clock = options.clock;
    this.output = options.output;
    this.maxQueueSamples = maxQueueMs * SAMPLES_PER_MS;
    this.tickMs = tickMs;
  }

  get playedMs(): number {
    return (this.consumedTotal + this.due()) / SAMPLES_PER_MS;
  }

  /** Audio written but not yet played. */
  get queuedMs(): number {
    return (this.queuedSamples - this.due()) / SAMPLES_PER_MS;
  }

  /** Tells `listener` about every piece played (echo / self-speech gating). Returns the unsubscribe function. */
  onPlayed(listener: PlayedListener): () => void {
    this.playedListeners.add(listener);
    return () => {
      this.playedListeners.delete(listener);
    };
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.closed) throw new Error('the paced sink is closed');
    if (this.failure) throw this.failure.error;
    if (frame.sampleRate !== PIPELINE_RATE) {
      throw new AudioFormatError(`the paced sink plays ${PIPELINE_RATE} Hz audio, got a ${frame.sampleRate} Hz frame`);
    }
    // Play what was due first, so a write after an underrun starts a new run instead of back-dating.
    this.advance();
    if (frame.samples.length === 0) return;
    if (this.runStartMs === null) {
      this.runStartMs = this.clock.now();
      this.runConsumed = 0;
    }
    this.queue.push(frame.samples.slice());
    this.queuedSamples += frame.samples.length;
    this.schedule();
    await this.conditions.until(() => this.failure !== null || this.closed || this.queuedSamples < this.maxQueueSamples);
    this.throwIfFailed();
  }

  /** Resolves when everything queued has played and every output call has settled. */
  async drain(signal?: AbortSignal): Promise<void> {
    this.advance();
    await this.conditions.until(() => this.failure !== null || this.queuedSamples === 0, signal);
    await Promise.all(this.pendingOutputs);
    this.throwIfFailed();
  }

  /**
   * Plays now what is due, without waiting for the next tick: a simulated microphone captures after it, so
   * the room has heard everything the speaker played by then, however late a busy event loop runs the tick.
   */
  playDue(): void {
    this.advance();
  }

  clear(): { playedMs: number } {
    this.advance();
    this.stop();
    return { playedMs: this.playedMs };
  }

  /** Drops what is still queued and waits for pending output calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.advance();
    this.stop();
    this.closed = true;
    this.conditions.wake();
    await Promise.all(this.pendingOutputs);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Samples whose play time has come but which are not consumed yet. */
  private due(): number {
    if (this.runStartMs === null) return 0;
    const target = Math.floor((this.clock.now() - this.runStartMs) * SAMPLES_PER_MS) - this.runConsumed;
    return Math.max(0, Math.min(this.queuedSamples, target));
  }

  private advance(): void {
    const n = this.due();
    if (n === 0 || this.runStartMs === null) return;
    const atMs = this.runStartMs + this.runConsumed / SAMPLES_PER_MS;
    const samples = new Int16Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.queue[0]!;
      const take = Math.min(head.length, n - filled);
      samples.set(head.subarray(0, take), filled);
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      filled += take;
    }
    this.queuedSamples -= n;
    this.runConsumed += n;
    this.consumedTotal += n;
    if (this.queuedSamples === 0) this.runStartMs = null;
    this.emit(samples, atMs);
  }

  private emit(samples: Int16Array, atMs: number): void {
    for (const listener of [...this.playedListeners]) {
      try {
        listener(samples, atMs);
      } catch (error) {
        this.fail(error);
      }
    }
    if (!this.output) return;
    try {
      const result = this.output({ samples, sampleRate: PIPELINE_RATE, timestampMs: atMs }, atMs);
      if (result) {
        const settled: Promise<void> = result.then(
          () => undefined,
          (error: unknown) => this.fail(error),
        );
        this.pendingOutputs.add(settled);
        void settled.finally(() => this.pendingOutputs.delete(settled));
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** Drops the queue and the timer; playedMs keeps what was consumed. */
  private stop(): void {
    this.queue = [];
    this.queuedSamples = 0;
    this.runStartMs = null;
    if (this.timer) {
      this.clock.clearTimeout(this.timer.handle);
      this.timer = null;
    }
    this.conditions.wake();
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    this.stop();
  }

  private schedule(): void {
    if (this.timer || this.queuedSamples === 0 || this.runStartMs === null) return;
    // Tick early when the queue runs out sooner, so drain() and underruns are not a tick late.
    const untilEmptyMs = (this.runConsumed + this.queuedSamples) / SAMPLES_PER_MS - (this.clock.now() - this.runStartMs);
    const delay = Math.max(0, Math.min(this.tickMs, untilEmptyMs));
    this.timer = { handle: this.clock.setTimeout(() => this.tick(), delay) };
  }

  private tick(): void {
    this.timer = null;
    this.advance();
    this.schedule();
    this.conditions.wake();
  }
}
