import type { Clock } from '../../clock.js';
import { PIPELINE_RATE, type AudioFrame, type AudioSource } from '../frame.js';

export interface ClockedSourceOptions {
  clock: Clock;
  /** Frame size; 320 samples (20 ms) is what a microphone driver typically delivers. */
  frameSamples?: number;
  /** After the recording, silence keeps coming while this says so (e.g. until the assistant is idle). */
  continueAfter?: (streamMs: number) => boolean;
  /** Called as each frame is delivered, with the stream time of its end. */
  onFrame?: (streamMs: number) => void;
  /** Changes each frame as it is captured (a simulated room adds the speaker's echo). */
  mix?: (samples: Int16Array, timestampMs: number) => Int16Array;
}

/**
 * A recording played as a live microphone: each frame is delivered when its last sample would
 * have been captured, on the given clock (so a scaled clock plays it N times faster). Then
 * silence, for as long as `continueAfter` asks.
 */
export class ClockedSource implements AudioSource {
  constructor(
    private readonly samples: Int16Array,
    private readonly options: ClockedSourceOptions,
  ) {}

  async *frames(signal: AbortSignal): AsyncIterable<AudioFrame> {
    const { clock, continueAfter = () => false } = this.options;
    const size = this.options.frameSamples ?? 320;
    const silence = new Int16Array(size);
    const startMs = clock.now();
    // Advanced by what each frame holds: a short last frame of the recording is followed without a gap.
    for (let offset = 0; !signal.aborted; ) {
      const inRecording = offset < this.samples.length;
      const timestampMs = (offset * 1000) / PIPELINE_RATE;
      if (!inRecording && !continueAfter(timestampMs)) return;
      const samples = inRecording ? this.samples.slice(offset, offset + size) : silence;
      const dueMs = startMs + ((offset + samples.length) * 1000) / PIPELINE_RATE;
      const waitMs = dueMs - clock.now();
      if (waitMs > 0) {
        try {
          await clock.sleep(waitMs, signal);
        } catch {
          return; // aborted
        }
      }
      this.options.onFrame?.(timestampMs + (samples.length * 1000) / PIPELINE_RATE);
      offset += samples.length;
      yield { samples: this.options.mix ? this.options.mix(samples, timestampMs) : samples, sampleRate: PIPELINE_RATE, timestampMs };
    }
  }
}
