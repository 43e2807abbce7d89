import type { Config } from '../../config/index.js';
import { AudioDeviceError } from '../../errors.js';
import { checkCapture, explainRecorderExit } from '../alsa.js';
import { PIPELINE_RATE, type AudioFrame, type AudioSource } from '../frame.js';
import { startRecorder, type RecorderName } from './recorder.js';
import { pcmFrames, StreamStalledError, type PcmFrameOptions } from './stdin.js';

export interface MicSourceOptions {
  /** Capture program: arecord (alsa-utils), sox or rec. Default arecord. */
  recorder?: RecorderName;
  /** ALSA capture device. Default "default". */
  device?: string;
  /** Samples per frame. Default 1280 (80 ms). */
  frameSamples?: PcmFrameOptions['frameSamples'];
  /** Probe the device with checkCapture before recording. Default true. */
  checkDevice?: boolean;
  /** A recorder that delivers nothing for this long is treated as dead. Default 5000. */
  stallTimeoutMs?: number;
}

/**
 * The microphone, recorded by arecord/sox through node-record-lpcm16 as 16 kHz mono s16le.
 * Each frames() call starts its own recorder and stops it when the signal aborts or the
 * consumer stops iterating. A recorder that cannot start, dies or stalls ends the iteration with
 * an AudioDeviceError whose message says what to do.
 */
export class MicSource implements AudioSource {
  readonly recorder: RecorderName;
  readonly device: string;
  private readonly options: MicSourceOptions;

  constructor(options: MicSourceOptions = {}) {
    this.recorder = options.recorder ?? 'arecord';
    this.device = options.device ?? 'default';
    this.options = options;
  }

  static fromConfig(config: Pick<Config, 'audio'>, options: Omit<MicSourceOptions, 'recorder' | 'device'> = {}): MicSource {
    return new MicSource({ ...options, recorder: config.audio.recorder, device: config.audio.captureDevice });
  }

  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame, void, undefined> {
    if (signal.aborted) return;
    if (this.options.checkDevice ?? true) {
      const check = await checkCapture(this.device, this.recorder);
      if (!check.ok) throw new AudioDeviceError(check.reason);
      if (signal.aborted) return;
    }
    const proc = startRecorder({ recorder: this.recorder, device: this.device, sampleRate: PIPELINE_RATE });
    const stallMs = this.options.stallTimeoutMs ?? 5000;
    try {
      yield* pcmFrames(proc.stdout, signal, {
        sampleRate: PIPELINE_RATE,
        idleTimeoutMs: stallMs,
        ...(this.options.frameSamples !== undefined ? { frameSamples: this.options.frameSamples } : {}),
      });
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof StreamStalledError) {
        throw new AudioDeviceError(
          `the microphone (${this.recorder} on "${this.device}") delivered no audio for ${stallMs / 1000} s; ` +
            'check that the device is not muted or used by another program, see kai devices',
          { cause: err },
        );
      }
      proc.stop();
      throw new AudioDeviceError(explainRecorderExit(await proc.exited, this.recorder, this.device), { cause: err });
    } finally {
      proc.stop();
    }
    if (signal.aborted) return;
    // stdout ended on its own: the recorder died.
    throw new AudioDeviceError(explainRecorderExit(await proc.exited, this.recorder, this.device));
  }
}
