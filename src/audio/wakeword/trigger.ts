export interface TriggerOptions {
  threshold: number;
  refractoryMs: number;
  /** Average of this many latest scores is compared with the threshold (1 = raw score). */
  smoothing: number;
  /** Predictions ignored after a reset while the feature windows fill (upstream ignores 5). */
  warmupPredictions?: number;
}

/** Pure threshold/refractory/smoothing logic for one head; time is the stream's own, in ms. */
export class WakeTrigger {
  private readonly recent: number[] = [];
  private predictions = 0;
  private quietUntilMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: TriggerOptions) {}

  reset(): void {
    this.recent.length = 0;
    this.predictions = 0;
    this.quietUntilMs = Number.NEGATIVE_INFINITY;
  }

  /** Returns the smoothed score when this prediction fires, otherwise null. */
  push(score: number, atMs: number): number | null {
    this.predictions += 1;
    this.recent.push(score);
    if (this.recent.length > this.options.smoothing) this.recent.shift();
    if (this.predictions <= (this.options.warmupPredictions ?? 5)) return null;
    const smoothed = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
    if (smoothed < this.options.threshold || atMs < this.quietUntilMs) return null;
    this.quietUntilMs = atMs + this.options.refractoryMs;
    return smoothed;
  }
}
