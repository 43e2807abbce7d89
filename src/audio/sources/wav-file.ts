import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs, type AudioFrame, type AudioSource } from '../frame.js';
import { readWav } from '../wav.js';
import { DEFAULT_FRAME_SAMPLES } from './stdin.js';

export interface WavFileSourceOptions {
  /** Samples per frame; the last frame may be shorter. Default 1280 (80 ms at 16 kHz). */
  frameSamples?: number;
  /**
   * Deliver each frame when a live microphone would: once its last sample is "recorded",
   * counted from the first frames() step. Default false: as fast as the consumer takes them.
   */
  realtime?: boolean;
}

/** A WAV file (any PCM/float WAV; read as 16 kHz mono) as an AudioSource. Each frames() call replays the file. */
export class WavFileSource implements AudioSource {
  readonly path: string;
  private readonly frameSamples: number;
  private readonly realtime: boolean;

  constructor(path: string, options: WavFileSourceOptions = {}) {
    const frameSamples = options.frameSamples ?? DEFAULT_FRAME_SAMPLES;
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(`frameSamples must be a positive integer, got ${frameSamples}`);
    }
    this.path = path;
    this.frameSamples = frameSamples;
    this.realtime = options.realtime ?? false;
  }

  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame, void, undefined> {
    if (signal.aborted) return;
    const { samples, sampleRate } = await readWav(this.path);
    const start = performance.now();
    for (let i = 0; i < samples.length && !signal.aborted; i += this.frameSamples) {
      const chunk = samples.slice(i, i + this.frameSamples);
      if (this.realtime) {
        // Scheduled against the start, not the previous frame, so timer lateness does not add up.
        const due = start + durationMs(i + chunk.length, sampleRate) - performance.now();
        if (due > 0) {
          try {
            await sleep(due, undefined, { signal });
          } catch {
            return;
          }
        }
      }
      yield { samples: chunk, sampleRate, timestampMs: durationMs(i, sampleRate) };
    }
  }
}
