import { ABORTED, untilAborted } from '../../abort.js';
import { AudioFormatError, KaiError } from '../../errors.js';
import { durationMs, PIPELINE_RATE, type AudioFrame, type AudioSource } from '../frame.js';
import { Rechunker } from '../rechunk.js';

export interface PcmFrameOptions {
  /** Samples per frame; the last frame of a stream may be shorter. Default 1280 (80 ms at 16 kHz). */
  frameSamples?: number;
  /** Rate of the raw stream. Default 16000. */
  sampleRate?: number;
}

export const DEFAULT_FRAME_SAMPLES = 1280;

/** Thrown by readChunks when the stream delivered nothing for `idleTimeoutMs`. */
export class StreamStalledError extends KaiError {}

/**
 * Iterates `chunks` until they end or `signal` aborts, without waiting for a pending chunk once
 * aborted. Leaving early calls the iterator's return() (for a Readable: destroys the stream).
 */
export async function* readChunks<T>(
  chunks: AsyncIterable<T>,
  signal: AbortSignal,
  idleTimeoutMs?: number,
): AsyncGenerator<T, void, undefined> {
  if (signal.aborted) return;
  const it = chunks[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled =
        idleTimeoutMs === undefined
          ? null
          : new Promise<'stalled'>((resolve) => {
              timer = setTimeout(() => resolve('stalled'), idleTimeoutMs);
            });
      const next = await untilAborted(stalled ? Promise.race([it.next(), stalled]) : it.next(), signal);
      clearTimeout(timer);
      if (next === ABORTED) return;
      if (next === 'stalled') throw new StreamStalledError(`no data for ${idleTimeoutMs} ms`);
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
      if (signal.aborted) return;
    }
  } finally {
    if (!finished) Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

/**
 * Decodes raw 16-bit little-endian mono PCM split anywhere (odd byte boundaries included) into
 * frames of `frameSamples`, timestamped by sample count. A final odd byte is dropped.
 */
export async function* pcmFrames(
  chunks: AsyncIterable<Uint8Array | string>,
  signal: AbortSignal,
  options: PcmFrameOptions & { idleTimeoutMs?: number } = {},
): AsyncGenerator<AudioFrame, void, undefined> {
  const sampleRate = options.sampleRate ?? PIPELINE_RATE;
  const rechunker = new Rechunker(options.frameSamples ?? DEFAULT_FRAME_SAMPLES);
  let carry: number | null = null;
  let position = 0;
  const frame = (samples: Int16Array): AudioFrame => {
    const out = { samples, sampleRate, timestampMs: durationMs(position, sampleRate) };
    position += samples.length;
    return out;
  };
  for await (const chunk of readChunks(chunks, signal, options.idleTimeoutMs)) {
    if (typeof chunk === 'string') {
      throw new AudioFormatError('raw PCM input arrived as text; do not set an encoding on the stream');
    }
    const decoded = decodeS16le(chunk, carry);
    carry = decoded.carry;
    for (const samples of rechunker.push(decoded.samples)) {
      yield frame(samples);
      if (signal.aborted) return;
    }
  }
  if (signal.aborted) return;
  const rest = rechunker.flush();
  if (rest) yield frame(rest);
}

function decodeS16le(bytes: Uint8Array, carry: number | null): { samples: Int16Array; carry: number | null } {
  const total = bytes.length + (carry === null ? 0 : 1);
  const samples = new Int16Array(total >> 1);
  let b = 0;
  let s = 0;
  if (carry !== null && samples.length > 0) {
    samples[s++] = carry | (bytes[b++]! << 8);
  }
  for (; s < samples.length; s++, b += 2) samples[s] = bytes[b]! | (bytes[b + 1]! << 8);
  const next = total % 2 === 0 ? null : carry !== null && bytes.length === 0 ? carry : bytes[bytes.length - 1]!;
  return { samples, carry: next };
}

/**
 * Raw 16 kHz s16le mono on a readable stream (e.g. `sox … -t raw - | kai …`). A stream can be
 * read once: frames() may be called only once.
 */
export class StreamSource implements AudioSource {
  private used = false;

  constructor(
    private readonly stream: AsyncIterable<Uint8Array | string>,
    private readonly options: PcmFrameOptions = {},
  ) {}

  frames(signal: AbortSignal): AsyncIterable<AudioFrame> {
    if (this.used) throw new Error('a stream source can be read only once');
    this.used = true;
    return pcmFrames(this.stream, signal, this.options);
  }
}

/** process.stdin (or the given stream, e.g. CommandIo.stdin) as an AudioSource. */
export function stdinSource(options: PcmFrameOptions & { stdin?: NodeJS.ReadableStream } = {}): StreamSource {
  const { stdin = process.stdin, ...rest } = options;
  return new StreamSource(stdin, rest);
}
