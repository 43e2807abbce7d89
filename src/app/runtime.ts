import type { Agent } from '../agent/agent.js';
import type { SelfSpeechGate } from '../audio/echo-gate.js';
import type { AudioFrame, AudioSink } from '../audio/frame.js';
import type { AudioHub } from '../audio/hub.js';
import type { VoiceActivityDetector } from '../audio/vad/index.js';
import type { WakeWordDetector } from '../audio/wakeword/index.js';
import type { Clock } from '../clock.js';
import type { SpeechToText, TextToSpeech } from '../speech/types.js';
import type { EventSink } from './events.js';
import { TurnMetrics } from './metrics.js';

export interface RuntimeSettings {
  bargeIn: boolean;
  bargeInMinMs: number;
  earcons: boolean;
  /** Padding the VAD adds around speech (to recover where speech really ended). */
  vadPaddingMs: number;
}

/** Everything the actors share: the microphone, the speaker, the engines and the bookkeeping. */
export interface Runtime {
  hub: AudioHub;
  speaker: GatedSink;
  wake: WakeWordDetector;
  /** The listener's VAD (end of utterance). */
  vad: VoiceActivityDetector;
  /** The barge-in detector's VAD (minimum speech = bargeInMinMs). */
  bargeInVad: VoiceActivityDetector;
  echo: SelfSpeechGate;
  stt: SpeechToText;
  /** The recognizer for yes/no answers (the embedded grammar engine when available). */
  confirmStt: SpeechToText;
  tts: TextToSpeech;
  agent: Agent;
  clock: Clock;
  settings: RuntimeSettings;
  emit: EventSink;
  turns: TurnBook;
  /** Errors already said out loud since the services last worked: said once, then only an earcon. */
  outages: Set<string>;
  /** Where the last wake phrase ended (stream ms), so it is never heard twice. */
  cursor: { lastWakeEndMs: number; lastWakeScore: number };
}

/** Stream time now: what the microphone hears at this moment lines up here. */
export function streamNow(runtime: Pick<Runtime, 'hub'>): number {
  return runtime.hub.streamMsAt();
}

/** Per-turn metrics, created on first use and handed out by turn number. */
export class TurnBook {
  private readonly turns = new Map<number, TurnMetrics>();

  get(turn: number): TurnMetrics {
    let metrics = this.turns.get(turn);
    if (!metrics) this.turns.set(turn, (metrics = new TurnMetrics(turn)));
    return metrics;
  }

  /** A turn's metrics if it is still being recorded. */
  peek(turn: number): TurnMetrics | undefined {
    return this.turns.get(turn);
  }

  /** Removes and returns a turn's metrics (once: a turn is reported once). */
  take(turn: number): TurnMetrics | undefined {
    const metrics = this.turns.get(turn);
    this.turns.delete(turn);
    return metrics;
  }
}

/**
 * The speaker as the reply sees it: every write carries the generation it belongs to, and a
 * write from a generation that was cut off (barge-in, cancel) is dropped, not played late.
 */
export class GatedSink {
  private generation = 0;
  /** The sink's playedMs when the current generation opened: its own audio is what came after. */
  private baselineMs = 0;

  constructor(readonly sink: AudioSink) {}

  /** Starts a new generation of audio; earlier ones can no longer play. */
  open(): number {
    this.generation += 1;
    this.baselineMs = this.sink.playedMs;
    return this.generation;
  }

  isCurrent(generation: number): boolean {
    return generation === this.generation;
  }

  /** Plays the frame (with back-pressure) unless its generation was cut off; false when dropped. */
  async write(frame: AudioFrame, generation: number): Promise<boolean> {
    if (generation !== this.generation) return false;
    await this.sink.write(frame);
    return true;
  }

  /** Stops playback at once and closes the current generation; returns how much of it had been played. */
  cut(): { playedMs: number } {
    this.generation += 1;
    return { playedMs: Math.max(0, this.sink.clear().playedMs - this.baselineMs) };
  }

  drain(signal?: AbortSignal): Promise<void> {
    return this.sink.drain(signal);
  }

  get playedMs(): number {
    return this.sink.playedMs;
  }
}
