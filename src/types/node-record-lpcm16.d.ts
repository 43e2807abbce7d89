// Minimal types for the untyped CommonJS package node-record-lpcm16 (only what we use).
declare module 'node-record-lpcm16' {
  import type { ChildProcess, SpawnOptions } from 'node:child_process';
  import type { Readable } from 'node:stream';

  namespace nodeRecordLpcm16 {
    interface RecordOptions {
      sampleRate?: number;
      channels?: number;
      /** Program to spawn: arecord (alsa-utils), sox or rec (sox). */
      recorder?: 'arecord' | 'sox' | 'rec';
      /** arecord: passed as -D; sox/rec: passed as the AUDIODEV environment variable. */
      device?: string | null;
      /** wav (the package's default) or raw. */
      audioType?: 'wav' | 'raw';
      endOnSilence?: boolean;
      threshold?: number;
      thresholdStart?: number | null;
      thresholdEnd?: number | null;
      silence?: string;
    }

    interface Recording {
      readonly process: ChildProcess;
      readonly cmd: string;
      readonly args: string[];
      readonly cmdOptions: SpawnOptions;
      /** The recorder's stdout. Emits 'error' with a string when the program exits non-zero. */
      stream(): Readable;
      stop(): void;
      pause(): void;
      resume(): void;
      isPaused(): boolean;
    }
  }

  const nodeRecordLpcm16: {
    /** Spawns the recorder at once; throws synchronously for an unknown recorder name. */
    record(options?: nodeRecordLpcm16.RecordOptions): nodeRecordLpcm16.Recording;
  };
  export = nodeRecordLpcm16;
}
