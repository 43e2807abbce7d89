import { ModelError } from '../errors.js';
import type { InferenceSession } from 'onnxruntime-node';

export type OnnxRuntime = typeof import('onnxruntime-node');

let runtime: Promise<OnnxRuntime> | undefined;

/** onnxruntime-node is loaded on first use so commands that need no model start fast. */
export function loadRuntime(): Promise<OnnxRuntime> {
  runtime ??= import('onnxruntime-node');
  return runtime;
}

/** The file each session opened by openSession() was loaded from (for models rewired at load). */
const sessionPaths = new WeakMap<InferenceSession, string>();

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
    const session =
      typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    if (typeof model === 'string') sessionPaths.set(session, model);
    return session;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const where = typeof model === 'string' ? ` at ${model}` : '';
    throw new ModelError(`${label}${where} could not be loaded as an ONNX model (${reason})`, { cause: err });
  }
}

export function sessionPath(session: InferenceSession): string | undefined {
  return sessionPaths.get(session);
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

/*
 * Just enough protobuf to read an ONNX model's graph and write a new one (see
 * https://github.com/onnx/onnx/blob/main/onnx/onnx.proto for the field numbers).
 */

/** One field of a protobuf message: a varint value, or the byte range of its payload. */
export interface ProtoField {
  field: number;
  wire: number;
  value: bigint;
  start: number;
  end: number;
}

/** Reads one varint at `at`; returns it and where the next field starts. */
function readVarint(buf: Uint8Array, at: number, end: number): [bigint, number] {
  let value = 0n;
  for (let p = at, shift = 0n; p < end; p++, shift += 7n) {
    const byte = buf[p]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, p + 1];
  }
  throw new ModelError('not an ONNX model (truncated protobuf)');
}

export function protoFields(buf: Uint8Array, start = 0, end = buf.length): ProtoField[] {
  const fields: ProtoField[] = [];
  let p = start;
  while (p < end) {
    let key: bigint;
    [key, p] = readVarint(buf, p, end);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value = 0n;
    let length = 0;
    if (wire === 0) [value, p] = readVarint(buf, p, end);
    else if (wire === 2) {
      [value, p] = readVarint(buf, p, end);
      length = Number(value);
    } else if (wire === 1) length = 8;
    else if (wire === 5) length = 4;
    else throw new ModelError('not an ONNX model (unknown protobuf wire type)');
    fields.push({ field, wire, value, start: p, end: p + length });
    p += length;
  }
  if (p !== end) throw new ModelError('not an ONNX model (truncated protobuf)');
  return fields;
}

/** The values of a repeated integer field, packed or not. */
export function protoInts(buf: Uint8Array, fields: ProtoField[], field: number): number[] {
  const values: bigint[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === 0) values.push(f.value);
    else {
      for (let p = f.start; p < f.end; ) {
        const [value, next] = readVarint(buf, p, f.end);
        values.push(value);
        p = next;
      }
    }
  }
  return values.map((v) => Number(BigInt.asIntN(64, v)));
}

function encodeVarint(value: number | bigint): Buffer {
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;
  const bytes: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v ? low | 0x80 : low);
  } while (v);
  return Buffer.from(bytes);
}

/** An encoded message as a list of pieces, concatenated once at the end (weights are not copied on the way). */
export type ProtoChunks = Uint8Array[];

/** A varint field (ints, enums). */
export function protoInt(field: number, value: number | bigint): ProtoChunks {
  return [encodeVarint(field << 3), encodeVarint(value)];
}

/** A length-delimited field: a string, bytes, or an encoded sub-message. */
export function protoBytes(field: number, payload: string | Uint8Array | ProtoChunks): ProtoChunks {
  const parts = typeof payload === 'string' ? [Buffer.from(payload)] : payload instanceof Uint8Array ? [payload] : payload;
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  return [encodeVarint((field << 3) | 2), encodeVarint(length), ...parts];
}
