export interface HysteresisOptions {
  /** Probability that starts (or continues) speech. */
  startThreshold: number;
  /** Probability below which a frame counts as silence; between the two, the state holds. */
  endThreshold: number;
  /** Speech shorter than this is ignored. */
  minSpeechMs: number;
  /** Silence this long ends a segment. */
  minSilenceMs: number;
  /** Widens each segment on both sides. */
  paddingMs: number;
}

export type VadEvent =
  | { type: 'speech_start'; timestampMs: number }
  | { type: 'speech_end'; timestampMs: number; startMs: number };

/**
 * Pure start/stop logic over speech probabilities. `speech_start` is emitted once speech has
 * lasted minSpeechMs (timestamped at its padded onset); `speech_end` once silence has lasted
 * minSilenceMs (timestamped at the padded end of the speech).
 */
export class VadHysteresis {
  private speaking = false;
  private confirmed = false;
  private onsetMs = 0;
  private lastSpeechEndMs = 0;
  private silenceStartMs: number | null = null;
  private streamStartMs: number | null = null;

  constructor(private readonly options: HysteresisOptions) {}

  get inSpeech(): boolean {
    return this.confirmed;
  }

  reset(): void {
    this.speaking = false;
    this.confirmed = false;
    this.silenceStartMs = null;
    this.streamStartMs = null;
  }

  /** One probability for the frame [startMs, startMs + frameMs). */
  push(probability: number, startMs: number, frameMs: number): VadEvent[] {
    this.streamStartMs ??= startMs;
    const endMs = startMs + frameMs;
    const events: VadEvent[] = [];
    const { startThreshold, endThreshold, minSpeechMs, minSilenceMs } = this.options;

    if (!this.speaking) {
      if (probability >= startThreshold) {
        this.speaking = true;
        this.onsetMs = startMs;
        this.lastSpeechEndMs = endMs;
        this.silenceStartMs = null;
      }
    } else if (probability < endThreshold) {
      this.silenceStartMs ??= startMs;
      if (endMs - this.silenceStartMs >= minSilenceMs) {
        if (this.confirmed) events.push(this.end());
        this.speaking = false;
        this.confirmed = false;
        this.silenceStartMs = null;
      }
    } else if (probability >= startThreshold || this.silenceStartMs === null) {
      this.silenceStartMs = null;
      this.lastSpeechEndMs = endMs;
    }

    if (this.speaking && !this.confirmed && this.lastSpeechEndMs - this.onsetMs >= minSpeechMs) {
      this.confirmed = true;
      events.push({ type: 'speech_start', timestampMs: Math.max(this.streamStartMs, this.onsetMs - this.options.paddingMs) });
    }
    return events;
  }

  /** Ends a segment still open when the stream ends at endMs. */
  flush(endMs: number): VadEvent[] {
    const events: VadEvent[] = [];
    if (this.confirmed) events.push(this.end(endMs));
    this.reset();
    return events;
  }

  private end(streamEndMs = Number.POSITIVE_INFINITY): VadEvent {
    const startMs = Math.max(this.streamStartMs ?? 0, this.onsetMs - this.options.paddingMs);
    const timestampMs = Math.min(streamEndMs, this.lastSpeechEndMs + this.options.paddingMs);
    return { type: 'speech_end', timestampMs, startMs };
  }
}
