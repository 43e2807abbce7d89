const FRAME_MS = 10;

export interface EchoGateOptions {
  /** How loud the assistant's own voice arrives at the microphone, relative to what was played. */
  echoGainDb: number;
  /** How much louder than that expected echo the microphone must be to count as the user. */
  marginDb: number;
  /** Longest playback → capture delay to allow for. */
  maxDelayMs?: number;
}

/**
 * Self-speech suppression without echo cancellation: knowing what was played and when, a
 * microphone frame counts as the user only if it is clearly louder than the loudest echo the
 * recent playback could have caused.
 */
export class EchoGate implements SelfSpeechGate {
  /** Played energy per 10 ms slot, keyed by slot index on the stream timeline. */
  private readonly played = new Map<number, number>();
  private readonly ratio: number;
  private readonly maxDelaySlots: number;

  constructor(options: EchoGateOptions) {
    this.ratio = 10 ** ((options.echoGainDb + options.marginDb) / 10);
    this.maxDelaySlots = Math.ceil((options.maxDelayMs ?? 300) / FRAME_MS);
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
    return meanSquare(samples, 0, samples.length) > echo * this.ratio;
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

/** Tells the user from the assistant's own voice, frame by frame on the stream timeline. */
export interface SelfSpeechGate {
  isUser(samples: Int16Array, atMs: number): boolean;
}

/**
 * Echo reduction (dB) from which the echo-cancelled microphone is trusted as it is. Measured
 * (bench/RESULTS.md, npm run bench:aec): once converged the canceller leaves about one VAD speech
 * start per 10 minutes of its own speech, while the level gate would still drop a third of the
 * user's interruptions (short ones like "stop" above all).
 */
export const CANCELLER_TRUSTED_FROM_DB = 20;

/**
 * Self-speech gating with kai's echo canceller: once it has shown it removes the echo
 * (`trustFromDb` of held echo reduction), what is left on the microphone is the user, so the gate
 * lets everything through; before that — the first moments of the first reply in a new room — the
 * strict level gate decides.
 */
export class CancellerGate implements SelfSpeechGate {
  constructor(
    private readonly strict: SelfSpeechGate,
    private readonly canceller: { echoReductionAt(atMs: number): number },
    private readonly trustFromDb = CANCELLER_TRUSTED_FROM_DB,
  ) {}

  isUser(samples: Int16Array, atMs: number): boolean {
    return this.canceller.echoReductionAt(atMs) >= this.trustFromDb || this.strict.isUser(samples, atMs);
  }
}
