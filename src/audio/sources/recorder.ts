import type { Readable } from 'node:stream';
import nodeRecordLpcm16 from 'node-record-lpcm16';

export type RecorderName = 'arecord' | 'sox' | 'rec';

/** How a recorder process ended. */
export interface RecorderExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few kilobytes the program wrote to stderr. */
  stderr: string;
  /** Set when the program could not be started at all (ENOENT: not installed). */
  spawnError?: NodeJS.ErrnoException;
}

export interface RecorderProcess {
  readonly program: RecorderName;
  /** Raw s16le mono PCM at the requested rate. */
  readonly stdout: Readable;
  /** Resolves (never rejects) once the process is gone. */
  readonly exited: Promise<RecorderExit>;
  /** Kills the program; safe to call more than once. */
  stop(): void;
}

const STDERR_KEEP = 4096;

/**
 * Spawns the capture program through node-record-lpcm16 (16-bit mono raw PCM on stdout).
 * The package reports a spawn failure as an 'error' event on the child and a non-zero exit as an
 * 'error' event on stdout; both are absorbed here and surface only through `exited`, so a dying
 * recorder can never crash the process with an unhandled 'error'.
 */
export function startRecorder(options: { recorder: RecorderName; device: string; sampleRate: number }): RecorderProcess {
  const recording = nodeRecordLpcm16.record({
    recorder: options.recorder,
    // "default" is what every recorder opens anyway; passing nothing keeps sox's AUDIODEV unset.
    device: options.device === 'default' ? null : options.device,
    sampleRate: options.sampleRate,
    channels: 1,
    audioType: 'raw',
  });
  const child = recording.process;
  const stdout = recording.stream();
  stdout.on('error', () => {});

  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });

  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<RecorderExit>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      // A process that never started may not emit 'close' on every Node version.
      if (child.pid === undefined) resolve({ code: null, signal: null, stderr, spawnError });
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderr, ...(spawnError ? { spawnError } : {}) }));
  });

  let stopped = false;
  return {
    program: options.recorder,
    stdout,
    exited,
    stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill('SIGTERM');
      // A program stuck in a driver call may ignore SIGTERM; do not leave it behind.
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      force.unref();
      void exited.then(() => clearTimeout(force));
    },
  };
}
