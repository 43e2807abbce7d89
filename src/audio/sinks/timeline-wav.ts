import { PIPELINE_RATE, samplesFor } from '../frame.js';
import { WavFileWriter } from '../wav.js';

export interface TimelineWavOptions {
  /**
   * Audio stays in memory this long behind the latest write before it goes to the file, so clips
   * that overlap within it are mixed. Default 1000 ms.
   */
  mixWindowMs?: number;
}

/**
 * Writes clips to a 16 kHz mono WAV at their place on a timeline (ms from the file's start), with
 * silence between them — e.g. the assistant's speech on the microphone's timeline in `kai simulate`.
 *
 * Overlaps are mixed (summed, clipped to int16), as a listener would hear two sounds at once. Only
 * the last `mixWindowMs` can still be mixed: the part of a clip placed before that is dropped and
 * counted in `droppedSamples` (the file is written as a stream, never rewritten).
 */
export class TimelineWavWriter {
  private readonly writer: WavFileWriter;
  private readonly windowSamples: number;
  /** Samples already in the file. */
  private flushed = 0;
  /** Mixed audio from `flushed` on, not yet in the file. */
  private pending = new Int32Array(0);
  private pendingLength = 0;
  private dropped = 0;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(writer: WavFileWriter, options: TimelineWavOptions = {}) {
    if (writer.sampleRate !== PIPELINE_RATE || writer.channels !== 1) {
      throw new RangeError(`a timeline WAV is ${PIPELINE_RATE} Hz mono, got ${writer.sampleRate} Hz × ${writer.channels}`);
    }
    const mixWindowMs = options.mixWindowMs ?? 1000;
    if (!(mixWindowMs >= 0)) throw new RangeError(`mixWindowMs must be ≥ 0, got ${mixWindowMs}`);
    this.writer = writer;
    this.windowSamples = samplesFor(mixWindowMs);
  }

  /** Creates (truncates) `path`. */
  static async open(path: string, options: TimelineWavOptions = {}): Promise<TimelineWavWriter> {
    return new TimelineWavWriter(await WavFileWriter.open(path, PIPELINE_RATE), options);
  }

  get path(): string {
    return this.writer.path;
  }

  /** End of the timeline so far, in ms. */
  get endMs(): number {
    return ((this.flushed + this.pendingLength) * 1000) / PIPELINE_RATE;
  }

  /** Samples that came too late to be mixed (placed before the mix window). */
  get droppedSamples(): number {
    return this.dropped;
  }

  /** Places `samples` so the first one plays at `atMs` (rounded to the nearest sample). */
  write(samples: Int16Array, atMs: number): Promise<void> {
    let start = samplesFor(Math.max(0, atMs));
    let clip = samples;
    if (start < this.flushed) {
      const late = Math.min(clip.length, this.flushed - start);
      this.dropped += late;
      clip = clip.subarray(late);
      start = this.flushed;
    }
    const from = start - this.flushed;
    this.extend(from + clip.length);
    for (let i = 0; i < clip.length; i++) this.pending[from + i]! += clip[i]!;
    return this.flush(Math.max(0, this.pendingLength - this.windowSamples));
  }

  /** Pads with silence up to `endMs` (never cuts audio already placed), writes everything and closes the file. */
  async finish(endMs: number): Promise<void> {
    this.extend(Math.max(this.pendingLength, samplesFor(endMs) - this.flushed));
    await this.flush(this.pendingLength);
    await this.writer.close();
  }

  /** Grows the pending audio to `length` samples; new samples are silence. */
  private extend(length: number): void {
    if (length <= this.pendingLength) return;
    if (length > this.pending.length) {
      const grown = new Int32Array(Math.max(length, this.pending.length * 2));
      grown.set(this.pending.subarray(0, this.pendingLength));
      this.pending = grown;
    }
    this.pendingLength = length;
  }

  /** Writes the first `count` pending samples to the file. */
  private flush(count: number): Promise<void> {
    if (count <= 0) return this.lastWrite;
    const out = new Int16Array(count);
    for (let i = 0; i < count; i++) out[i] = Math.max(-32768, Math.min(32767, this.pending[i]!));
    this.pending.copyWithin(0, count, this.pendingLength);
    this.pending.fill(0, this.pendingLength - count, this.pendingLength);
    this.pendingLength -= count;
    this.flushed += count;
    const written = this.writer.write(out);
    this.lastWrite = written.catch(() => undefined);
    return written;
  }
}
