import { PIPELINE_RATE } from './frame.js';

/** A simple open-speaker room: the speaker's sound reaches the microphone after `delayMs`, then decays. */
export interface RoomOptions {
  /** Playback → capture delay (speaker to microphone, plus the device's buffering). */
  delayMs: number;
  /** Time for the reverberation to decay by 60 dB. */
  rt60Ms: number;
  /** Level of the direct echo at the microphone relative to what was played (e.g. −12). */
  gainDb: number;
  seed?: number;
}

/**
 * The room's impulse response at 16 kHz: a direct path at `delayMs`, then an exponentially
 * decaying noise tail (the textbook model of diffuse reverberation), cut 40 dB down, carrying half
 * the direct path's energy (a direct-to-reverberant ratio of +3 dB, a speaker near the microphone).
 */
export function roomImpulseResponse(options: RoomOptions): { delay: number; taps: Float32Array } {
  let seed = (options.seed ?? 1) >>> 0;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed / 4294967296 - 0.5;
  };
  const gain = 10 ** (options.gainDb / 20);
  const decayPerSample = Math.log(1000) / ((options.rt60Ms / 1000) * PIPELINE_RATE); // amplitude −60 dB over rt60
  const length = Math.ceil((((options.rt60Ms * 40) / 60) / 1000) * PIPELINE_RATE);
  const taps = new Float32Array(Math.max(1, length));
  let tailEnergy = 0;
  for (let k = 1; k < taps.length; k++) {
    taps[k] = random() * Math.exp(-decayPerSample * k);
    tailEnergy += taps[k]! * taps[k]!;
  }
  const tailScale = tailEnergy > 0 ? gain * Math.sqrt(0.5 / tailEnergy) : 0;
  for (let k = 1; k < taps.length; k++) taps[k]! *= tailScale;
  taps[0] = gain;
  return { delay: Math.round((options.delayMs / 1000) * PIPELINE_RATE), taps };
}

const RING = 1 << 18; // 16 s of echo ahead

/** The echo of everything played, added to the microphone at the right sample (kai simulate --room). */
export class EchoRoom {
  private readonly ring = new Float32Array(RING);
  /** Absolute sample index up to which the echo has been taken out (mixed into the microphone). */
  private readPosition = 0;
  private readonly response: { delay: number; taps: Float32Array };

  constructor(options: RoomOptions) {
    this.response = roomImpulseResponse(options);
  }

  /** What the speaker played, with the stream time its first sample left the speaker. */
  play(samples: Int16Array, atStreamMs: number): void {
    const { delay, taps } = this.response;
    const start = Math.round((atStreamMs / 1000) * PIPELINE_RATE) + delay;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      if (s === 0) continue;
      const base = start + i;
      for (let k = 0; k < taps.length; k++) {
        const at = base + k;
        if (at < this.readPosition || at >= this.readPosition + RING) continue; // already heard / too far ahead
        this.ring[at % RING]! += s * taps[k]!;
      }
    }
  }

  /** The microphone frame with the room's echo added. */
  mix(samples: Int16Array, timestampMs: number): Int16Array {
    const start = Math.round((timestampMs / 1000) * PIPELINE_RATE);
    const out = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const slot = (start + i) % RING;
      const value = samples[i]! + this.ring[slot]!;
      this.ring[slot] = 0;
      out[i] = Math.max(-32768, Math.min(32767, Math.round(value)));
    }
    this.readPosition = Math.max(this.readPosition, start + samples.length);
    return out;
  }
}
