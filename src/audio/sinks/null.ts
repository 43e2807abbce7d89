import { durationMs, type AudioFrame, type AudioSink } from '../frame.js';

/** Discards audio at once, counting it as played (benchmarks, tests, --no-audio runs). */
export class NullSink implements AudioSink {
  private ms = 0;
  private closed = false;

  get playedMs(): number {
    return this.ms;
  }

  write(frame: AudioFrame): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the null sink is closed'));
    this.ms += durationMs(frame.samples.length, frame.sampleRate);
    return Promise.resolve();
  }

  drain(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing is ever queued, so nothing is dropped. */
  clear(): { playedMs: number } {
    return { playedMs: this.ms };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
