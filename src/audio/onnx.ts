import { ModelError } from '../errors.js';
import type { InferenceSession } from 'onnxruntime-node';

export type OnnxRuntime = typeof import('onnxruntime-node');

let runtime: Promise<OnnxRuntime> | undefined;

/** onnxruntime-node is loaded on first use so commands that need no model start fast. */
export function loadRuntime(): Promise<OnnxRuntime> {
  runtime ??= import('onnxruntime-node');
  return runtime;
}

/**
 * Opens a model for streaming inference on one core: one intra-op thread keeps the
 * always-on pipeline from competing with the rest of the box (measured: more threads do
 * not make these small graphs faster per chunk; the other session options — memory arena,
 * memory pattern, denormals, spinning — made no measurable difference either).
 */
export async function openSession(model: string | Uint8Array, label: string): Promise<InferenceSession> {
  const ort = await loadRuntime();
  const options: InferenceSession.SessionOptions = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const where = typeof model === 'string' ? ` at ${model}` : '';
    throw new ModelError(`${label}${where} could not be loaded as an ONNX model (${reason})`, { cause: err });
  }
}

export function inputName(session: InferenceSession, index = 0): string {
  const name = session.inputNames[index];
  if (name === undefined) throw new ModelError(`model has no input #${index}`);
  return name;
}

export function outputName(session: InferenceSession, index = 0): string {
  const name = session.outputNames[index];
  if (name === undefined) throw new ModelError(`model has no output #${index}`);
  return name;
}
