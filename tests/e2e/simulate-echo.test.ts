/**
 * Barge-in on open speakers, end to end: `kai simulate --room` makes the microphone hear the
 * assistant through a reverberant room. With the echo canceller the assistant neither interrupts
 * itself nor needs shouting: a user speaking at a normal level over the reply stops it. Without it
 * (and without the self-speech gate) its own voice cuts it off.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RoomOptions } from '../../src/audio/room.js';
import { configSchema } from '../../src/config/index.js';
import { startChatServer, textReply, type ChatServer } from '../helpers/chat-server.js';
import { concat, phrase, silence, type Voice } from '../helpers/fixtures.js';
import { startScriptedServer, type ScriptedServer } from '../helpers/openai-server.js';
import { serverConfig, simulate, statesOf, sttReply, ttsAudio, turnsOf } from '../helpers/simulation.js';

const voice: Voice = { engine: 'flite', voice: 'rms' };
/** A laptop on a desk: 60 ms to the microphone, a lively room, the echo 12 dB down. */
const room: RoomOptions = { delayMs: 60, rt60Ms: 400, gainDb: -12, seed: 7 };
const sentences = [
  'The build has three failing tests in the api package.',
  'The first one is a timeout in the health check.',
  'The second and third fail on a missing environment variable.',
];

let audio: ScriptedServer;
let chat: ChatServer;
beforeEach(async () => {
  audio = await startScriptedServer();
  chat = await startChatServer();
});
afterEach(async () => {
  await audio.close();
  await chat.close();
});

async function stage(replies: number): Promise<void> {
  const clips = await Promise.all(sentences.map((s) => ttsAudio(s)));
  const short = await ttsAudio('Tomorrow looks clear.');
  audio.script('/audio/transcriptions', sttReply('what broke in the build'), sttReply('what about tomorrow'));
  audio.script('/audio/speech', ...clips.map((c) => ({ type: 'chunks' as const, chunks: c.chunks, delayMs: 5 })), { type: 'chunks', chunks: short.chunks });
  chat.enqueue(textReply(sentences.map((s) => `${s} `)));
  if (replies > 1) chat.enqueue(textReply(['Tomorrow looks clear.']));
}

const request = () => [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('what broke in the build', voice)];

describe('kai simulate in a room with an open speaker', () => {
  it('with the echo canceller, the assistant does not hear itself: the whole reply plays', async () => {
    await stage(1);
    const input = concat('echo-quiet', [...request(), silence(12)]);
    const config = serverConfig(audio, chat, { conversation: { followUp: 'off', aec: 'on' } });
    const { events } = await simulate(input, config, { room });
    expect(statesOf(events)).toEqual(['idle', 'wake', 'listen', 'think', 'speak', 'idle']);
    const [turn] = turnsOf(events);
    expect(turn).toMatchObject({ interrupted: false, heardText: sentences.join(' ') });
  });

  it('with the echo canceller, a user talking at a normal level over the reply stops it', async () => {
    await stage(2);
    const input = concat('echo-barge', [...request(), silence(3), phrase('what about tomorrow', voice), silence(3)]);
    const config = serverConfig(audio, chat, { conversation: { followUp: 'off', aec: 'on' } });
    const { events } = await simulate(input, config, { room });
    const [first, second] = turnsOf(events);
    expect(first).toMatchObject({ interrupted: true });
    expect(first!.bargeInStopMs).toBeLessThan(1500);
    expect(second).toMatchObject({ transcript: 'what about tomorrow', interrupted: false });
  });

  it('offline: the interrupting command is heard by the embedded recognizer through the echo, and answered', async () => {
    const input = concat('echo-offline-barge', [
      silence(1),
      phrase('hey jarvis', voice),
      silence(0.6),
      phrase('what can you do', voice),
      silence(3),
      phrase('what time is it', voice),
      silence(6),
    ]);
    const config = configSchema.parse({ conversation: { followUp: 'off', aec: 'on' } });
    const { events } = await simulate(input, config, { room });
    const [first, second] = turnsOf(events);
    expect(first).toMatchObject({ transcript: 'what can you do', interrupted: true });
    expect(first!.bargeInStopMs).toBeLessThan(1500);
    expect(second).toMatchObject({ transcript: 'what time is it', interrupted: false });
    expect(second!.heardText).toMatch(/^It's \d/);
  });

  it('without it, and without the self-speech gate, the assistant interrupts itself', async () => {
    await stage(1);
    const input = concat('echo-quiet', [...request(), silence(12)]);
    const config = serverConfig(audio, chat, { conversation: { followUp: 'off', aec: 'off', echoGainDb: -100 } });
    // it would go on interrupting itself: stop once the first turn is over
    const { events } = await simulate(input, config, { room, signal: AbortSignal.timeout(20_000) });
    const [turn] = turnsOf(events);
    expect(turn).toMatchObject({ interrupted: true });
  });
});
