import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AudioFormatError, KaiError } from '../errors.js';
import { PIPELINE_RATE } from './frame.js';
import { floatToInt16, resampleFloat } from './resample.js';

export type WavSampleFormat = 'pcm' | 'float';

export interface WavInfo {
  sampleRate: number;
  channels: number;
  /** Bits per sample as declared (the container size for WAVE_FORMAT_EXTENSIBLE). */
  bitsPerSample: number;
  format: WavSampleFormat;
  /** Samples per channel. */
  frames: number;
}

export interface DecodedWav extends WavInfo {
  /** One array per channel, −1..1 (float files may exceed it). */
  channelData: Float32Array[];
}

export interface ReadWavResult {
  /** Mono, 16 kHz. */
  samples: Int16Array;
  sampleRate: typeof PIPELINE_RATE;
  /** The file's own format. */
  source: WavInfo;
}

const HEADER_BYTES = 44;
const MAX_CHANNELS = 64;
const MAX_RATE = 768_000;
const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;
/** KSDATAFORMAT_SUBTYPE_* GUIDs are the format code followed by these 14 bytes. */
const SUBFORMAT_GUID_TAIL = Buffer.from([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);
const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'µ-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MP3',
};
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface FmtChunk {
  format: WavSampleFormat;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  bytesPerSample: number;
  blockAlign: number;
}

function ascii(buf: Buffer, offset: number, length: number): string {
  return buf.toString('latin1', offset, offset + length);
}

/** Sizes that streaming writers put in the header when they cannot seek back (sox: 0x7ffff000, arecord: 0x80000000). */
function isPlaceholderSize(size: number): boolean {
  return size === 0 || size >= 0x7fff0000;
}

function looksLikeChunkId(buf: Buffer, offset: number): boolean {
  if (offset + 4 > buf.length) return false;
  for (let i = offset; i < offset + 4; i++) if (buf[i]! < 0x20 || buf[i]! > 0x7e) return false;
  return true;
}

function nextChunkOffset(buf: Buffer, body: number, size: number): number {
  const end = body + size;
  if (size % 2 === 0) return end;
  // Odd chunks are padded to even length, but some writers forget the pad byte.
  if (!looksLikeChunkId(buf, end + 1) && looksLikeChunkId(buf, end)) return end;
  return end + 1;
}

function guessFormat(buf: Buffer): string | null {
  if (ascii(buf, 0, 3) === 'ID3' || (buf[0] === 0xff && ((buf[1] ?? 0) & 0xe0) === 0xe0)) return 'MP3';
  const magic = ascii(buf, 0, 4);
  if (magic === 'fLaC') return 'FLAC';
  if (magic === 'OggS') return 'Ogg';
  if (magic === 'FORM') return 'AIFF';
  if (ascii(buf, 4, 4) === 'ftyp') return 'MP4/M4A';
  return null;
}

function parseFmt(buf: Buffer, off: number, size: number, name: string): FmtChunk {
  if (size < 16) throw new AudioFormatError(`${name} has a malformed fmt chunk (${size} bytes, at least 16 expected)`);
  let tag = buf.readUInt16LE(off);
  const channels = buf.readUInt16LE(off + 2);
  const sampleRate = buf.readUInt32LE(off + 4);
  const blockAlign = buf.readUInt16LE(off + 12);
  const bitsPerSample = buf.readUInt16LE(off + 14);
  if (tag === FORMAT_EXTENSIBLE) {
    if (size < 40) throw new AudioFormatError(`${name} has a malformed WAVE_FORMAT_EXTENSIBLE fmt chunk (${size} bytes, 40 expected)`);
    if (!buf.subarray(off + 26, off + 40).equals(SUBFORMAT_GUID_TAIL)) {
      throw new AudioFormatError(`${name} uses an unknown WAVE_FORMAT_EXTENSIBLE subformat`);
    }
    tag = buf.readUInt16LE(off + 24);
  }
  if (tag !== FORMAT_PCM && tag !== FORMAT_FLOAT) {
    const label = FORMAT_NAMES[tag] ?? 'an unknown encoding';
    const hex = tag.toString(16).padStart(4, '0');
    throw new AudioFormatError(`${name} uses ${label} (format 0x${hex}), which is not supported; convert it to PCM WAV first`);
  }
  if (channels === 0 || channels > MAX_CHANNELS) {
    throw new AudioFormatError(`${name} declares ${channels} channels (1 to ${MAX_CHANNELS} are supported)`);
  }
  if (sampleRate === 0 || sampleRate > MAX_RATE) {
    throw new AudioFormatError(`${name} declares a sample rate of ${sampleRate} Hz (1 to ${MAX_RATE} are supported)`);
  }
  const format: WavSampleFormat = tag === FORMAT_PCM ? 'pcm' : 'float';
  const supported = format === 'pcm' ? bitsPerSample >= 8 && bitsPerSample <= 32 : bitsPerSample === 32 || bitsPerSample === 64;
  if (!supported) {
    const expected = format === 'pcm' ? '8 to 32' : '32 or 64';
    throw new AudioFormatError(`${name} has ${bitsPerSample}-bit ${format === 'pcm' ? 'PCM' : 'float'} samples (${expected} bits are supported)`);
  }
  // PCM sizes that are not a whole number of bytes (12, 20 bits) are stored left-justified in the next size up.
  const bytesPerSample = Math.ceil(bitsPerSample / 8);
  if (blockAlign !== channels * bytesPerSample) {
    throw new AudioFormatError(
      `${name} has an inconsistent header: block align ${blockAlign} does not fit ${channels} channels of ${bitsPerSample}-bit samples`,
    );
  }
  return { format, channels, sampleRate, bitsPerSample, bytesPerSample, blockAlign };
}

function sampleReader(view: DataView, fmt: FmtChunk): (offset: number) => number {
  if (fmt.format === 'float') {
    return fmt.bytesPerSample === 4 ? (o) => view.getFloat32(o, true) : (o) => view.getFloat64(o, true);
  }
  switch (fmt.bytesPerSample) {
    case 1:
      return (o) => (view.getUint8(o) - 128) / 128;
    case 2:
      return (o) => view.getInt16(o, true) / 32768;
    case 3:
      return (o) => (view.getUint8(o) | (view.getUint8(o + 1) << 8) | (view.getInt8(o + 2) << 16)) / 8388608;
    default:
      return (o) => view.getInt32(o, true) / 2147483648;
  }
}

/** Parses a WAV file held in memory; `name` is used in error messages. Throws AudioFormatError. */
export function decodeWav(buf: Buffer, name: string): DecodedWav {
  if (buf.length === 0) throw new AudioFormatError(`${name} is empty (0 bytes), not a WAV file`);
  const magic = ascii(buf, 0, 4);
  const riffLike = magic === 'RIFF' || magic === 'RF64' || magic === 'BW64';
  if (buf.length < 12) {
    if ('RIFF'.startsWith(magic) || riffLike) {
      throw new AudioFormatError(`${name} is truncated: ${buf.length} bytes is too short for a WAV header`);
    }
    throw new AudioFormatError(`${name} is not a WAV file (no RIFF/WAVE header)`);
  }
  if (magic === 'RIFX') throw new AudioFormatError(`${name} is a big-endian (RIFX) WAV file, which is not supported`);
  if (!riffLike || ascii(buf, 8, 4) !== 'WAVE') {
    const kind = guessFormat(buf);
    throw new AudioFormatError(
      kind ? `${name} is not a WAV file (it looks like ${kind}); convert it to WAV first` : `${name} is not a WAV file (no RIFF/WAVE header)`,
    );
  }
  // RF64 keeps real sizes in a ds64 chunk and 0xffffffff in the usual fields; taking the rest of the file covers it.
  const streamed = isPlaceholderSize(buf.readUInt32LE(4));

  let fmt: FmtChunk | undefined;
  let data: { start: number; length: number } | undefined;
  let overran = false;
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = ascii(buf, off, 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    const available = buf.length - body;
    if (id === 'fmt ') {
      if (size > available) throw new AudioFormatError(`${name} is truncated inside its fmt chunk`);
      fmt = parseFmt(buf, body, size, name);
      if (data) break;
    } else if (id === 'data') {
      if (size !== 0 && size <= available) {
        data = { start: body, length: size };
      } else if (streamed || isPlaceholderSize(size)) {
        data = { start: body, length: available };
        break;
      } else {
        throw new AudioFormatError(`${name} is truncated: its data chunk declares ${size} bytes but only ${available} are present`);
      }
      if (fmt) break;
    } else if (size > available) {
      overran = true;
      break;
    }
    off = nextChunkOffset(buf, body, size);
  }
  if (!fmt) {
    throw new AudioFormatError(
      overran ? `${name} is truncated before its fmt chunk` : `${name} has no fmt chunk, so its audio format is unknown`,
    );
  }
  if (!data) {
    throw new AudioFormatError(overran ? `${name} is truncated before its data chunk` : `${name} has no data chunk (no audio)`);
  }

  const frames = Math.floor(data.length / fmt.blockAlign);
  const channelData = Array.from({ length: fmt.channels }, () => new Float32Array(frames));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const read = sampleReader(view, fmt);
  const { channels, bytesPerSample, blockAlign } = fmt;
  for (let c = 0; c < channels; c++) {
    const out = channelData[c]!;
    for (let f = 0, o = data.start + c * bytesPerSample; f < frames; f++, o += blockAlign) out[f] = read(o);
  }
  return {
    sampleRate: fmt.sampleRate,
    channels,
    bitsPerSample: fmt.bitsPerSample,
    format: fmt.format,
    frames,
    channelData,
  };
}

/** Mixes down to mono (channel average), resamples to 16 kHz and converts to int16 with clipping. */
export function toPipeline(decoded: DecodedWav): Int16Array {
  const { channelData } = decoded;
  let mono: Float32Array;
  if (channelData.length === 1) {
    mono = channelData[0]!;
  } else {
    mono = new Float32Array(decoded.frames);
    for (const ch of channelData) for (let i = 0; i < mono.length; i++) mono[i]! += ch[i]!;
    const gain = 1 / channelData.length;
    for (let i = 0; i < mono.length; i++) mono[i]! *= gain;
  }
  const resampled = decoded.sampleRate === PIPELINE_RATE ? mono : resampleFloat(mono, decoded.sampleRate, PIPELINE_RATE);
  return floatToInt16(resampled);
}

function fsErrorMessage(path: string, err: unknown, action: 'read' | 'write'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (action === 'read' && code === 'ENOENT') return `no such file: ${path}`;
  if (action === 'read' && code === 'EISDIR') return `${path} is a directory, not a WAV file`;
  if (code === 'ENOENT' || code === 'ENOTDIR') return `cannot ${action} ${path}: its directory does not exist`;
  if (code === 'EACCES' || code === 'EPERM') return `cannot ${action} ${path}: permission denied`;
  if (code === 'EISDIR') return `cannot ${action} ${path}: it is a directory`;
  return `cannot ${action} ${path}: ${err instanceof Error ? err.message : String(err)}`;
}

/** Reads a WAV file as 16 kHz mono int16. Throws AudioFormatError naming the path. */
export async function readWav(path: string): Promise<ReadWavResult> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new AudioFormatError(fsErrorMessage(path, err, 'read'), { cause: err });
  }
  const decoded = decodeWav(buf, path);
  const { channelData: _, ...source } = decoded;
  return { samples: toPipeline(decoded), sampleRate: PIPELINE_RATE, source };
}

function checkFormat(sampleRate: number, channels: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate > 0xffffffff) {
    throw new RangeError(`sample rate must be a positive integer, got ${sampleRate}`);
  }
  if (!Number.isInteger(channels) || channels <= 0 || channels > 0xffff) {
    throw new RangeError(`channels must be a positive integer, got ${channels}`);
  }
}

/** A canonical 44-byte header; `dataBytes` null writes the streaming placeholders (0xffffffff). */
function wavHeader(sampleRate: number, channels: number, dataBytes: number | null): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(dataBytes === null ? 0xffffffff : HEADER_BYTES - 8 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes ?? 0xffffffff, 40);
  return h;
}

/** A fresh little-endian copy of the samples. */
function int16Bytes(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.byteLength);
  if (LITTLE_ENDIAN) out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  else for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, 2 * i);
  return out;
}

/** A 16-bit PCM WAV file; multi-channel samples are interleaved. */
export function encodeWav(samples: Int16Array, sampleRate: number, channels = 1): Buffer {
  checkFormat(sampleRate, channels);
  if (samples.length % channels !== 0) {
    throw new RangeError(`${samples.length} samples do not split into ${channels} interleaved channels`);
  }
  if (HEADER_BYTES - 8 + samples.byteLength > 0xffffffff) throw new RangeError('too much audio for one WAV file (4 GiB)');
  return Buffer.concat([wavHeader(sampleRate, channels, samples.byteLength), int16Bytes(samples)]);
}

/** Writes a 16-bit PCM WAV atomically: readers see the old file or the whole new one, never a partial one. */
export async function writeWav(path: string, samples: Int16Array, sampleRate: number, channels = 1): Promise<void> {
  const bytes = encodeWav(samples, sampleRate, channels);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new KaiError(fsErrorMessage(path, err, 'write'), { cause: err });
  }
}

/**
 * Writes a 16-bit PCM WAV as audio arrives. Until close() the header holds the streaming
 * placeholder sizes, so a file cut short by a crash still reads (decodeWav takes the rest of the file).
 */
export class WavFileWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  private readonly handle: FileHandle;
  private dataBytes = 0;
  private tail: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  private constructor(handle: FileHandle, path: string, sampleRate: number, channels: number) {
    this.handle = handle;
    this.path = path;
    this.sampleRate = sampleRate;
    this.channels = channels;
  }

  static async open(path: string, sampleRate: number, channels = 1): Promise<WavFileWriter> {
    checkFormat(sampleRate, channels);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'w');
      await handle.write(wavHeader(sampleRate, channels, null), 0, HEADER_BYTES, 0);
      return new WavFileWriter(handle, path, sampleRate, channels);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      throw new KaiError(fsErrorMessage(path, err, 'write'), { cause: err });
    }
  }

  /** Samples written so far, all channels together. */
  get samplesWritten(): number {
    return this.dataBytes / 2;
  }

  get durationMs(): number {
    return (this.dataBytes / 2 / this.channels / this.sampleRate) * 1000;
  }

  /** Appends interleaved samples; writes land in call order even when not awaited one by one. */
  write(samples: Int16Array): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`WavFileWriter for ${this.path} is closed`));
    if (samples.length % this.channels !== 0) {
      return Promise.reject(new RangeError(`${samples.length} samples do not split into ${this.channels} interleaved channels`));
    }
    const bytes = int16Bytes(samples);
    const position = HEADER_BYTES + this.dataBytes;
    this.dataBytes += bytes.length;
    const done = this.tail.then(async () => {
      try {
        await this.handle.write(bytes, 0, bytes.length, position);
      } catch (err) {
        throw new KaiError(fsErrorMessage(this.path, err, 'write'), { cause: err });
      }
    });
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** Waits for pending writes, fills in the header sizes and closes the file. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.tail;
      try {
        // Past 4 GiB the sizes cannot be stored; the placeholders still let readers take the rest of the file.
        if (HEADER_BYTES - 8 + this.dataBytes <= 0xffffffff) {
          const sizes = Buffer.alloc(4);
          sizes.writeUInt32LE(HEADER_BYTES - 8 + this.dataBytes);
          await this.handle.write(sizes, 0, 4, 4);
          sizes.writeUInt32LE(this.dataBytes);
          await this.handle.write(sizes, 0, 4, 40);
        }
      } catch (err) {
        throw new KaiError(fsErrorMessage(this.path, err, 'write'), { cause: err });
      } finally {
        await this.handle.close();
      }
    })();
    return this.closing;
  }
}
