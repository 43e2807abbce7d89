import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { inputName, loadRuntime, outputName, type OnnxRuntime } from '../onnx.js';
import { StreamingEmbedder, WindowEmbedder, type Embedder } from './embedders.js';

/** openWakeWord works on 80 ms blocks of 16 kHz audio. */
export const BLOCK_SAMPLES = 1280;
/** The melspectrogram needs this much audio before each block to yield 8 frames for it. */
const MEL_CONTEXT_SAMPLES = 480;
export const MEL_BINS = 32;
export const MEL_FRAMES_PER_BLOCK = 8;
export const EMBEDDING_WINDOW = 76;
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
  private readonly inputTensor: Tensor;
  /** The current block's mel rows, scaled as the embedding model wants them. */
  private readonly rows = new Float32Array(MEL_FRAMES_PER_BLOCK * MEL_BINS);
  private readonly melInput: string;
  private readonly melOutput: string;
  private embedder: Embedder;
  private primedInput = new Float32Array(0);
  /** Embeddings of the priming noise, oldest first: the heads' starting windows. */
  primedEmbeddings: Float32Array[] = [];
  /** Whether embeddings come from the streaming rewiring of the embedding model (see StreamingEmbedder). */
  streaming = false;

  private constructor(
    ort: OnnxRuntime,
    private readonly melSession: InferenceSession,
    private readonly window: WindowEmbedder,
  ) {
    this.inputTensor = new ort.Tensor('float32', this.input, [1, this.input.length]);
    this.melInput = inputName(melSession);
    this.melOutput = outputName(melSession);
    this.embedder = window;
  }

  /** `embeddingPath` is the file `embeddingSession` was loaded from: it is rewired for streaming. */
  static async create(melSession: InferenceSession, embeddingSession: InferenceSession, embeddingPath: string): Promise<WakeFeatures> {
    const ort = await loadRuntime();
    const features = new WakeFeatures(ort, melSession, new WindowEmbedder(ort, embeddingSession));
    // Any failure to rewire the model only costs speed: the published model is used as is.
    const streaming = await StreamingEmbedder.open(ort, embeddingPath).catch(() => undefined);
    await features.prime(streaming);
    return features;
  }

  /**
   * Fills every window with low-level noise, as upstream does: with empty windows the heads
   * fire on the first second of silence. The streaming embedder is checked against the
   * published model on every priming block and only used if they agree bit for bit.
   */
  private async prime(streaming: StreamingEmbedder | undefined): Promise<void> {
    this.input.fill(0);
    let seed = 0x2545f491;
    const block = new Int16Array(BLOCK_SAMPLES);
    for (let b = 0; b < PRIMING_BLOCKS; b++) {
      for (let i = 0; i < BLOCK_SAMPLES; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        block[i] = (seed % 2000) - 1000;
      }
      const rows = await this.melRows(block);
      const embedding = await this.window.push(rows);
      if (streaming && !sameValues(await streaming.push(rows).catch(() => undefined), embedding)) streaming = undefined;
      this.primedEmbeddings.push(embedding);
    }
    if (streaming) {
      this.embedder = streaming;
      this.streaming = true;
    }
    this.embedder.mark();
    this.primedInput = this.input.slice();
  }

  reset(): void {
    this.input.set(this.primedInput);
    this.embedder.reset();
  }

  /** Takes exactly one block of int16 samples and returns its embedding. */
  async push(block: Int16Array): Promise<Float32Array> {
    if (block.length !== BLOCK_SAMPLES) throw new RangeError(`expected ${BLOCK_SAMPLES} samples, got ${block.length}`);
    return this.embedder.push(await this.melRows(block));
  }

  private async melRows(block: Int16Array): Promise<Float32Array> {
    // openWakeWord expects int16-scale floats, not -1..1.
    this.input.copyWithin(0, BLOCK_SAMPLES);
    for (let i = 0; i < BLOCK_SAMPLES; i++) this.input[MEL_CONTEXT_SAMPLES + i] = block[i]!;
    const out = await this.melSession.run({ [this.melInput]: this.inputTensor });
    const mel = tensorData(out[this.melOutput], 'melspectrogram');
    if (mel.length !== this.rows.length) {
      throw new ModelError(`melspectrogram model returned ${mel.length / MEL_BINS} frames, expected ${MEL_FRAMES_PER_BLOCK}`);
    }
    for (let i = 0; i < mel.length; i++) this.rows[i] = mel[i]! / 10 + 2;
    return this.rows;
  }
}

export function tensorData(tensor: Tensor | undefined, label: string): Float32Array {
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new ModelError(`${label} model returned no float32 output`);
  return tensor.data;
}

function sameValues(a: Float32Array | undefined, b: Float32Array): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
