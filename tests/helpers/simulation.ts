import { readFileSync } from 'node:fs';
import type { AssistantEvent } from '../../src/app/events.js';
import { runSimulation, type SimulationOptions } from '../../src/app/simulate.js';
import { resampleInt16 } from '../../src/audio/resample.js';
import { readWav } from '../../src/audio/wav.js';
import { configSchema, type Config } from '../../src/config/index.js';
import type { ChatServer } from './chat-server.js';
import { sharedModelsDir, synth, type Voice } from './fixtures.js';
import { pcmBytes, splitBytes, type Behaviour, type ScriptedServer } from './openai-server.js';

export type TimedEvent = AssistantEvent & { t: number };

/** A config pointing every engine at the scripted loopback servers. */
export function serverConfig(audio: ScriptedServer, chat: ChatServer, overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    // No fallback to the embedded engines: these runs show how a server's failure surfaces.
    stt: { engine: 'http', baseUrl: audio.baseURL, model: 'whisper-test', stream: true, timeoutMs: 3000, fallback: false },
    tts: { engine: 'http', baseUrl: audio.baseURL, model: 'tts-test', voice: 'test', format: 'pcm', timeoutMs: 3000, fallback: false },
    llm: { baseUrl: chat.baseURL, model: 'llm-test', timeoutMs: 3000 },
    conversation: { followUp: 'off', earcons: true },
    ...overrides,
  });
}

/** Runs the assistant on `input` (a WAV path) and collects its events. */
export async function simulate(
  input: string,
  config: Config,
  options: Partial<Omit<SimulationOptions, 'config' | 'input' | 'emit' | 'modelsDir'>> = {},
): Promise<{ events: TimedEvent[]; endMs: number }> {
  const { samples } = await readWav(input);
  const events: TimedEvent[] = [];
  const { endMs } = await runSimulation({
    config,
    modelsDir: sharedModelsDir,
    input: samples,
    speed: options.speed ?? 1,
    emit: (event, atMs) => events.push({ ...event, t: Math.round(atMs) }),
    signal: new AbortController().signal,
    ...options,
  });
  return { events, endMs };
}

export const statesOf = (events: TimedEvent[]) => events.flatMap((e) => (e.type === 'state' ? [e.value] : []));
export const turnsOf = (events: TimedEvent[]) => events.flatMap((e) => (e.type === 'turn' ? [e] : []));

/** Speech for the TTS server to send back: raw 24 kHz pcm in a few chunks, and its length. */
export async function ttsAudio(text: string, voice: Voice = { engine: 'espeak', voice: 'en-us' }): Promise<{ chunks: Buffer[]; ms: number }> {
  const { samples } = await readWav(synth(text, voice));
  const pcm = pcmBytes(resampleInt16(samples, 16_000, 24_000));
  const quarter = Math.ceil(pcm.length / 4 / 2) * 2;
  return { chunks: splitBytes(pcm, [quarter, quarter + 1, quarter - 1]), ms: (samples.length * 1000) / 16_000 };
}

/** Start and end (ms) of the non-silent stretches of a 16 kHz WAV, merging gaps under `gapMs`. */
export async function audibleSpans(path: string, gapMs = 300): Promise<{ startMs: number; endMs: number }[]> {
  const { samples } = await readWav(path);
  const spans: { startMs: number; endMs: number }[] = [];
  const step = 160;
  for (let i = 0; i < samples.length; i += step) {
    let peak = 0;
    for (let j = i; j < Math.min(i + step, samples.length); j++) peak = Math.max(peak, Math.abs(samples[j]!));
    if (peak < 300) continue;
    const t = i / 16;
    const last = spans.at(-1);
    if (last && t - last.endMs <= gapMs) last.endMs = t + 10;
    else spans.push({ startMs: t, endMs: t + 10 });
  }
  return spans;
}

export function readJsonLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A streamed transcription of `text` as the STT server sends it: two deltas, then the done event. */
export function sttReply(text: string): Extract<Behaviour, { type: 'sse' }> {
  return {
    type: 'sse',
    events: [
      { type: 'transcript.text.delta', delta: text.split(' ').slice(0, 2).join(' ') },
      { type: 'transcript.text.delta', delta: ` ${text.split(' ').slice(2).join(' ')}` },
      { type: 'transcript.text.done', text },
    ],
    done: true,
  };
}
