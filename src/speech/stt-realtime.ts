import type { AudioFrame } from '../audio/frame.js';
import { UsageError } from '../errors.js';
import { createDialect, type RealtimeDialect, type RealtimeDialectName } from './realtime/index.js';
import { RealtimeSession } from './realtime/session.js';
import type { SpeechToText, SttEvent } from './types.js';

export type { RealtimeDialectName } from './realtime/index.js';

export interface RealtimeSttOptions {
  /** ws:// or wss:// endpoint, e.g. ws://spark.lan:8000/v1/realtime. */
  url: string;
  apiKey?: string;
  model: string;
  language?: string;
  /** Vocabulary hint (not sent to vLLM, whose protocol has no place for it). */
  prompt?: string;
  dialect: RealtimeDialectName;
  /** How long to wait for the final transcript after the end of speech. */
  timeoutMs: number;
  /** How long to wait for the WebSocket handshake (default: timeoutMs). */
  connectTimeoutMs?: number;
}

/**
 * Speech-to-text over a realtime WebSocket: audio streams while the user speaks, so the final
 * transcript arrives right after the end of speech. One connection per utterance; our own VAD
 * decides where the utterance ends (server turn detection is off).
 */
export class RealtimeSpeechToText implements SpeechToText {
  readonly name: string;
  private readonly url: URL;
  private readonly dialect: RealtimeDialect;

  constructor(private readonly options: RealtimeSttOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new UsageError(`the realtime transcription URL is not a URL: ${options.url}`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new UsageError(`the realtime transcription URL must start with ws:// or wss://, got ${options.url}`);
    }
    this.dialect = createDialect(options.dialect, { model: options.model, language: options.language, prompt: options.prompt });
    this.url = this.dialect.connectUrl(url);
    this.name = `realtime-${options.dialect}:${options.model}`;
  }

  /** Connects at once, so the handshake overlaps the user's speech; frames sent before it completes are queued. */
  transcribe(audio: AsyncIterable<AudioFrame>, signal: AbortSignal): AsyncIterable<SttEvent> {
    const headers: Record<string, string> = {};
    if (this.options.apiKey) headers['Authorization'] = `Bearer ${this.options.apiKey}`;
    return new RealtimeSession(
      {
        url: this.url,
        headers,
        dialect: this.dialect,
        timeoutMs: this.options.timeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs ?? this.options.timeoutMs,
      },
      audio,
      signal,
    );
  }
}
