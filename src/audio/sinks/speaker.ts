import type { Writable } from 'node:stream';
import { AudioDeviceError, AudioFormatError } from '../../errors.js';
import { checkPlayback } from '../alsa.js';
import { PIPELINE_RATE, type AudioFrame, type AudioSink } from '../frame.js';
import { floatToInt16, int16ToFloat, StreamingResampler } from '../resample.js';
import { Conditions } from './conditions.js';

export interface SpeakerSinkOptions {
  /** ALSA playback device. Default "default". */
  device?: string;
  /**
   * Rate the device is opened at; frames at other rates are resampled to it. Default 16000
   * (ALSA's plug layer converts for devices that cannot do 16 kHz themselves).
   */
  deviceRate?: number;
  /** Audio queued ahead of the device before write() waits (back-pressure). Default 200 ms. */
  queueMs?: number;
  /** Limit for the playback probe. Default 5000. */
  checkTimeoutMs?: number;
}

/** The parts of the `speaker` package's Speaker class used here (its own typings lack `device`). */
export interface SpeakerStream extends Writable {
  /** flush=true drops what the device still holds (snd_pcm_drop) before closing it. */
  close(flush: boolean): void;
}
export type SpeakerClass = new (options: {
  channels: number;
  bitDepth: number;
  sampleRate: number;
  signed: boolean;
  device?: string;
  samplesPerFrame: number;
}) => SpeakerStream;

/** Samples per native write: what the `speaker` package uses, and the granularity of clear(). */
const CHUNK_SAMPLES = 1024;
/** The `speaker` package's ALSA backend keeps this much audio in the device (BUFFER_LENGTH). */
const DEVICE_BUFFER_MS = 500;

let speakerClass: Promise<SpeakerClass> | undefined;

function loadSpeaker(): Promise<SpeakerClass> {
  speakerClass ??= import('speaker').then((m) => m.default as unknown as SpeakerClass);
  return speakerClass;
}

/**
 * Opens the speaker: first proves in a child process that ALSA can play on `device` (loading
 * `speaker` with no usable device would abort this process), then loads the native module.
 * Throws AudioDeviceError with a one-sentence reason and fix.
 */
export async function openSpeakerSink(options: SpeakerSinkOptions = {}): Promise<SpeakerSink> {
  const device = options.device ?? 'default';
  const deviceRate = options.deviceRate ?? PIPELINE_RATE;
  if (!Number.isInteger(deviceRate) || deviceRate < 8000 || deviceRate > 192_000) {
    throw new AudioFormatError(`the speaker rate must be an integer from 8000 to 192000 Hz, got ${deviceRate}`);
  }
  const check = await checkPlayback(device, {
    sampleRate: deviceRate,
    ...(options.checkTimeoutMs !== undefined ? { timeoutMs: options.checkTimeoutMs } : {}),
  });
  if (!check.ok) throw new AudioDeviceError(check.reason);
  const Speaker = await loadSpeaker();
  return new SpeakerSink(Speaker, device, deviceRate, options.queueMs ?? 200);
}

interface Chunk {
  bytes: Buffer;
  /** False for the silence drain() uses to push the device's buffer out. */
  counted: boolean;
}

/**
 * Plays through the `speaker` native module, one chunk (64 ms at 16 kHz) in flight at a time so
 * clear() can drop everything else at once.
 *
 * playedMs counts the bytes the device has consumed (each native write that completed), not the
 * wall clock: the ALSA null/file devices consume audio faster than real time. On a real card the
 * figure runs ahead of the loudspeaker by at most the device buffer (0.5 s).
 */
export class SpeakerSink implements AudioSink {
  readonly device: string;
  readonly deviceRate: number;
  private readonly Speaker: SpeakerClass;
  private readonly highWaterBytes: number;
  private speaker: SpeakerStream | null = null;
  private queue: Chunk[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private consumedBytes = 0;
  /** Bumped by clear(): a write completing after it is not counted (its audio is dropped). */
  private generation = 0;
  private dropWhenIdle = false;
  /** Counted audio went into the open device since it was last dropped. */
  private deviceHasAudio = false;
  /** Counted chunks queued so far; drain() uses it to notice writes that arrive meanwhile. */
  private queuedSeq = 0;
  private failure: AudioDeviceError | null = null;
  private closed = false;
  private readonly resamplers = new Map<number, StreamingResampler>();
  private readonly conditions = new Conditions();
  private readonly playedListeners = new Set<(samples: Int16Array, atMs: number) => void>();
  /** The clock played audio is stamped with (performance.now, like realClock). */
  now: () => number = () => performance.now();

  /** Use openSpeakerSink(), which checks the device before loading the native module; tests pass a fake class. */
  constructor(Speaker: SpeakerClass, device: string, deviceRate: number, queueMs: number) {
    this.Speaker = Speaker;
    this.device = device;
    this.deviceRate = deviceRate;
    this.highWaterBytes = Math.max(2 * CHUNK_SAMPLES, Math.round((queueMs / 1000) * deviceRate) * 2);
  }

  get playedMs(): number {
    return (this.consumedBytes / 2 / this.deviceRate) * 1000;
  }

  /**
   * Told about each piece the device has taken, with the time it took it (16 kHz devices only: the
   * echo canceller's reference). A real card plays it a buffer later; the canceller finds that delay.
   */
  onPlayed(listener: (samples: Int16Array, atMs: number) => void): () => void {
    this.playedListeners.add(listener);
    return () => {
      this.playedListeners.delete(listener);
    };
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.closed) throw new Error('the speaker sink is closed');
    if (this.failure) throw this.failure;
    this.enqueue(this.toDeviceRate(frame), true);
    this.pump();
    await this.conditions.until(() => this.failure !== null || this.queuedBytes <= this.highWaterBytes);
    if (this.failure) throw this.failure;
  }

  async drain(signal?: AbortSignal): Promise<void> {
    if (this.failure) throw this.failure;
    for (const resampler of this.resamplers.values()) this.enqueue(floatToInt16(resampler.flush()), true);
    this.pump();
    await this.conditions.until(() => this.failure !== null || this.idle(), signal);
    if (this.failure) throw this.failure;
    if (signal?.aborted || !this.deviceHasAudio) return;

    // Everything is in the device now; what it still holds plays out while it takes silence.
    // Once it has taken a buffer's worth, the real audio is over, and the silence is dropped.
    const seq = this.queuedSeq;
    const silence = new Int16Array(Math.ceil((DEVICE_BUFFER_MS / 1000) * this.deviceRate / CHUNK_SAMPLES) * CHUNK_SAMPLES);
    this.enqueue(silence, false);
    this.pump();
    await this.conditions.until(() => this.failure !== null || this.idle(), signal);
    if (signal?.aborted) {
      this.queue = this.queue.filter((c) => c.counted);
      this.queuedBytes = this.queue.reduce((n, c) => n + c.bytes.length, 0);
      return;
    }
    if (this.failure) throw this.failure;
    if (this.queuedSeq === seq && this.idle()) this.dropDevice();
  }

  clear(): { playedMs: number } {
    this.generation += 1;
    this.queue = [];
    this.queuedBytes = 0;
    for (const resampler of this.resamplers.values()) resampler.reset();
    if (this.inFlight) this.dropWhenIdle = true;
    else this.dropDevice();
    this.conditions.wake();
    return { playedMs: this.playedMs };
  }

  /** Releases the device at once; call drain() first to hear everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.clear();
    this.closed = true;
    await this.conditions.until(() => !this.inFlight);
    this.dropDevice();
  }

  private idle(): boolean {
    return this.queue.length === 0 && !this.inFlight;
  }

  private toDeviceRate(frame: AudioFrame): Int16Array {
    if (frame.sampleRate === this.deviceRate) return frame.samples;
    if (!Number.isInteger(frame.sampleRate) || frame.sampleRate <= 0) {
      throw new AudioFormatError(`a frame has an invalid sample rate (${frame.sampleRate})`);
    }
    let resampler = this.resamplers.get(frame.sampleRate);
    if (!resampler) {
      resampler = new StreamingResampler(frame.sampleRate, this.deviceRate);
      this.resamplers.set(frame.sampleRate, resampler);
    }
    return floatToInt16(resampler.process(int16ToFloat(frame.samples)));
  }

  private enqueue(samples: Int16Array, counted: boolean): void {
    for (let i = 0; i < samples.length; i += CHUNK_SAMPLES) {
      const part = samples.subarray(i, i + CHUNK_SAMPLES);
      // A copy in native byte order, which is what `speaker` plays.
      const bytes = Buffer.from(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      this.queue.push({ bytes, counted });
      this.queuedBytes += bytes.length;
      if (counted) this.queuedSeq += 1;
    }
  }

  private pump(): void {
    if (this.inFlight || this.failure) return;
    const chunk = this.queue.shift();
    if (!chunk) return;
    this.queuedBytes -= chunk.bytes.length;
    const speaker = this.speaker ?? this.openDevice();
    const generation = this.generation;
    this.inFlight = true;
    if (chunk.counted) this.deviceHasAudio = true;
    speaker.write(chunk.bytes, (err?: Error | null) => {
      if (!this.inFlight) return;
      this.inFlight = false;
      if (err) return this.fail(err);
      if (chunk.counted && generation === this.generation) {
        this.consumedBytes += chunk.bytes.length;
        this.reportPlayed(chunk.bytes);
      }
      if (this.dropWhenIdle) this.dropDevice();
      this.pump();
      this.conditions.wake();
    });
  }

  private reportPlayed(bytes: Buffer): void {
    if (this.playedListeners.size === 0 || this.deviceRate !== PIPELINE_RATE) return;
    const samples = new Int16Array(bytes.length / 2);
    new Uint8Array(samples.buffer).set(bytes);
    const atMs = this.now();
    for (const listener of [...this.playedListeners]) listener(samples, atMs);
  }

  private openDevice(): SpeakerStream {
    const speaker = new this.Speaker({
      channels: 1,
      bitDepth: 16,
      signed: true,
      sampleRate: this.deviceRate,
      samplesPerFrame: CHUNK_SAMPLES,
      ...(this.device === 'default' ? {} : { device: this.device }),
    });
    speaker.on('error', (err: Error) => this.fail(err));
    this.speaker = speaker;
    return speaker;
  }

  /** Drops what the device holds and closes it; the next write opens it again. Never while a write is in flight. */
  private dropDevice(): void {
    this.dropWhenIdle = false;
    this.deviceHasAudio = false;
    const speaker = this.speaker;
    this.speaker = null;
    if (!speaker) return;
    try {
      speaker.close(true);
    } catch {
      // Closing a device that already failed can throw; it is released either way.
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    const detail = err.message.split('\n')[0];
    this.failure = new AudioDeviceError(
      `playback on ALSA device "${this.device}" failed (${detail}); check the device, see kai devices`,
      { cause: err },
    );
    this.queue = [];
    this.queuedBytes = 0;
    // A failed native write never calls back (the package only emits 'error'); it is over either way.
    this.inFlight = false;
    this.dropDevice();
    this.conditions.wake();
  }
}
