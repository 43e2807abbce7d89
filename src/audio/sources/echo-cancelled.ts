import type { AudioFrame, AudioSource } from '../frame.js';

/** What the microphone path needs from an echo canceller (src/audio/aec). */
export interface EchoCancelling {
  /** Played audio whose first sample reached the speaker at `atMs` on the microphone's timeline. */
  playback(samples: Int16Array, atMs: number): void;
  /**
   * A microphone frame, cleaned of that audio's echo (same length and timestamp); `forRecognizer`, if given, gets
   * the same audio prepared for a speech recognizer.
   */
  process(samples: Int16Array, timestampMs: number, forRecognizer?: Int16Array): Int16Array;
  /** How much echo it currently removes (measured while only the assistant speaks). */
  readonly stats: { erleDb: number; referenceLate?: boolean };
}

/** How fast the held echo reduction may fall (dB per second of audio). */
const CREDIT_RELEASE_DB_PER_S = 2;
/** The echo reduction held after a frame of `seconds` in which the canceller measured `erleDb`. */
export function holdReduction(heldDb: number, erleDb: number, seconds: number): number {
  return Math.max(erleDb, heldDb - CREDIT_RELEASE_DB_PER_S * seconds);
}

/** How far back the echo reduction of past frames is kept: consumers of the cleaned audio may lag behind. */
const HISTORY_MS = 10_000;

/** The microphone with the assistant's own voice taken out, before wake word, VAD and STT hear it. */
export class EchoCancelledSource implements AudioSource {
  private held = 0;
  /** Echo reduction per frame delivered, oldest first. */
  private readonly history: { startMs: number; reductionDb: number }[] = [];

  constructor(
    private readonly source: AudioSource,
    private readonly canceller: EchoCancelling,
  ) {}

  /**
   * The echo reduction the canceller had shown when it cleaned the frame holding `atMs` (stream time), held: it
   * rises as the canceller converges and only falls slowly. A user talking over the reply makes the measured figure
   * drop (their voice is not echo and stays in), which is exactly when the self-speech gate must keep trusting it.
   * It is 0 while the canceller was missing the reference for what it heard (playback reported late), and 0 for
   * audio it has not cleaned. Per frame, because the cleaned audio's consumers may run behind the canceller.
   */
  echoReductionAt(atMs: number): number {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const frame = this.history[i]!;
      if (frame.startMs <= atMs) return frame.reductionDb;
    }
    return 0;
  }

  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame, void, undefined> {
    for await (const frame of this.source.frames(signal)) {
      const forRecognizer = new Int16Array(frame.samples.length);
      const samples = this.canceller.process(frame.samples, frame.timestampMs, forRecognizer);
      const seconds = frame.samples.length / frame.sampleRate;
      const stats = this.canceller.stats;
      this.held = holdReduction(this.held, stats.erleDb, seconds);
      this.history.push({ startMs: frame.timestampMs, reductionDb: stats.referenceLate === true ? 0 : this.held });
      while (this.history.length > 1 && this.history[0]!.startMs < frame.timestampMs - HISTORY_MS) this.history.shift();
      yield { ...frame, samples, forRecognizer };
    }
  }
}
