const FRAME_MS = 10;

export interface EchoGateOptions {
  /** How loud the assistant's own voice arrives at the microphone, relative to what was played. */
  echoGainDb: number;
  /** How much louder than that expected echo the microphone must be to count as the user. */
  marginDb: number;
  /** Longest playback → capture delay to allow for. */
  maxDelayMs?: number;
  /** How much of the echo an echo canceller removes right now (dB): the gate only ignores what is left. */
  creditDb?: () => number;
}

/**
 * Self-speech suppression without echo cancellation: knowing what was played and when, a
 * microphone frame counts as the user only if it is clearly louder than the loudest echo the
 * recent playback could have caused.
 */
export class EchoGate {
  /** Played energy per 10 ms slot, keyed by slot index on the stream timeline. */
  private readonly played = new Map<number, number>();
  private readonly ratio: number;
  private readonly maxDelaySlots: number;
  private readonly creditDb: () => number;

  constructor(options: EchoGateOptions) {
    this.ratio = 10 ** ((options.echoGainDb + options.marginDb) / 10);
    this.maxDelaySlots = Math.ceil((options.maxDelayMs ?? 300) / FRAME_MS);
    this.creditDb = options.creditDb ?? (() => 0);
  }

  /** Records audio that started playing at `atMs` (stream time). */
  playedAt(samples: Int16Array, atMs: number): void {
    const perSlot = (16_000 * FRAME_MS) / 1000;
    for (let offset = 0; offset < samples.length; offset += perSlot) {
      const slot = Math.floor(atMs / FRAME_MS) + offset / perSlot;
      this.played.set(slot, Math.max(this.played.get(slot) ?? 0, meanSquare(samples, offset, offset + perSlot)));
    }
    this.forgetBefore(Math.floor(atMs / FRAME_MS) - 4 * this.maxDelaySlots);
  }

  /** True when `samples` heard at `atMs` (stream time) are louder than any echo could be. */
  isUser(samples: Int16Array, atMs: number): boolean {
    const slot = Math.floor(atMs / FRAME_MS);
    let echo = 0;
    for (let s = slot - this.maxDelaySlots; s <= slot; s++) echo = Math.max(echo, this.played.get(s) ?? 0);
    if (echo === 0) return true;
    return meanSquare(samples, 0, samples.length) > echo * this.ratio * 10 ** (-Math.max(0, this.creditDb()) / 10);
  }

  clear(): void {
    this.played.clear();
  }

  private forgetBefore(slot: number): void {
    for (const key of this.played.keys()) if (key < slot) this.played.delete(key);
  }
}

function meanSquare(samples: Int16Array, from: number, to: number): number {
  const end = Math.min(to, samples.length);
  if (end <= from) return 0;
  let sum = 0;
  for (let i = from; i < end; i++) sum += samples[i]! * samples[i]!;
  return sum / (end - from);
}
