import { ModelError } from '../errors.js';

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
