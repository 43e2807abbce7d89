import { AudioFormatError } from '../../errors.js';
import { PIPELINE_RATE, type AudioFrame, type AudioSink } from '../frame.js';
import { WavFileWriter } from '../wav.js';

/**
 * Writes what would be played to a 16-bit mono WAV file, streaming; the header sizes are filled
 * in on close(). "Played" means written: nothing is ever queued, so clear() drops nothing.
 */
export class WavFileSink implements AudioSink {
  private lastWrite: Promise<void> = Promise.resolve();

  private constructor(private readonly writer: WavFileWriter) {}

  /** Creates (truncates) `path`. Frames must come at `sampleRate` (default 16000). */
  static async open(path: string, sampleRate: number = PIPELINE_RATE): Promise<WavFileSink> {
    return new WavFileSink(await WavFileWriter.open(path, sampleRate));
  }

  get path(): string {
    return this.writer.path;
  }

  get playedMs(): number {
    return this.writer.durationMs;
  }

  async write(frame: AudioFrame): Promise<void> {
    if (frame.sampleRate !== this.writer.sampleRate) {
      throw new AudioFormatError(
        `cannot write ${frame.sampleRate} Hz audio to ${this.writer.path}, which was opened at ${this.writer.sampleRate} Hz`,
      );
    }
    const written = this.writer.write(frame.samples);
    this.lastWrite = written.catch(() => undefined);
    await written;
  }

  /** Resolves once every write has reached the file. */
  drain(): Promise<void> {
    return this.lastWrite;
  }

  clear(): { playedMs: number } {
    return { playedMs: this.playedMs };
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
