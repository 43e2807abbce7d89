/** Base of every error the assistant raises on purpose. `message` is one sentence a user can act on. */
export class KaiError extends Error {
  /** True when trying the same thing again may succeed (network blips, busy servers). */
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }
}

/** The user gave us something unusable: a bad file, a bad flag, a bad config value. */
export class UsageError extends KaiError {}

/** A required model file is missing or corrupt. */
export class ModelError extends KaiError {}

/** An audio device or audio program is missing or failed. */
export class AudioDeviceError extends KaiError {}

/** A file is not audio we can read. */
export class AudioFormatError extends KaiError {}

/** One sentence for the user; never a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof KaiError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const path = (err as NodeJS.ErrnoException).path;
    if (code === 'ENOENT' && path) return `no such file: ${path}`;
    if (code === 'EACCES' && path) return `permission denied: ${path}`;
    if (code === 'EISDIR' && path) return `is a directory, not a file: ${path}`;
    return `unexpected error: ${err.message.split('\n')[0]} (set KAI_DEBUG=1 for details)`;
  }
  return `unexpected error: ${String(err)}`;
}

