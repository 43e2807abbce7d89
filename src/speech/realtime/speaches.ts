import type { DialectSettings, RealtimeDialect } from './dialect.js';
import { appendMessage, readOpenAiEvent } from './openai.js';

/** speaches: the older beta session shape; only `…transcription.completed`, no deltas. */
export function speachesDialect(settings: DialectSettings): RealtimeDialect {
  return {
    name: 'speaches',
    sampleRate: 24_000,
    connectUrl(base) {
      const url = new URL(base);
      url.searchParams.set('intent', 'transcription');
      // In transcription mode speaches takes `model` as the transcription model.
      url.searchParams.set('model', settings.model);
      url.searchParams.set('transcription_model', settings.model);
      if (settings.language !== undefined) url.searchParams.set('language', settings.language);
      return url;
    },
    openingMessages: () => [
      {
        type: 'session.update',
        session: {
          input_audio_format: 'pcm16',
          input_audio_transcription: {
            model: settings.model,
            ...(settings.language !== undefined && { language: settings.language }),
            ...(settings.prompt !== undefined && { prompt: settings.prompt }),
          },
          turn_detection: null,
        },
      },
    ],
    append: appendMessage,
    closingMessages: () => [{ type: 'input_audio_buffer.commit' }],
    read: readOpenAiEvent,
  };
}
