import { readFile } from 'node:fs/promises';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { inputName, openSession, outputName, type OnnxRuntime } from '../onnx.js';
import { protoBytes, protoFields, protoInt, protoInts, type ProtoChunks, type ProtoField } from '../onnx-proto.js';
import { EMBEDDING_SIZE, EMBEDDING_WINDOW, MEL_BINS, MEL_FRAMES_PER_BLOCK, tensorData } from './features.js';

function embeddingOf(tensor: Tensor | undefined): Float32Array {
  const embedding = tensorData(tensor, 'embedding');
  if (embedding.length !== EMBEDDING_SIZE) throw new ModelError(`embedding model returned ${embedding.length} values, expected ${EMBEDDING_SIZE}`);
  return embedding; // a fresh array from onnxruntime, safe to keep
}

/** The newest block's mel rows in, the embedding of the last 76 rows out. */
export interface Embedder {
  push(rows: Float32Array): Promise<Float32Array>;
  /** Remembers the current state as the one reset() returns to. */
  mark(): void;
  reset(): void;
}

/** The embedding model as published: the whole 76-row window in every time. */
export class WindowEmbedder implements Embedder {
  /** The last 76 mel rows, oldest first; upstream starts from rows of 1.0. */
  private readonly mel = new Float32Array(EMBEDDING_WINDOW * MEL_BINS).fill(1);
  private readonly tensor: Tensor;
  private readonly input: string;
  private readonly output: string;
  private marked = new Float32Array(0);

  constructor(
    ort: OnnxRuntime,
    private readonly session: InferenceSession,
  ) {
    this.tensor = new ort.Tensor('float32', this.mel, [1, EMBEDDING_WINDOW, MEL_BINS, 1]);
    this.input = inputName(session);
    this.output = outputName(session);
  }

  async push(rows: Float32Array): Promise<Float32Array> {
    this.mel.copyWithin(0, rows.length);
    this.mel.set(rows, this.mel.length - rows.length);
    return embeddingOf((await this.session.run({ [this.input]: this.tensor }))[this.output]);
  }

  mark(): void {
    this.marked = this.mel.slice();
  }

  reset(): void {
    this.mel.set(this.marked);
  }
}

/**
 * The embedding model rewired to take only the 8 new mel rows of each block. Its convolutions
 * are unpadded in time and its poolings divide 8, so each row of each layer depends on a fixed
 * span of mel rows and is the same in every window it falls in: the rewired model keeps the
 * rows each convolution still needs from earlier blocks (kernel height − 1) and computes only
 * the new ones: about a ninth of the arithmetic of the whole window (measured: 3× less CPU). Each row
 * is computed by the same kernels as before, and WakeFeatures checks that the embeddings agree
 * bit for bit before using it.
 */
export class StreamingEmbedder implements Embedder {
  private state: Tensor[];
  private marked: Tensor[] = [];

  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: InferenceSession,
    private readonly graph: StreamingGraph,
  ) {
    this.state = graph.caches.map((c) => new ort.Tensor('float32', new Float32Array(c.dims.reduce((a, b) => a * b)), c.dims));
  }

  /** Rewires the published embedding model at `path` (see streamingGraph). */
  static async open(ort: OnnxRuntime, path: string): Promise<StreamingEmbedder> {
    const { model, ...graph } = streamingGraph(await readFile(path));
    const embedder = new StreamingEmbedder(ort, await openSession(model, 'wake-word feature model embedding (streaming)'), graph);
    // Start where the published model starts: a window of rows of 1.0.
    const ones = new Float32Array(MEL_FRAMES_PER_BLOCK * MEL_BINS).fill(1);
    for (let rows = 0; rows < EMBEDDING_WINDOW; rows += MEL_FRAMES_PER_BLOCK) await embedder.push(ones);
    return embedder;
  }

  async push(rows: Float32Array): Promise<Float32Array> {
    const feeds: Record<string, Tensor> = { [this.graph.input]: new this.ort.Tensor('float32', rows, [1, 1, MEL_FRAMES_PER_BLOCK, MEL_BINS]) };
    this.graph.caches.forEach((cache, i) => (feeds[cache.input] = this.state[i]!));
    const out = await this.session.run(feeds);
    this.state = this.graph.caches.map((cache) => {
      const next = out[cache.output];
      if (!next) throw new ModelError('streaming embedding model returned no cache');
      return next;
    });
    return embeddingOf(out[this.graph.output]);
  }

  mark(): void {
    this.marked = this.state;
  }

  reset(): void {
    this.state = this.marked; // onnxruntime never writes into input tensors
  }
}

interface StreamingGraph {
  input: string;
  output: string;
  caches: { input: string; output: string; dims: number[] }[];
}

/**
 * Builds the streaming embedding model from the published one's bytes (ONNX field numbers from
 * onnx.proto): its first node turns the NHWC [N, 76, 32, 1] input into NCHW [N, 1, 76, 32] and
 * is dropped (the new rows come in as [1, 1, 8, 32]); every convolution taller than one row gets
 * Concat(cached rows, new rows) in front of it and a Slice keeping the last rows for the next
 * block. Throws on graphs it plainly cannot handle; WakeFeatures's bit-for-bit check catches the rest.
 */
function streamingGraph(bytes: Uint8Array): StreamingGraph & { model: Uint8Array } {
  const text = (f: ProtoField | undefined) => (f ? Buffer.from(bytes.subarray(f.start, f.end)).toString() : '');
  const fieldsOf = (f: ProtoField) => protoFields(bytes, f.start, f.end);
  const unsupported = (why: string) => new ModelError(`embedding model cannot be streamed: ${why}`);

  const model = protoFields(bytes);
  const graphField = model.find((f) => f.field === 7);
  if (!graphField) throw unsupported('no graph');
  const graph = fieldsOf(graphField);
  const initializers = new Map<string, { raw: Uint8Array; dims: number[] }>();
  for (const f of graph.filter((f) => f.field === 5)) {
    const tensor = fieldsOf(f);
    initializers.set(text(tensor.find((t) => t.field === 8)), { raw: bytes.subarray(f.start, f.end), dims: protoInts(bytes, tensor, 1) });
  }
  const valueNames = (field: number) => graph.filter((f) => f.field === field).map((f) => text(fieldsOf(f).find((v) => v.field === 1)));
  const graphInput = valueNames(11).find((name) => !initializers.has(name));
  const graphOutput = valueNames(12)[0];

  const node = (op: string, inputs: string[], outputs: string[], attributes: ProtoChunks[], domain?: Uint8Array): ProtoChunks =>
    protoBytes(1, [
      ...inputs.flatMap((name) => protoBytes(1, name)),
      ...outputs.flatMap((name) => protoBytes(2, name)),
      ...protoBytes(4, op),
      ...attributes.flatMap((a) => protoBytes(5, a)),
      ...(domain ? protoBytes(7, domain) : []),
    ]);
  const int64s = (name: string, values: number[]): ProtoChunks =>
    protoBytes(5, [...protoInt(1, values.length), ...protoInt(2, 7), ...protoBytes(8, name), ...values.flatMap((v) => protoInt(7, v))]);
  const float32Value = (name: string, dims?: number[]): ProtoChunks => {
    const shape = dims ? protoBytes(2, dims.flatMap((d) => protoBytes(1, protoInt(1, d)))) : [];
    return [...protoBytes(1, name), ...protoBytes(2, protoBytes(1, [...protoInt(1, 1), ...shape]))];
  };

  const input = 'stream/rows';
  const nodes: ProtoChunks[] = [];
  const inputs = [protoBytes(11, float32Value(input, [1, 1, MEL_FRAMES_PER_BLOCK, MEL_BINS]))];
  const outputs: ProtoChunks[] = [];
  const extraInitializers = [int64s('stream/end', [Number.MAX_SAFE_INTEGER]), int64s('stream/axes', [2])];
  const used = new Set<string>();
  const caches: StreamingGraph['caches'] = [];
  let current = input;
  let rows = MEL_FRAMES_PER_BLOCK;
  let channels = 1;
  let width = MEL_BINS;

  for (const nodeField of graph.filter((f) => f.field === 1)) {
    const fields = fieldsOf(nodeField);
    const op = text(fields.find((f) => f.field === 4));
    const [data, ...params] = fields.filter((f) => f.field === 1).map(text);
    const outs = fields.filter((f) => f.field === 2).map(text);
    const attributes = fields.filter((f) => f.field === 5);
    // Integer attributes by name (field 3 holds a single int, field 8 a list).
    const ints = new Map(attributes.map((f) => fieldsOf(f)).map((a) => [text(a.find((x) => x.field === 1)), [...protoInts(bytes, a, 3), ...protoInts(bytes, a, 8)]]));
    const domain = fields.find((f) => f.field === 7);
    if (op === 'Reshape' && data === graphInput) continue;
    if (data === undefined || outs.length !== 1 || params.some((p) => !initializers.has(p))) throw unsupported(`${op} node`);
    const [padTop = 0, padLeft = 0, padBottom = 0, padRight = 0] = ints.get('pads') ?? [];
    const [strideH = 1, strideW = 1] = ints.get('strides') ?? [];
    if (padTop !== 0 || padBottom !== 0) throw unsupported(`${op} pads in time`);
    let layerInput = current;
    if (op === 'Conv') {
      const [outChannels = 0, inChannels, kernelH = 0, kernelW = 0] = initializers.get(params[0]!)!.dims;
      if (inChannels !== channels || strideH !== 1 || (ints.get('dilations') ?? []).some((d) => d !== 1) || (ints.get('group') ?? [1])[0] !== 1) {
        throw unsupported('convolution shape');
      }
      if (kernelH > 1) {
        const cache = { input: `stream/cache${caches.length}`, output: `stream/next${caches.length}`, dims: [1, channels, kernelH - 1, width] };
        caches.push(cache);
        inputs.push(protoBytes(11, float32Value(cache.input, cache.dims)));
        outputs.push(protoBytes(12, float32Value(cache.output)));
        layerInput = `${cache.input}+new`;
        const keep = `stream/keep${kernelH - 1}`;
        if (!used.has(keep)) extraInitializers.push(int64s(keep, [1 - kernelH]));
        used.add(keep);
        nodes.push(node('Concat', [cache.input, current], [layerInput], [[...protoBytes(1, 'axis'), ...protoInt(3, 2), ...protoInt(20, 2)]]));
        nodes.push(node('Slice', [layerInput, keep, 'stream/end', 'stream/axes'], [cache.output], []));
      }
      channels = outChannels;
      width = Math.floor((width + padLeft + padRight - kernelW) / strideW) + 1;
    } else if (op === 'MaxPool') {
      const [kernelH = 0, kernelW = 0] = ints.get('kernel_shape') ?? [];
      if (kernelH !== strideH || rows % strideH !== 0) throw unsupported('pooling overlaps in time');
      rows /= strideH;
      width = Math.floor((width + padLeft + padRight - kernelW) / strideW) + 1;
    } else if (!['LeakyRelu', 'Relu', 'Max', 'Reshape'].includes(op) || (op === 'Reshape' && outs[0] !== graphOutput)) {
      throw unsupported(`${op} node`);
    }
    for (const p of params) used.add(p);
    nodes.push(node(op, [layerInput, ...params], outs, attributes.map((f) => [bytes.subarray(f.start, f.end)]), domain && bytes.subarray(domain.start, domain.end)));
    current = outs[0]!;
  }
  if (graphInput === undefined || graphOutput === undefined || current !== graphOutput || rows !== 1) throw unsupported('graph shape');
  outputs.unshift(protoBytes(12, float32Value(graphOutput)));

  const newGraph = protoBytes(7, [
    ...nodes.flat(),
    ...protoBytes(2, 'embedding_streaming'),
    ...[...used].filter((name) => initializers.has(name)).flatMap((name) => protoBytes(5, initializers.get(name)!.raw)),
    ...extraInitializers.flat(),
    ...inputs.flat(),
    ...outputs.flat(),
  ]);
  const rest = model.filter((f) => f.field !== 7).flatMap((f) => (f.wire === 0 ? protoInt(f.field, f.value) : protoBytes(f.field, bytes.subarray(f.start, f.end))));
  return { model: Buffer.concat([...rest, ...newGraph]), input, output: graphOutput, caches };
}
