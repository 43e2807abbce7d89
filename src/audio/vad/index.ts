import type { AudioFrame } from '../frame.js';
import { levelDbfs } from '../level.js';
import { Rechunker } from '../rechunk.js';
import { VadHysteresis, type HysteresisOptions, type VadEvent } from './hysteresis.js';
import { SileroVad, VAD_WINDOW_SAMPLES } from './silero.js';

export { VadHysteresis, type HysteresisOptions, type VadEvent } from './hysteresis.js';
export { SileroVad, VAD_WINDOW_SAMPLES } from './silero.js';

const WINDOW_MS = (VAD_WINDOW_SAMPLES * 1000) / 16_000;

export interface VadOptions extends HysteresisOptions {
  /**
   * Clears the model's memory after this much silence (never when unset). Silero carries what it heard in its
   * recurrent state: after seconds of an echo canceller's residue it scores the next voice lower, and a short
   * word falls under minSpeechMs. After a pause it then hears the next words as it would at the start.
   */
  forgetAfterSilenceMs?: number;
  /** Windows quieter than this (dBFS) are silence whatever the model says: it does not hear level, only likeness to speech. */
  silentBelowDbfs?: number;
}

/** Silero probabilities through the hysteresis, on frames of any size. */
export class VoiceActivityDetector {
  private readonly windows = new Rechunker(VAD_WINDOW_SAMPLES);
  private originMs: number | undefined;
  private readonly hysteresis: VadHysteresis;
  private silentMs = 0;
  /** The latest window's speech probability (for meters). */
  lastProbability = 0;

  constructor(
    private readonly model: Pick<SileroVad, 'probability' | 'reset'>,
    private readonly options: VadOptions,
    private readonly onProbability?: (probability: number, endMs: number) => void,
  ) {
    this.hysteresis = new VadHysteresis(options);
  }

  static async load(modelPath: string, options: VadOptions): Promise<VoiceActivityDetector> {
    return new VoiceActivityDetector(await SileroVad.load(modelPath), options);
  }

  get inSpeech(): boolean {
    return this.hysteresis.inSpeech;
  }

  reset(): void {
    this.model.reset();
    this.hysteresis.reset();
    this.windows.reset();
    this.originMs = undefined;
    this.silentMs = 0;
  }

  async process(frame: AudioFrame): Promise<VadEvent[]> {
    this.originMs ??= frame.timestampMs;
    const events: VadEvent[] = [];
    const windows = this.windows.push(frame.samples);
    let index = this.windows.position / VAD_WINDOW_SAMPLES - windows.length;
    for (const window of windows) {
      const startMs = this.originMs + index * WINDOW_MS;
      index += 1;
      this.lastProbability = await this.probability(window);
      this.onProbability?.(this.lastProbability, startMs + WINDOW_MS);
      events.push(...this.hysteresis.push(this.lastProbability, startMs, WINDOW_MS));
    }
    return events;
  }

  private async probability(window: Int16Array): Promise<number> {
    const forgetAfterMs = this.options.forgetAfterSilenceMs;
    if (forgetAfterMs !== undefined && this.silentMs >= forgetAfterMs) {
      this.model.reset();
      this.silentMs = 0;
    }
    const modelled = await this.model.probability(window);
    const { silentBelowDbfs } = this.options;
    const probability = silentBelowDbfs !== undefined && levelDbfs(window) < silentBelowDbfs ? 0 : modelled;
    this.silentMs = probability < this.options.endThreshold ? this.silentMs + WINDOW_MS : 0;
    return probability;
  }

  /** Closes a segment still open at the end of the stream. */
  flush(): VadEvent[] {
    const endMs = (this.originMs ?? 0) + ((this.windows.position + this.windows.pending) * 1000) / 16_000;
    return this.hysteresis.flush(endMs);
  }
}

export interface SpeechSegment {
  startMs: number;
  endMs: number;
}

/** Every speech segment of a whole recording. */
export async function speechSegments(vad: VoiceActivityDetector, samples: Int16Array): Promise<SpeechSegment[]> {
  vad.reset();
  const events: VadEvent[] = [];
  const chunk = 16_000;
  for (let offset = 0; offset < samples.length; offset += chunk) {
    events.push(...(await vad.process({ samples: samples.subarray(offset, offset + chunk), sampleRate: 16_000, timestampMs: 0 })));
  }
  events.push(...vad.flush());
  return events.flatMap((e) => (e.type === 'speech_end' ? [{ startMs: e.startMs, endMs: e.timestampMs }] : []));
}
