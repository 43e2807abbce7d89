import { toFile, type OpenAI } from 'openai';
import type { AudioFrame } from '../audio/frame.js';
import { encodeWav } from '../audio/wav.js';
import { abortable, isRecord, malformed, openAIClient, toProviderError } from './http-common.js';
import type { SpeechToText, SttEvent } from './types.js';

export interface HttpSpeechToTextOptions {
  /** e.g. `http://dgx:8000/v1` */
  baseURL: string;
  apiKey?: string;
  model: string;
  language?: string;
  /** Vocabulary hint (file, package and branch names). */
  prompt?: string;
  /** Ask for SSE deltas (OpenAI, speaches, llama.cpp, vLLM); otherwise one JSON answer. */
  stream: boolean;
  /** The request fails when the server sends nothing for this long (before or during the response). */
  timeoutMs: number;
  fetch?: typeof globalThis.fetch;
}

/** Speech-to-text through `POST {baseURL}/audio/transcriptions` (PROTOCOLS.md). */
export class HttpSpeechToText implements SpeechToText {
  readonly name = 'openai-http';
  private readonly client: OpenAI;

  constructor(private readonly options: HttpSpeechToTextOptions) {
    this.client = openAIClient(options);
  }

  async *transcribe(audio: AsyncIterable<AudioFrame>, signal: AbortSignal): AsyncIterable<SttEvent> {
    const wav = await collectWav(audio, signal);
    if (wav === null) return;
    if (wav.samples === 0) {
      yield { type: 'final', text: '' };
      return;
    }
    const { model, language, prompt, baseURL } = this.options;
    try {
      const file = await toFile(wav.bytes, 'utterance.wav', { type: 'audio/wav' });
      const params = { file, model, ...(language ? { language } : {}), ...(prompt ? { prompt } : {}) };
      // The SDK leaves a listener on the signal it is given: hand it a per-request one.
      const request = { signal: AbortSignal.any([signal]) };
      if (!this.options.stream) {
        // The raw body, so that an empty body and malformed JSON can be told apart.
        const res = await this.client.audio.transcriptions.create({ ...params, response_format: 'json' }, request).asResponse();
        yield { type: 'final', text: transcriptOf(await res.text(), baseURL) };
        return;
      }
      const events = await this.client.audio.transcriptions.create({ ...params, stream: true }, request);
      let text = '';
      let final: string | null = null;
      let seen = false;
      for await (const event of events as AsyncIterable<unknown>) {
        seen = true;
        const step = readStreamEvent(event);
        if (step.kind === 'delta' && step.text) {
          text += step.text;
          yield { type: 'interim', text };
        } else if (step.kind === 'done') {
          // llama.cpp and speaches send an empty `text` here: the deltas are the transcript.
          final = step.text || text;
          break;
        }
      }
      if (signal.aborted) return;
      if (!seen) throw malformed('stt', baseURL, 'an empty response');
      yield { type: 'final', text: final ?? text };
    } catch (err) {
      if (signal.aborted) return;
      throw toProviderError('stt', baseURL, err);
    }
  }
}

type StreamStep = { kind: 'delta'; text: string } | { kind: 'done'; text: string } | { kind: 'other' };


/** Normalises one SSE payload: OpenAI `transcript.text.*` events, or vLLM's chat-style `transcription.chunk`. */
function readStreamEvent(event: unknown): StreamStep {
  if (!isRecord(event)) return { kind: 'other' };
  if (event['type'] === 'transcript.text.delta' && typeof event['delta'] === 'string') return { kind: 'delta', text: event['delta'] };
  if (event['type'] === 'transcript.text.done') return { kind: 'done', text: typeof event['text'] === 'string' ? event['text'] : '' };
  if (event['object'] === 'transcription.chunk' && Array.isArray(event['choices'])) {
    const choice: unknown = event['choices'][0];
    const delta = isRecord(choice) ? choice['delta'] : undefined;
    const content = isRecord(delta) ? delta['content'] : undefined;
    return { kind: 'delta', text: typeof content === 'string' ? content : '' };
  }
  return { kind: 'other' };
}

function transcriptOf(body: string, baseURL: string): string {
  if (body.trim() === '') throw malformed('stt', baseURL, 'an empty response');
  let value: unknown;
  try {
    value = JSON.parse(body) as unknown;
  } catch {
    throw malformed('stt', baseURL, 'a malformed response');
  }
  if (!isRecord(value) || typeof value['text'] !== 'string') throw malformed('stt', baseURL, 'a response without a transcript');
  return value['text'];
}

/** Collects the utterance into a WAV file; null when the signal aborted first. */
async function collectWav(audio: AsyncIterable<AudioFrame>, signal: AbortSignal): Promise<{ bytes: Buffer; samples: number } | null> {
  const frames: Int16Array[] = [];
  let rate: number | undefined;
  let total = 0;
  for await (const frame of abortable(audio, signal)) {
    rate ??= frame.sampleRate;
    if (frame.sampleRate !== rate) throw new RangeError(`audio frames mix ${rate} Hz and ${frame.sampleRate} Hz`);
    frames.push(frame.samples);
    total += frame.samples.length;
  }
  if (signal.aborted) return null;
  const samples = new Int16Array(total);
  let off = 0;
  for (const f of frames) {
    samples.set(f, off);
    off += f.length;
  }
  return { bytes: encodeWav(samples, rate ?? 16_000), samples: total };
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing shared with tts-http.ts.
