/** The pipeline's unit of audio: 16 kHz mono int16 unless a stage says otherwise. */
export interface AudioFrame {
  samples: Int16Array;
  sampleRate: number;
  /** Position of the first sample on the stream's own timeline, in milliseconds. */
  timestampMs: number;
  /**
   * The same audio as a speech recognizer should hear it, where a stage prepared it differently (same length):
   * the echo canceller keeps the room's noise under the user's words here, and suppresses harder in `samples`.
   */
  forRecognizer?: Int16Array;
}

export const PIPELINE_RATE = 16_000;

/** The frame a speech recognizer should be given: its `forRecognizer` audio when it has one. */
export function recognizerFrame(frame: AudioFrame): AudioFrame {
  if (!frame.forRecognizer) return frame;
  return { samples: frame.forRecognizer, sampleRate: frame.sampleRate, timestampMs: frame.timestampMs };
}

export function durationMs(samples: number, sampleRate = PIPELINE_RATE): number {
  return (samples * 1000) / sampleRate;
}

export function samplesFor(ms: number, sampleRate = PIPELINE_RATE): number {
  return Math.round((ms * sampleRate) / 1000);
}

/** A hot source of audio frames; iteration ends when the signal aborts or the source runs dry. */
export interface AudioSource {
  frames(signal: AbortSignal): AsyncIterable<AudioFrame>;
}

export interface AudioSink {
  /** Queues a frame; resolves when the sink can take more (back-pressure). */
  write(frame: AudioFrame): Promise<void>;
  /** Resolves when everything written has been played (or the signal aborts). */
  drain(signal?: AbortSignal): Promise<void>;
  /** Drops queued audio at once (barge-in) and says how much had really been played. */
  clear(): { playedMs: number };
  /**
   * Milliseconds of audio actually played so far, counted from what the device consumed (never the
   * wall clock: test devices play faster than real time). Audio dropped by clear() is not counted.
   */
  readonly playedMs: number;
  /** Releases the device or file; audio not yet played may be dropped, so drain() first to hear it all. */
  close(): Promise<void>;
}
