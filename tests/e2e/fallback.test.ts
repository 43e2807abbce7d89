/**
 * The kiosk case: the speech servers are configured but down. With stt.fallback and tts.fallback
 * (the default) the embedded engines stand in, so "hey jarvis, what time is it" is still heard and
 * answered out loud, with no error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startChatServer, type ChatServer } from '../helpers/chat-server.js';
import { concat, phrase, silence, type Voice } from '../helpers/fixtures.js';
import { refusedUrl } from '../helpers/model-server.js';
import { simulate, statesOf, turnsOf } from '../helpers/simulation.js';

const voice: Voice = { engine: 'flite', voice: 'rms' };
let chat: ChatServer | undefined;

afterAll(async () => {
  await chat?.close();
});

describe('speech servers that cannot be reached', () => {
  it('hand over to the embedded recognizer and espeak-ng, and the turn is answered without an error', async () => {
    chat = await startChatServer();
    const down = await refusedUrl();
    const config = configSchema.parse({
      stt: { engine: 'http', baseUrl: down, model: 'whisper-test', timeoutMs: 3000 },
      tts: { engine: 'http', baseUrl: down, model: 'tts-test', voice: 'test', timeoutMs: 3000 },
      llm: { baseUrl: chat.baseURL, model: 'llm-test', timeoutMs: 3000 },
      conversation: { followUp: 'off' },
    });
    expect(config.stt.fallback && config.tts.fallback).toBe(true);
    const input = concat('fallback-turn', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('what time is it', voice), silence(2)]);
    const { events } = await simulate(input, config, { speed: 2 });
    expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    const [turn] = turnsOf(events);
    expect(turn).toMatchObject({ transcript: 'what time is it', errors: [] });
    expect(turn!.heardText).toMatch(/^It's \d/);
    expect(turn!.voiceToVoiceMs).toEqual(expect.any(Number)); // audio really reached the speaker
    expect(chat.requests).toEqual([]); // a local command: the LLM was not needed
  });
});
