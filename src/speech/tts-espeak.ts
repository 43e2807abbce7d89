import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { PIPELINE_RATE, type AudioFrame } from '../audio/frame.js';
import { StreamingResampler, floatToInt16, int16ToFloat } from '../audio/resample.js';
import { ProviderError, type TextToSpeech } from './types.js';

export interface EspeakOptions {
  /** espeak-ng voice name (`espeak-ng --voices`). */
  voice?: string;
  /** Words per minute. */
  speed?: number;
  /** 0..99. */
  pitch?: number;
  program?: string;
}

interface PcmFormat {
  sampleRate: number;
  channels: number;
  /** Offset of the first PCM byte. */
  dataStart: number;
}

/**
 * Parses the WAV header espeak-ng writes on stdout. Its sizes are placeholders (the length is
 * unknown while streaming), so only the fmt chunk and where the data starts matter.
 * Returns undefined while more bytes are needed.
 */
export function parseStreamingWavHeader(buf: Buffer): PcmFormat | undefined {
  if (buf.length < 12) return undefined;
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a WAV stream');
  }
  let fmt: { sampleRate: number; channels: number } | undefined;
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      if (!fmt) throw new Error('WAV stream has no fmt chunk before its data');
      return { ...fmt, dataStart: off + 8 };
    }
    if (off + 8 + size > buf.length) return undefined;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(off + 8);
      const bits = buf.readUInt16LE(off + 22);
      if (format !== 1 || bits !== 16) throw new Error(`unsupported WAV format ${format}/${bits} bits`);
      fmt = { channels: buf.readUInt16LE(off + 10), sampleRate: buf.readUInt32LE(off + 12) };
    }
    off += 8 + size + (size % 2);
  }
  return undefined;
}

const NOT_INSTALLED = 'espeak-ng is not installed; install the Debian package espeak-ng';

export class EspeakTextToSpeech implements TextToSpeech {
  readonly name = 'espeak-ng';
  private readonly voice: string;
  private readonly speed: number | undefined;
  private readonly pitch: number | undefined;
  private readonly program: string;

  constructor(options: EspeakOptions = {}) {
    this.voice = options.voice ?? 'en-us';
    this.speed = options.speed;
    this.pitch = options.pitch;
    this.program = options.program ?? 'espeak-ng';
  }

  async *synthesize(text: AsyncIterable<string>, signal: AbortSignal): AsyncIterable<AudioFrame> {
    const clock = { samples: 0 };
    for await (const chunk of text) {
      if (signal.aborted) return;
      if (chunk.trim() === '') continue;
      yield* this.speak(chunk, signal, clock);
      if (signal.aborted) return;
    }
  }

  private args(): string[] {
    const args = ['--stdout', '-v', this.voice];
    if (this.speed !== undefined) args.push('-s', String(Math.round(this.speed)));
    if (this.pitch !== undefined) args.push('-p', String(Math.round(this.pitch)));
    return args;
  }

  /** One espeak-ng process per sentence; the text goes on stdin, so it can never be read as an option. */
  private async *speak(text: string, signal: AbortSignal, clock: { samples: number }): AsyncIterable<AudioFrame> {
    const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(this.program, this.args(), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    let stderr = '';
    const closed = new Promise<number | null>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        spawnError = err;
        resolve(null);
      });
      child.once('close', (code) => resolve(code));
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 2000) stderr += d.toString();
    });
    child.stdin.on('error', () => {}); // EPIPE when the process dies early; reported through its exit
    child.stdin.end(text);
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', kill, { once: true });

    const resampler = new StreamingResampler(22_050, PIPELINE_RATE);
    let header = Buffer.alloc(0);
    let format: PcmFormat | undefined;
    let carry: Buffer | undefined;
    const frame = (samples: Int16Array): AudioFrame => {
      const f = { samples, sampleRate: PIPELINE_RATE, timestampMs: (clock.samples * 1000) / PIPELINE_RATE };
      clock.samples += samples.length;
      return f;
    };
    try {
      for await (const data of child.stdout as AsyncIterable<Buffer>) {
        if (signal.aborted) break;
        let pcm: Buffer = data;
        if (!format) {
          header = Buffer.concat([header, data]);
          try {
            format = parseStreamingWavHeader(header);
          } catch (err) {
            throw new ProviderError('tts', `espeak-ng produced unreadable audio (${(err as Error).message})`, { cause: err });
          }
          if (!format) continue;
          if (format.channels !== 1 || format.sampleRate !== resampler.inRate) {
            throw new ProviderError('tts', `espeak-ng produced ${format.sampleRate} Hz ${format.channels}-channel audio, expected 22050 Hz mono`);
          }
          pcm = header.subarray(format.dataStart);
        }
        if (carry) {
          pcm = Buffer.concat([carry, pcm]);
          carry = undefined;
        }
        if (pcm.length % 2 === 1) {
          carry = pcm.subarray(pcm.length - 1);
          pcm = pcm.subarray(0, pcm.length - 1);
        }
        if (pcm.length === 0) continue;
        const ints = new Int16Array(pcm.length / 2);
        for (let i = 0; i < ints.length; i++) ints[i] = pcm.readInt16LE(i * 2);
        const out = floatToInt16(resampler.process(int16ToFloat(ints)));
        if (out.length > 0) yield frame(out);
      }
      if (signal.aborted) return;
      const code = await closed;
      if (spawnError) {
        if (spawnError.code === 'ENOENT') throw new ProviderError('tts', NOT_INSTALLED, { cause: spawnError });
        throw new ProviderError('tts', `could not run ${this.program}: ${spawnError.message}`, { cause: spawnError });
      }
      if (code !== 0) {
        const why = stderr.trim().split('\n')[0] ?? '';
        throw new ProviderError('tts', `espeak-ng failed (exit code ${String(code)})${why ? `: ${why}` : ''}`);
      }
      if (!format) throw new ProviderError('tts', 'espeak-ng produced no audio');
      const tail = floatToInt16(resampler.flush());
      if (tail.length > 0) yield frame(tail);
    } finally {
      signal.removeEventListener('abort', kill);
      if (child.exitCode === null && child.signalCode === null && !spawnError) {
        child.kill('SIGKILL');
      }
      // Reap the process so it never lingers as a zombie.
      await closed;
    }
  }
}
