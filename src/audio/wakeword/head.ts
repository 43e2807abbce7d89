import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { inputName, loadRuntime, outputName } from '../onnx.js';
import { EMBEDDING_SIZE, tensorData } from './features.js';

/** One openWakeWord classifier: the last N embeddings in, a score in 0..1 out. */
export class WakeHead {
  private readonly window: Float32Array;
  /** Wraps `window`: onnxruntime reads the array when run() is called. */
  private readonly tensor: Tensor;
  private readonly input: string;
  private readonly output: string;

  private constructor(
    readonly keyword: string,
    ort: typeof import('onnxruntime-node'),
    private readonly session: InferenceSession,
    /** How many embeddings the head looks at (16 for the pretrained heads). */
    readonly frames: number,
  ) {
    this.window = new Float32Array(frames * EMBEDDING_SIZE);
    this.tensor = new ort.Tensor('float32', this.window, [1, frames, EMBEDDING_SIZE]);
    this.input = inputName(session);
    this.output = outputName(session);
  }

  static async create(keyword: string, session: InferenceSession): Promise<WakeHead> {
    const meta = session.inputMetadata[0];
    const shape = meta && meta.isTensor ? meta.shape : [];
    const frames = shape[1];
    if (shape.length !== 3 || typeof frames !== 'number' || shape[2] !== EMBEDDING_SIZE) {
      throw new ModelError(
        `wake-word model ${keyword} is not an openWakeWord head (input shape ${JSON.stringify(shape)}, expected [1, N, ${EMBEDDING_SIZE}])`,
      );
    }
    return new WakeHead(keyword, await loadRuntime(), session, frames);
  }

  /** Starts the window over from the given embeddings (oldest first). */
  reset(history: Float32Array[]): void {
    this.window.fill(0);
    const recent = history.slice(-this.frames);
    const offset = this.frames - recent.length;
    recent.forEach((embedding, i) => this.window.set(embedding, (offset + i) * EMBEDDING_SIZE));
  }

  /** Appends the newest embedding and scores the window. */
  async score(embedding: Float32Array): Promise<number> {
    this.window.copyWithin(0, EMBEDDING_SIZE);
    this.window.set(embedding, this.window.length - EMBEDDING_SIZE);
    const out = await this.session.run({ [this.input]: this.tensor });
    const score = tensorData(out[this.output], `wake-word ${this.keyword}`)[0];
    if (score === undefined || !Number.isFinite(score)) throw new ModelError(`wake-word model ${this.keyword} returned no score`);
    return score;
  }
}
