import type { AudioFrame } from '../../audio/frame.js';
import { floatToInt16, int16ToFloat, StreamingResampler } from '../../audio/resample.js';
import { rateChangedError } from './errors.js';

/** Turns a stream of int16 frames into base64 PCM16 LE at the server's rate, chunk by chunk. */
export class PcmEncoder {
  private inRate: number | undefined;
  private resampler: StreamingResampler | null = null;

  constructor(readonly outRate: number) {}

  /** Base64 of the converted frame; '' when the resampler is still holding the input back. */
  encode(frame: AudioFrame): string {
    if (this.inRate === undefined) {
      this.inRate = frame.sampleRate;
      if (frame.sampleRate !== this.outRate) this.resampler = new StreamingResampler(frame.sampleRate, this.outRate);
    } else if (frame.sampleRate !== this.inRate) {
      throw rateChangedError(this.inRate, frame.sampleRate);
    }
    if (!this.resampler) return toBase64(frame.samples);
    return toBase64(floatToInt16(this.resampler.process(int16ToFloat(frame.samples))));
  }

  /** The resampler's held-back tail; '' when there is none. */
  flush(): string {
    return this.resampler ? toBase64(floatToInt16(this.resampler.flush())) : '';
  }
}

// Int16Array memory is in host byte order, which is little-endian on every platform Node runs on.
function toBase64(samples: Int16Array): string {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString('base64');
}
