import type OpenAI from 'openai';
import { PIPELINE_RATE, type AudioFrame } from '../audio/frame.js';
import { floatToInt16, StreamingResampler } from '../audio/resample.js';
import { abortable, malformed, openAIClient, toProviderError } from './http-common.js';
import { ProviderError, type TextToSpeech } from './types.js';

export interface HttpTextToSpeechOptions {
  /** e.g. `http://dgx:8880/v1` */
  baseURL: string;
  apiKey?: string;
  model: string;
  voice: string;
  speed?: number;
  /** `pcm` = raw 24 kHz s16le mono; a WAV answer is recognised by its header either way. */
  format: 'pcm' | 'wav';
  /** The request fails when the server sends nothing for this long (before or during the audio). */
  timeoutMs: number;
  /** Extra JSON fields some servers take (speaches: `sample_rate`). */
  extraBody?: Record<string, unknown>;
  fetch?: typeof globalThis.fetch;
}

/** Rate of headerless `pcm` responses (PROTOCOLS.md). */
const PCM_RATE = 24_000;
/** Bytes looked at before deciding what the body is. */
const SNIFF_BYTES = 12;
const MAX_WAV_HEADER = 64 * 1024;

/**
 * Text-to-speech through `POST {baseURL}/audio/speech`, one request per sentence, sentences strictly
 * one after another; audio is yielded as the body streams in.
 */
export class HttpTextToSpeech implements TextToSpeech {
  readonly name = 'openai-http';
  private readonly client: OpenAI;

  constructor(private readonly options: HttpTextToSpeechOptions) {
    this.client = openAIClient(options);
  }

  async *synthesize(text: AsyncIterable<string>, signal: AbortSignal): AsyncIterable<AudioFrame> {
    const clock = { samples: 0 };
    for await (const sentence of abortable(text, signal)) {
      if (sentence.trim() === '') continue;
      for await (const samples of this.speak(sentence, signal)) {
        if (samples.length === 0) continue;
        yield { samples, sampleRate: PIPELINE_RATE, timestampMs: (clock.samples * 1000) / PIPELINE_RATE };
        clock.samples += samples.length;
      }
      if (signal.aborted) return;
    }
  }

  /** One sentence as 16 kHz int16 chunks; ends quietly when the signal aborts. */
  private async *speak(input: string, signal: AbortSignal): AsyncGenerator<Int16Array> {
    const { model, voice, speed, format, extraBody, baseURL } = this.options;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const body = { ...extraBody, model, input, voice, response_format: format, ...(speed !== undefined ? { speed } : {}) };
      const res = await this.client.audio.speech.create(body, { signal: AbortSignal.any([signal]) });
      const contentType = res.headers.get('content-type') ?? '';
      if (/json|^text\//i.test(contentType)) throw await notAudio(res, baseURL);
      if (!res.body) throw malformed('tts', baseURL, 'no audio');
      reader = res.body.getReader();
      const decoder = new AudioBodyDecoder(format, baseURL);
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        yield decoder.push(value);
      }
      yield decoder.end();
    } catch (err) {
      if (signal.aborted) return;
      throw toProviderError('tts', baseURL, err);
    } finally {
      // Stops the download when the consumer leaves early (barge-in) or decoding failed.
      reader?.cancel().catch(() => undefined);
    }
  }
}

/** Describes a JSON or text body that came instead of audio. */
async function notAudio(res: Response, baseURL: string): Promise<ProviderError> {
  const text = (await res.text().catch(() => '')).slice(0, 2000);
  let detail = text.trim().split('\n')[0] ?? '';
  try {
    const json: unknown = JSON.parse(text);
    const error = typeof json === 'object' && json !== null ? (json as { error?: unknown; detail?: unknown }) : {};
    const message = typeof error.error === 'object' && error.error !== null ? (error.error as { message?: unknown }).message : error.error ?? error.detail;
    if (typeof message === 'string') detail = message;
  } catch {
    // not JSON: keep the first line
  }
  detail = detail.replace(/\.$/, '');
  if (detail.length > 120) detail = `${detail.slice(0, 117)}...`;
  return malformed('tts', baseURL, `text instead of audio${detail ? ` (${detail})` : ''}`);
}

interface PcmLayout {
  sampleRate: number;
  channels: number;
  encoding: 'int16' | 'float32';
}

/**
 * Turns the bytes of one response, as they arrive, into 16 kHz int16 samples: sniffs the first bytes
 * (RIFF header or headerless pcm), keeps partial samples across chunks, and resamples as it goes.
 */
class AudioBodyDecoder {
  private head: Buffer = Buffer.alloc(0);
  private layout: (PcmLayout & { blockAlign: number }) | null = null;
  private carry: Buffer = Buffer.alloc(0);
  private resampler: StreamingResampler | null = null;
  private sawBytes = false;

  constructor(
    private readonly format: 'pcm' | 'wav',
    private readonly baseURL: string,
  ) {}

  push(chunk: Uint8Array): Int16Array {
    if (chunk.length > 0) this.sawBytes = true;
    if (this.layout) return this.decode(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.head = Buffer.concat([this.head, chunk]);
    const found = this.sniff(false);
    if (!found) return new Int16Array(0);
    return this.start(found);
  }

  end(): Int16Array {
    if (!this.sawBytes) throw malformed('tts', this.baseURL, 'no audio (an empty body)');
    let body: Int16Array = new Int16Array(0);
    if (!this.layout) {
      const found = this.sniff(true);
      if (!found) throw malformed('tts', this.baseURL, 'a truncated WAV header');
      body = this.start(found);
    }
    const tail = this.resampler ? floatToInt16(this.resampler.flush()) : new Int16Array(0);
    return concat(body, tail);
  }

  private start(found: { layout: PcmLayout; dataOffset: number }): Int16Array {
    const { layout, dataOffset } = found;
    const bytes = layout.encoding === 'int16' ? 2 : 4;
    this.layout = { ...layout, blockAlign: bytes * layout.channels };
    this.resampler = new StreamingResampler(layout.sampleRate, PIPELINE_RATE);
    const rest = this.head.subarray(dataOffset);
    this.head = Buffer.alloc(0);
    return this.decode(rest);
  }

  /** What the body is, once enough bytes are in; null while more are needed. Throws on non-audio. */
  private sniff(atEnd: boolean): { layout: PcmLayout; dataOffset: number } | null {
    const h = this.head;
    if (h.length < SNIFF_BYTES && !atEnd) return null;
    const magic = h.toString('latin1', 0, 4);
    if (magic === 'RIFF' || (h.length < 4 && 'RIFF'.startsWith(magic) && !atEnd)) {
      return parseWavHeader(h, this.baseURL, atEnd);
    }
    const kind = containerName(h);
    if (kind) throw malformed('tts', this.baseURL, `${kind} audio instead of ${this.format}`);
    if (looksLikeText(h)) {
      const snippet = h.toString('latin1', 0, 40).split('\n')[0]!.trim();
      throw malformed('tts', this.baseURL, `text instead of audio ("${snippet}")`);
    }
    if (this.format === 'wav') throw malformed('tts', this.baseURL, 'audio without a WAV header');
    return { layout: { sampleRate: PCM_RATE, channels: 1, encoding: 'int16' }, dataOffset: 0 };
  }

  private decode(bytes: Buffer): Int16Array {
    const layout = this.layout!;
    const all = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const frames = Math.floor(all.length / layout.blockAlign);
    // Copied: `all` may be a view of a buffer the stream reuses.
    this.carry = Buffer.from(all.subarray(frames * layout.blockAlign));
    const mono = new Float32Array(frames);
    const { channels, encoding, blockAlign } = layout;
    for (let f = 0, o = 0; f < frames; f++, o += blockAlign) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += encoding === 'int16' ? all.readInt16LE(o + c * 2) / 32768 : all.readFloatLE(o + c * 4);
      mono[f] = sum / channels;
    }
    return floatToInt16(this.resampler!.process(mono));
  }
}

function concat(a: Int16Array, b: Int16Array): Int16Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function containerName(h: Buffer): string | null {
  const magic = h.toString('latin1', 0, 4);
  if (h.toString('latin1', 0, 3) === 'ID3') return 'MP3';
  if (magic === 'OggS') return 'Ogg';
  if (magic === 'fLaC') return 'FLAC';
  if (h.toString('latin1', 4, 8) === 'ftyp') return 'MP4/AAC';
  return null;
}

/** Raw pcm almost never starts with a dozen printable bytes (speech starts near silence: zero high bytes). */
function looksLikeText(h: Buffer): boolean {
  if (h.length === 0) return false;
  const n = Math.min(h.length, SNIFF_BYTES);
  for (let i = 0; i < n; i++) {
    const b = h[i]!;
    if (!(b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b <= 0x7e))) return false;
  }
  return true;
}

/** Parses a streamed WAV header (sizes may be 0 or 0xFFFFFFFF); null until the `data` chunk has begun. */
function parseWavHeader(h: Buffer, baseURL: string, atEnd: boolean): { layout: PcmLayout; dataOffset: number } | null {
  const bad = (why: string) => malformed('tts', baseURL, `a WAV body that cannot be played (${why})`);
  if (h.length < 12) return null;
  if (h.toString('latin1', 8, 12) !== 'WAVE') throw bad('no WAVE marker');
  let layout: PcmLayout | undefined;
  let off = 12;
  while (off + 8 <= h.length) {
    const id = h.toString('latin1', off, off + 4);
    const size = h.readUInt32LE(off + 4);
    if (id === 'data') {
      if (!layout) throw bad('no fmt chunk before the audio');
      return { layout, dataOffset: off + 8 };
    }
    if (off + 8 + size > h.length) break;
    if (id === 'fmt ') layout = parseFmt(h.subarray(off + 8, off + 8 + size), bad);
    off += 8 + size + (size % 2);
  }
  if (h.length > MAX_WAV_HEADER) throw bad('no data chunk in the first 64 KiB');
  return null;
}

function parseFmt(fmt: Buffer, bad: (why: string) => ProviderError): PcmLayout {
  if (fmt.length < 16) throw bad('a short fmt chunk');
  let tag = fmt.readUInt16LE(0);
  if (tag === 0xfffe && fmt.length >= 26) tag = fmt.readUInt16LE(24);
  const channels = fmt.readUInt16LE(2);
  const sampleRate = fmt.readUInt32LE(4);
  const bits = fmt.readUInt16LE(14);
  if (channels < 1 || channels > 16 || sampleRate < 1000 || sampleRate > 384_000) throw bad(`${channels} channels at ${sampleRate} Hz`);
  if (tag === 1 && bits === 16) return { sampleRate, channels, encoding: 'int16' };
  if (tag === 3 && bits === 32) return { sampleRate, channels, encoding: 'float32' };
  throw bad(`format ${tag} with ${bits}-bit samples; 16-bit PCM or 32-bit float expected`);
}
