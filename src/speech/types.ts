import type { AudioFrame } from '../audio/frame.js';
import { KaiError } from '../errors.js';

/** What every speech-to-text engine reports, whatever its wire dialect (PROTOCOLS.md). */
export type SttEvent =
  | { type: 'interim'; text: string }
  | { type: 'final'; text: string }
  | { type: 'speech_started' }
  | { type: 'speech_stopped' };

export interface SpeechToText {
  readonly name: string;
  /**
   * Consumes the utterance's audio (16 kHz mono int16 frames) until the iterable ends, yielding
   * interim transcripts while it can and exactly one `final` last. Aborting the signal cancels
   * the request at once. Failures are thrown as ProviderError.
   */
  transcribe(audio: AsyncIterable<AudioFrame>, signal: AbortSignal): AsyncIterable<SttEvent>;
}

export interface TextToSpeech {
  readonly name: string;
  /**
   * Speaks each text chunk (a sentence) as it arrives, yielding 16 kHz mono int16 frames as soon
   * as the engine produces them. Aborting the signal cancels the request at once.
   */
  synthesize(text: AsyncIterable<string>, signal: AbortSignal): AsyncIterable<AudioFrame>;
}

export type ProviderSource = 'stt' | 'tts' | 'llm';

/** A speech or LLM server (or embedded engine) failed; the message is one sentence for the user. */
export class ProviderError extends KaiError {
  readonly source: ProviderSource;

  constructor(source: ProviderSource, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options);
    this.source = source;
  }
}
