import type { TurnRecord } from './events.js';

type Mark =
  | 'speechEnd'
  | 'endOfTurn'
  | 'transcriptFinal'
  | 'llmRequest'
  | 'llmFirstToken'
  | 'ttsFirstText'
  | 'ttsFirstAudio'
  | 'firstAudioWritten'
  | 'bargeInOnset'
  | 'bargeInDecision'
  | 'playbackStopped';

/** Timestamps of one turn (clock ms); turned into the DESIGN.md metrics once the turn ends. */
export class TurnMetrics {
  private readonly marks = new Map<Mark, number>();
  wakeScore: number | null = null;
  transcript = '';
  heardText = '';
  interrupted = false;
  readonly errors: string[] = [];

  constructor(readonly turn: number) {}

  /** Keeps the first time a mark is reached (later repeats do not move it). */
  mark(name: Mark, atMs: number): void {
    if (!this.marks.has(name)) this.marks.set(name, atMs);
  }

  /** Moves a mark to a later time (the end of speech is the last one before the turn ends). */
  set(name: Mark, atMs: number): void {
    this.marks.set(name, atMs);
  }

  has(name: Mark): boolean {
    return this.marks.has(name);
  }

  record(): TurnRecord {
    const span = (from: Mark, to: Mark) => {
      const a = this.marks.get(from);
      const b = this.marks.get(to);
      return a === undefined || b === undefined ? null : Math.round(b - a);
    };
    return {
      turn: this.turn,
      wakeScore: this.wakeScore,
      eouDelayMs: span('speechEnd', 'endOfTurn'),
      sttFinalMs: span('endOfTurn', 'transcriptFinal'),
      llmTtftMs: span('llmRequest', 'llmFirstToken'),
      ttsTtfbMs: span('ttsFirstText', 'ttsFirstAudio'),
      voiceToVoiceMs: span('speechEnd', 'firstAudioWritten'),
      bargeInStopMs: span('bargeInOnset', 'playbackStopped'),
      bargeInClearMs: span('bargeInDecision', 'playbackStopped'),
      interrupted: this.interrupted,
      transcript: this.transcript,
      heardText: this.heardText,
      errors: this.errors,
    };
  }
}
