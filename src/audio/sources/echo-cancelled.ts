import type { AudioFrame, AudioSource } from '../frame.js';

/** What the microphone path needs from an echo canceller (src/audio/aec). */
export interface EchoCancelling {
  /** Played audio whose first sample reached the speaker at `atMs` on the microphone's timeline. */
  playback(samples: Int16Array, atMs: number): void;
  /** A microphone frame, cleaned of that audio's echo (same length and timestamp). */
  process(samples: Int16Array, timestampMs: number): Int16Array;
  /** How much echo it currently removes (measured while only the assistant speaks). */
  readonly stats: { erleDb: number; referenceLate?: boolean };
}

/** How fast the held echo reduction may fall (dB per second of audio). */
const CREDIT_RELEASE_DB_PER_S = 2;

/** The microphone with the assistant's own voice taken out, before wake word, VAD and STT hear it. */
export class EchoCancelledSource implements AudioSource {
  private held = 0;
  /** The canceller is missing the reference for what it hears: its echo reduction does not hold right now. */
  private referenceLate = false;

  constructor(
    private readonly source: AudioSource,
    private readonly canceller: EchoCancelling,
  ) {}

  /**
   * The echo reduction the canceller has shown, held: it rises as the canceller converges and only
   * falls slowly. A user talking over the reply makes the measured figure drop (their voice is not
   * echo and stays in), which is exactly when the self-speech gate must keep trusting it. It is 0
   * while the canceller is missing the reference for what it hears (playback reported late).
   */
  get echoReductionDb(): number {
    return this.referenceLate ? 0 : this.held;
  }

  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame, void, undefined> {
    for await (const frame of this.source.frames(signal)) {
      const samples = this.canceller.process(frame.samples, frame.timestampMs);
      const seconds = frame.samples.length / frame.sampleRate;
      const stats = this.canceller.stats;
      this.held = Math.max(stats.erleDb, this.held - CREDIT_RELEASE_DB_PER_S * seconds);
      this.referenceLate = stats.referenceLate === true;
      yield { ...frame, samples };
    }
  }
}
