import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { inputName, loadRuntime, outputName } from '../onnx.js';

/** openWakeWord works on 80 ms blocks of 16 kHz audio. */
export const BLOCK_SAMPLES = 1280;
/** The melspectrogram needs this much audio before each block to yield 8 frames for it. */
const MEL_CONTEXT_SAMPLES = 480;
const MEL_BINS = 32;
const MEL_FRAMES_PER_BLOCK = 8;
const EMBEDDING_WINDOW = 76;
export const EMBEDDING_SIZE = 96;
/** Blocks of quiet noise run through the models before the first real audio. */
const PRIMING_BLOCKS = 32;

/**
 * The shared front of openWakeWord: melspectrogram, then the speech embedding. One block in,
 * one 96-value embedding out. Every block is computed the same way whatever chunking the
 * audio arrived in, so scores do not depend on chunk sizes.
 */
export class WakeFeatures {
  private readonly input = new Float32Array(MEL_CONTEXT_SAMPLES + BLOCK_SAMPLES);
  /** The last 76 mel rows, oldest first. */
  private readonly mel = new Float32Array(EMBEDDING_WINDOW * MEL_BINS);
  private readonly melInput: string;
  private readonly melOutput: string;
  private readonly embInput: string;
  private readonly embOutput: string;
  private primedInput = new Float32Array(0);
  private primedMel = new Float32Array(0);
  /** Embeddings of the priming noise, oldest first: the heads' starting windows. */
  primedEmbeddings: Float32Array[] = [];

  private constructor(
    private readonly ort: typeof import('onnxruntime-node'),
    private readonly melSession: InferenceSession,
    private readonly embeddingSession: InferenceSession,
  ) {
    this.melInput = inputName(melSession);
    this.melOutput = outputName(melSession);
    this.embInput = inputName(embeddingSession);
    this.embOutput = outputName(embeddingSession);
  }

  static async create(melSession: InferenceSession, embeddingSession: InferenceSession): Promise<WakeFeatures> {
    const features = new WakeFeatures(await loadRuntime(), melSession, embeddingSession);
    await features.prime();
    return features;
  }

  /**
   * Fills every window with low-level noise, as upstream does: with empty windows the heads
   * fire on the first second of silence.
   */
  private async prime(): Promise<void> {
    this.input.fill(0);
    this.mel.fill(1);
    let seed = 0x2545f491;
    const block = new Int16Array(BLOCK_SAMPLES);
    for (let b = 0; b < PRIMING_BLOCKS; b++) {
      for (let i = 0; i < BLOCK_SAMPLES; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        block[i] = (seed % 2000) - 1000;
      }
      this.primedEmbeddings.push(await this.push(block));
    }
    this.primedInput = this.input.slice();
    this.primedMel = this.mel.slice();
  }

  reset(): void {
    this.input.set(this.primedInput);
    this.mel.set(this.primedMel);
  }

  /** Takes exactly one block of int16 samples and returns its embedding. */
  async push(block: Int16Array): Promise<Float32Array> {
    if (block.length !== BLOCK_SAMPLES) throw new RangeError(`expected ${BLOCK_SAMPLES} samples, got ${block.length}`);
    // openWakeWord expects int16-scale floats, not -1..1.
    this.input.copyWithin(0, BLOCK_SAMPLES);
    for (let i = 0; i < BLOCK_SAMPLES; i++) this.input[MEL_CONTEXT_SAMPLES + i] = block[i]!;
    const melOut = await this.melSession.run({
      [this.melInput]: new this.ort.Tensor('float32', this.input, [1, this.input.length]),
    });
    const rows = tensorData(melOut[this.melOutput], 'melspectrogram');
    if (rows.length !== MEL_FRAMES_PER_BLOCK * MEL_BINS) {
      throw new ModelError(`melspectrogram model returned ${rows.length / MEL_BINS} frames, expected ${MEL_FRAMES_PER_BLOCK}`);
    }
    this.mel.copyWithin(0, rows.length);
    const offset = this.mel.length - rows.length;
    for (let i = 0; i < rows.length; i++) this.mel[offset + i] = rows[i]! / 10 + 2;
    const embOut = await this.embeddingSession.run({
      [this.embInput]: new this.ort.Tensor('float32', this.mel, [1, EMBEDDING_WINDOW, MEL_BINS, 1]),
    });
    const embedding = tensorData(embOut[this.embOutput], 'embedding');
    if (embedding.length !== EMBEDDING_SIZE) throw new ModelError(`embedding model returned ${embedding.length} values, expected ${EMBEDDING_SIZE}`);
    return Float32Array.from(embedding);
  }
}

export function tensorData(tensor: Tensor | undefined, label: string): Float32Array {
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new ModelError(`${label} model returned no float32 output`);
  return tensor.data;
}
