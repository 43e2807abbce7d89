import { errorEvent, str, type DialectSettings, type RealtimeDialect } from './dialect.js';
import { appendMessage } from './openai.js';

/** vLLM's own /v1/realtime protocol: 16 kHz, a commit opens the stream and a final commit ends it. */
export function vllmDialect(settings: DialectSettings): RealtimeDialect {
  return {
    name: 'vllm',
    sampleRate: 16_000,
    connectUrl: (base) => new URL(base),
    openingMessages: () => [{ type: 'session.update', model: settings.model }, { type: 'input_audio_buffer.commit' }],
    append: appendMessage,
    closingMessages: () => [{ type: 'input_audio_buffer.commit', final: true }],
    read(message) {
      switch (message['type']) {
        case 'transcription.delta': {
          const delta = str(message['delta']);
          return delta ? { type: 'delta', text: delta } : { type: 'ignore' };
        }
        case 'transcription.done':
          return { type: 'final', text: str(message['text']) ?? '' };
        case 'error':
          return errorEvent(message, 'unknown error');
        default:
          return { type: 'ignore' };
      }
    },
  };
}
