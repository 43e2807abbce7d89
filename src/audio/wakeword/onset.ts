const FRAME_SAMPLES = 160; // 10 ms at 16 kHz
const FRAME_MS = 10;

export interface OnsetOptions {
  /** How far back a phrase may start (the heads see about 2 s of audio). */
  maxLookbackMs?: number;
  /** A pause at least this long separates the wake phrase from earlier sound. */
  minGapMs?: number;
}

/**
 * Keeps 10 ms energies of the recent audio and estimates where the wake phrase began:
 * the start of the run of sound that precedes the detection, bounded by what the heads see.
 */
export class OnsetTracker {
  private readonly energies: Float32Array;
  private count = 0;
  private partialSum = 0;
  private partialLen = 0;
  private readonly maxLookbackFrames: number;
  private readonly minGapFrames: number;

  constructor(options: OnsetOptions = {}) {
    this.maxLookbackFrames = Math.round((options.maxLookbackMs ?? 2000) / FRAME_MS);
    this.minGapFrames = Math.round((options.minGapMs ?? 200) / FRAME_MS);
    this.energies = new Float32Array(this.maxLookbackFrames + 100);
  }

  reset(): void {
    this.count = 0;
    this.partialSum = 0;
    this.partialLen = 0;
  }

  push(samples: Int16Array): void {
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      this.partialSum += s * s;
      if (++this.partialLen === FRAME_SAMPLES) {
        this.energies[this.count % this.energies.length] = this.partialSum / FRAME_SAMPLES;
        this.count += 1;
        this.partialSum = 0;
        this.partialLen = 0;
      }
    }
  }

  /** Start of the phrase in ms from the start of the stream, given the time the phrase was detected. */
  estimateStartMs(detectedAtMs: number): number {
    const endFrame = Math.min(this.count, Math.floor(detectedAtMs / FRAME_MS));
    const firstFrame = Math.max(0, endFrame - this.maxLookbackFrames, this.count - this.energies.length);
    if (endFrame <= firstFrame) return firstFrame * FRAME_MS;
    const threshold = this.speechThreshold(firstFrame, endFrame);
    let frame = endFrame - 1;
    while (frame >= firstFrame && this.energyAt(frame) < threshold) frame--; // trailing silence
    let gap = 0;
    let start = frame + 1;
    for (; frame >= firstFrame; frame--) {
      if (this.energyAt(frame) >= threshold) {
        gap = 0;
        start = frame;
      } else if (++gap >= this.minGapFrames) break;
    }
    return (frame < firstFrame ? firstFrame : start) * FRAME_MS;
  }

  private energyAt(frame: number): number {
    return this.energies[frame % this.energies.length]!;
  }

  /** 15 dB above the quietest tenth of the window, and never below a near-silent floor. */
  private speechThreshold(first: number, end: number): number {
    const values: number[] = [];
    for (let f = first; f < end; f++) values.push(this.energyAt(f));
    values.sort((a, b) => a - b);
    const floor = values[Math.floor(values.length * 0.1)] ?? 0;
    return Math.max(floor * 31.6, 100 * 100);
  }
}
