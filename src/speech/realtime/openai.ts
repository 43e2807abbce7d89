import { errorEvent, str, type ClientMessage, type DialectEvent, type DialectSettings, type RealtimeDialect } from './dialect.js';

const TRANSCRIPTION = 'conversation.item.input_audio_transcription';

/** Server events shared by the OpenAI GA and beta (speaches) shapes. */
export function readOpenAiEvent(message: Record<string, unknown>): DialectEvent {
  switch (message['type']) {
    case `${TRANSCRIPTION}.delta`: {
      const delta = str(message['delta']);
      return delta ? { type: 'delta', text: delta } : { type: 'ignore' };
    }
    case `${TRANSCRIPTION}.completed`:
      return { type: 'final', text: str(message['transcript']) ?? '' };
    case `${TRANSCRIPTION}.failed`:
      return errorEvent(message, 'transcription failed');
    case 'error':
      return errorEvent(message, 'unknown error');
    case 'input_audio_buffer.speech_started':
      return { type: 'speech_started' };
    case 'input_audio_buffer.speech_stopped':
      return { type: 'speech_stopped' };
    default:
      return { type: 'ignore' };
  }
}

export const appendMessage = (audio: string): ClientMessage => ({ type: 'input_audio_buffer.append', audio });

/** OpenAI GA realtime transcription session; we commit each turn ourselves (turn_detection null). */
export function openAiDialect(settings: DialectSettings): RealtimeDialect {
  const sampleRate = 24_000;
  return {
    name: 'openai',
    sampleRate,
    connectUrl(base) {
      const url = new URL(base);
      url.searchParams.set('intent', 'transcription');
      return url;
    },
    openingMessages: () => [
      {
        type: 'session.update',
        session: {
          type: 'transcription',
          audio: {
            input: {
              format: { type: 'audio/pcm', rate: sampleRate },
              transcription: {
                model: settings.model,
                ...(settings.language !== undefined && { language: settings.language }),
                ...(settings.prompt !== undefined && { prompt: settings.prompt }),
              },
              turn_detection: null,
            },
          },
        },
      },
    ],
    append: appendMessage,
    closingMessages: () => [{ type: 'input_audio_buffer.commit' }],
    read: readOpenAiEvent,
  };
}
