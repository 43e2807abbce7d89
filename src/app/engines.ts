import type { Agent } from '../agent/agent.js';
import { ChatAgent } from '../agent/chat-agent.js';
import { ChatClient } from '../agent/llm.js';
import { OfflineAgent } from '../agent/offline-agent.js';
import type { Config } from '../config/index.js';
import { UsageError } from '../errors.js';
import { HttpSpeechToText } from '../speech/stt-http.js';
import { PocketsphinxSpeechToText } from '../speech/stt-pocketsphinx.js';
import { RealtimeSpeechToText } from '../speech/stt-realtime.js';
import { EspeakTextToSpeech } from '../speech/tts-espeak.js';
import { HttpTextToSpeech } from '../speech/tts-http.js';
import type { SpeechToText, TextToSpeech } from '../speech/types.js';

export interface Engines {
  stt: SpeechToText;
  /** Yes/no answers: the embedded grammar recognizer, which cannot mishear them as a command. */
  confirmStt: SpeechToText;
  tts: TextToSpeech;
  agent: Agent;
}

/** The engines config asks for: servers where a URL is configured, embedded ones otherwise. */
export function createEngines(config: Config): Engines {
  const agent = createAgent(config);
  const stt = createStt(config, agent.phrases());
  return { stt, confirmStt: yesNoRecognizer(stt), tts: createTts(config), agent };
}

function yesNoRecognizer(fallback: SpeechToText): SpeechToText {
  try {
    return new PocketsphinxSpeechToText({ phrases: [] });
  } catch {
    return fallback; // pocketsphinx is not installed: the main recognizer hears the answer
  }
}

export function createAgent(config: Config): Agent {
  const { llm } = config;
  if (!llm.baseUrl) return new OfflineAgent();
  if (!llm.model) throw new UsageError('llm.model is empty; set the model name your LLM server serves (llm.model in the config)');
  const client = new ChatClient({
    baseURL: llm.baseUrl,
    apiKey: llm.apiKey || undefined,
    model: llm.model,
    temperature: llm.temperature,
    maxTokens: llm.maxTokens,
    timeoutMs: llm.timeoutMs,
  });
  return new ChatAgent(client);
}

export function createStt(config: Config, phrases: string[]): SpeechToText {
  const { stt } = config;
  if (stt.engine === 'embedded') return new PocketsphinxSpeechToText({ phrases });
  if (!stt.baseUrl) throw new UsageError(`stt.engine is ${stt.engine} but stt.baseUrl is empty; set the server URL or use stt.engine: embedded`);
  const common = {
    apiKey: stt.apiKey || undefined,
    model: stt.model,
    language: stt.language || undefined,
    prompt: stt.prompt || undefined,
    timeoutMs: stt.timeoutMs,
  };
  if (stt.engine === 'http') return new HttpSpeechToText({ ...common, baseURL: stt.baseUrl, stream: stt.stream });
  return new RealtimeSpeechToText({ ...common, url: stt.baseUrl, dialect: stt.dialect });
}

export function createTts(config: Config): TextToSpeech {
  const { tts } = config;
  if (tts.engine === 'espeak') return new EspeakTextToSpeech({ voice: tts.espeakVoice });
  if (!tts.baseUrl) throw new UsageError('tts.engine is http but tts.baseUrl is empty; set the server URL or use tts.engine: espeak');
  return new HttpTextToSpeech({
    baseURL: tts.baseUrl,
    apiKey: tts.apiKey || undefined,
    model: tts.model,
    voice: tts.voice,
    speed: tts.speed,
    format: tts.format,
    timeoutMs: tts.timeoutMs,
  });
}
