import { PIPELINE_RATE, samplesFor } from './frame.js';

/** Number of samples in `ms` milliseconds of audio (500 ms at 16 kHz → 8000). */
export function preRollSamples(ms: number, sampleRate = PIPELINE_RATE): number {
  return samplesFor(ms, sampleRate);
}

/** Keeps the most recent `capacity` samples in fixed memory (the audio just before a wake word). */
export class PreRollBuffer {
  readonly capacity: number;
  private readonly buf: Int16Array;
  /** Index where the next sample goes. */
  private head = 0;
  private filled = 0;

  constructor(capacitySamples: number) {
    if (!Number.isInteger(capacitySamples) || capacitySamples <= 0) {
      throw new RangeError(`capacity must be a positive integer, got ${capacitySamples}`);
    }
    this.capacity = capacitySamples;
    this.buf = new Int16Array(capacitySamples);
  }

  get length(): number {
    return this.filled;
  }

  push(samples: Int16Array): void {
    const cap = this.capacity;
    const src = samples.length > cap ? samples.subarray(samples.length - cap) : samples;
    const first = Math.min(src.length, cap - this.head);
    this.buf.set(src.subarray(0, first), this.head);
    this.buf.set(src.subarray(first), 0);
    this.head = (this.head + src.length) % cap;
    this.filled = Math.min(cap, this.filled + src.length);
  }

  /** A copy of the buffered samples, oldest first. */
  snapshot(): Int16Array {
    const out = new Int16Array(this.filled);
    const start = (this.head - this.filled + this.capacity) % this.capacity;
    const first = Math.min(this.filled, this.capacity - start);
    out.set(this.buf.subarray(start, start + first), 0);
    out.set(this.buf.subarray(0, this.filled - first), first);
    return out;
  }

  clear(): void {
    this.head = 0;
    this.filled = 0;
  }
}
