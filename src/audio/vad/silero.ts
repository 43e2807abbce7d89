import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { loadRuntime, openSession } from '../onnx.js';

/** Silero v5 scores 32 ms windows at 16 kHz… */
export const VAD_WINDOW_SAMPLES = 512;
/** …each preceded by the last 64 samples of the window before it. */
const CONTEXT_SAMPLES = 64;
const STATE_DIMS = [2, 1, 128];

/** The Silero v5 speech-probability model: one 512-sample window in, P(speech) out. */
export class SileroVad {
  private readonly input = new Float32Array(CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES);
  /** Wraps `input`: onnxruntime reads the array when run() is called. */
  private readonly inputTensor: Tensor;
  private readonly initialState: Tensor;
  /** The model's last `stateN`, fed back as is (onnxruntime never writes into inputs). */
  private state: Tensor;
  private readonly sampleRate: Tensor;

  private constructor(
    ort: typeof import('onnxruntime-node'),
    private readonly session: InferenceSession,
  ) {
    this.inputTensor = new ort.Tensor('float32', this.input, [1, this.input.length]);
    this.initialState = new ort.Tensor('float32', new Float32Array(2 * 128), STATE_DIMS);
    this.state = this.initialState;
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
    this.state = this.initialState;
  }

  async probability(window: Int16Array): Promise<number> {
    if (window.length !== VAD_WINDOW_SAMPLES) throw new RangeError(`expected ${VAD_WINDOW_SAMPLES} samples, got ${window.length}`);
    this.input.copyWithin(0, VAD_WINDOW_SAMPLES);
    for (let i = 0; i < VAD_WINDOW_SAMPLES; i++) this.input[CONTEXT_SAMPLES + i] = window[i]! / 32768;
    const out = await this.session.run({ input: this.inputTensor, state: this.state, sr: this.sampleRate });
    const probability = out.output?.data;
    const state = out.stateN;
    if (!(probability instanceof Float32Array) || !(state?.data instanceof Float32Array) || state.dims.join() !== STATE_DIMS.join()) {
      throw new ModelError('the VAD model returned outputs of an unexpected shape');
    }
    this.state = state;
    return probability[0] ?? 0;
  }
}
