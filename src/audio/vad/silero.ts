import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { loadRuntime, openSession } from '../onnx.js';

/** Silero v5 scores 32 ms windows at 16 kHz… */
export const VAD_WINDOW_SAMPLES = 512;
/** …each preceded by the last 64 samples of the window before it. */
const CONTEXT_SAMPLES = 64;
const STATE_SIZE = 2 * 1 * 128;

/** The Silero v5 speech-probability model: one 512-sample window in, P(speech) out. */
export class SileroVad {
  private readonly input = new Float32Array(CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES);
  private state: Float32Array = new Float32Array(STATE_SIZE);
  private readonly sampleRate: Tensor;

  private constructor(
    private readonly ort: typeof import('onnxruntime-node'),
    private readonly session: InferenceSession,
  ) {
    this.sampleRate = new ort.Tensor('int64', BigInt64Array.from([16_000n]), []);
    const names = session.inputNames;
    if (!names.includes('input') || !names.includes('state') || !names.includes('sr')) {
      throw new ModelError(`the VAD model is not Silero v5 (inputs ${names.join(', ')}; expected input, state, sr)`);
    }
  }

  static async load(path: string): Promise<SileroVad> {
    return new SileroVad(await loadRuntime(), await openSession(path, 'VAD model silero_vad'));
  }

  reset(): void {
    this.input.fill(0);
    this.state = new Float32Array(STATE_SIZE);
  }

  async probability(window: Int16Array): Promise<number> {
    if (window.length !== VAD_WINDOW_SAMPLES) throw new RangeError(`expected ${VAD_WINDOW_SAMPLES} samples, got ${window.length}`);
    this.input.copyWithin(0, VAD_WINDOW_SAMPLES);
    for (let i = 0; i < VAD_WINDOW_SAMPLES; i++) this.input[CONTEXT_SAMPLES + i] = window[i]! / 32768;
    const out = await this.session.run({
      input: new this.ort.Tensor('float32', this.input, [1, this.input.length]),
      state: new this.ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: this.sampleRate,
    });
    const probability = out.output?.data;
    const state = out.stateN?.data;
    if (!(probability instanceof Float32Array) || !(state instanceof Float32Array) || state.length !== STATE_SIZE) {
      throw new ModelError('the VAD model returned outputs of an unexpected shape');
    }
    this.state = state;
    return probability[0] ?? 0;
  }
}
