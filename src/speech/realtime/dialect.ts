/** One realtime transcription wire dialect (PROTOCOLS.md), normalised to a few events. */

export type RealtimeDialectName = 'openai' | 'speaches' | 'vllm';

export interface DialectSettings {
  model: string;
  language?: string;
  prompt?: string;
}

/** What a server message means once the dialect has read it. */
export type DialectEvent =
  /** A piece of transcript to append to what came before. */
  | { type: 'delta'; text: string }
  /** The whole transcript; empty when the server leaves it to the deltas. */
  | { type: 'final'; text: string }
  | { type: 'speech_started' }
  | { type: 'speech_stopped' }
  | { type: 'error'; message: string; retryable: boolean }
  | { type: 'ignore' };

export type ClientMessage = { type: string } & Record<string, unknown>;

export interface RealtimeDialect {
  readonly name: RealtimeDialectName;
  /** Sample rate of the PCM16 the server takes. */
  readonly sampleRate: number;
  connectUrl(base: URL): URL;
  /** Sent as soon as the socket opens, before any audio. */
  openingMessages(): ClientMessage[];
  append(base64Pcm: string): ClientMessage;
  /** Sent when the utterance's audio has ended. */
  closingMessages(): ClientMessage[];
  read(message: Record<string, unknown>): DialectEvent;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Reads `error` events in their OpenAI shape `{error:{type,code,message}}` or as a bare string. */
export function errorEvent(message: Record<string, unknown>, fallback: string): DialectEvent {
  const inner = record(message['error']);
  const text = str(message['error']) ?? str(inner?.['message']) ?? str(message['message']) ?? fallback;
  // Only the server's own failures are worth retrying; bad requests fail the same way again.
  const kind = str(inner?.['type']) ?? '';
  return { type: 'error', message: text, retryable: kind === 'server_error' };
}
