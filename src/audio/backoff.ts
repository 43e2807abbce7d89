export interface BackoffOptions {
  /** First delay before a retry. Default 1000 ms. */
  initialMs?: number;
  /** The delay doubles up to this. Default 60000 ms. */
  maxMs?: number;
  /** This long working again resets the delay to initialMs. Default 30000 ms. */
  resetAfterMs?: number;
}

/** Retry delays for a device that keeps failing: doubling from initialMs to maxMs, reset by resetAfterMs of health. */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private delayMs: number;
  private healthySince: number | null = null;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 60_000;
    this.resetAfterMs = options.resetAfterMs ?? 30_000;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs) || !(this.resetAfterMs >= 0)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs and resetAfterMs >= 0, got ${JSON.stringify(options)}`);
    }
    this.delayMs = this.initialMs;
  }

  /** The device works since `now` (clock ms); later calls keep the first time. */
  healthy(now: number): void {
    this.healthySince ??= now;
  }

  /** The device failed at `now`: returns how long to wait before trying again. */
  failed(now: number): number {
    if (this.healthySince !== null && now - this.healthySince >= this.resetAfterMs) this.delayMs = this.initialMs;
    this.healthySince = null;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxMs);
    return delay;
  }
}

/** What a live input or output reports about its local device (microphone or speaker). */
export type DeviceStatus =
  | { local: 'absent' }
  | { local: 'starting' }
  | { local: 'running' }
  | { local: 'retrying'; error: string; retryInMs: number };
