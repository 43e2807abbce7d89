import type { DialectSettings, RealtimeDialect, RealtimeDialectName } from './dialect.js';
import { openAiDialect } from './openai.js';
import { speachesDialect } from './speaches.js';
import { vllmDialect } from './vllm.js';

export type { RealtimeDialect, RealtimeDialectName, DialectEvent, DialectSettings } from './dialect.js';

export function createDialect(name: RealtimeDialectName, settings: DialectSettings): RealtimeDialect {
  switch (name) {
    case 'openai':
      return openAiDialect(settings);
    case 'speaches':
      return speachesDialect(settings);
    case 'vllm':
      return vllmDialect(settings);
  }
}
