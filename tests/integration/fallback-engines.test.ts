import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock, type Clock } from '../../src/clock.js';
import type { AudioFrame } from '../../src/audio/frame.js';
import { FallbackSpeechToText, FallbackTextToSpeech, type FallbackOptions } from '../../src/speech/fallback.js';
import { HttpSpeechToText } from '../../src/speech/stt-http.js';
import { HttpTextToSpeech } from '../../src/speech/tts-http.js';
import { ProviderError, type SpeechToText, type SttEvent, type TextToSpeech } from '../../src/speech/types.js';
import { startScriptedServer, type ScriptedServer } from '../helpers/openai-server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';

failOnUnhandledRejections();

const STT_ROUTE = '/audio/transcriptions';
let server: ScriptedServer;
/** A loopback port nothing listens on. */
let closedURL: string;

beforeAll(async () => {
  server = await startScriptedServer();
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((ok) => probe.close(() => ok()));
  closedURL = `http://127.0.0.1:${port}/v1`;
});
afterAll(async () => {
  await server.close();
});

/** Wall timers for the HTTP engines; now() only moves when the test says so. */
class SteppedClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return realClock.setTimeout(fn, ms);
  }
  clearTimeout(handle: unknown): void {
    realClock.clearTimeout(handle);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return realClock.sleep(ms, signal);
  }
}

/** Counts the HTTP requests an engine makes (not the SDK's one-off `data:` probe for FormData support). */
function countingFetch(): { fetch: typeof globalThis.fetch; count: () => number } {
  let n = 0;
  return {
    fetch: (input, init) => {
      if (String(input instanceof Request ? input.url : input).startsWith('http')) n += 1;
      return globalThis.fetch(input, init);
    },
    count: () => n,
  };
}

function httpStt(baseURL: string, fetch?: typeof globalThis.fetch, stream = false): HttpSpeechToText {
  return new HttpSpeechToText({ baseURL, model: 'whisper-1', stream, timeoutMs: 2000, ...(fetch ? { fetch } : {}) });
}

/** The embedded engine's stand-in: records every frame it was given. */
class RecordingStt implements SpeechToText {
  readonly name = 'recording';
  readonly calls: AudioFrame[][] = [];

  async *transcribe(audio: AsyncIterable<AudioFrame>): AsyncIterable<SttEvent> {
    const got: AudioFrame[] = [];
    this.calls.push(got);
    for await (const frame of audio) got.push(frame);
    yield { type: 'final', text: `fallback heard ${got.length} frames` };
  }
}

function utteranceFrames(count = 25): AudioFrame[] {
  return Array.from({ length: count }, (_, k) => ({
    samples: new Int16Array(320).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * 320 + i)) / 16000))),
    sampleRate: 16000,
    timestampMs: k * 20,
  }));
}

/** The frames, delivered one per macrotask like a live microphone. */
async function* live(frames: AudioFrame[]): AsyncGenerator<AudioFrame> {
  for (const frame of frames) {
    await new Promise<void>((ok) => setImmediate(ok));
    yield frame;
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const never = new AbortController().signal;

function switches(): { log: [boolean, string][]; options: Pick<FallbackOptions, 'onSwitch'> } {
  const log: [boolean, string][] = [];
  return { log, options: { onSwitch: (usingFallback, reason) => log.push([usingFallback, reason]) } };
}

describe('FallbackSpeechToText', () => {
  it('replays the utterance to the fallback when the server cannot be reached, and skips the server for retryAfterMs', async () => {
    const clock = new SteppedClock();
    const counter = countingFetch();
    const fallback = new RecordingStt();
    const { log, options } = switches();
    const stt = new FallbackSpeechToText(httpStt(closedURL, counter.fetch), fallback, { clock, retryAfterMs: 30_000, ...options });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

    const frames = utteranceFrames();
    expect(await collect(stt.transcribe(live(frames), never))).toEqual([{ type: 'final', text: 'fallback heard 25 frames' }]);
    expect(counter.count()).toBe(1);
    expect(fallback.calls[0]).toEqual(frames);
    expect(log).toEqual([[true, `the speech-to-text server at ${closedURL} cannot be reached`]]);

    clock.t = 29_999;
    await collect(stt.transcribe(live(frames), never));
    expect(counter.count()).toBe(1);
    expect(fallback.calls[1]).toEqual(frames);

    clock.t = 30_000;
    await collect(stt.transcribe(live(frames), never));
    expect(counter.count()).toBe(2);
    expect(fallback.calls).toHaveLength(3);
    expect(fallback.calls[2]).toEqual(frames);
    expect(log).toHaveLength(1);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });

  it('tries the server again after retryAfterMs, doubling while it stays down, and switches back when it answers', async () => {
    const clock = new SteppedClock();
    server.requests.length = 0;
    server.script(STT_ROUTE, { type: 'status', status: 503, message: 'loading model' }, { type: 'status', status: 503 }, { type: 'json', body: { text: 'run the tests' } });
    const fallback = new RecordingStt();
    const { log, options } = switches();
    const stt = new FallbackSpeechToText(httpStt(server.baseURL), fallback, { clock, retryAfterMs: 30_000, maxRetryAfterMs: 100_000, ...options });
    const at = async (t: number) => {
      clock.t = t;
      return collect(stt.transcribe(live(utteranceFrames(5)), never));
    };

    expect(await at(0)).toEqual([{ type: 'final', text: 'fallback heard 5 frames' }]);
    expect(log).toEqual([[true, expect.stringMatching(/HTTP 503: loading model/)]]);
    await at(29_000);
    expect(server.requests).toHaveLength(1);
    await at(30_000); // 503 again: skipped for 60 s now
    expect(server.requests).toHaveLength(2);
    await at(89_000);
    expect(server.requests).toHaveLength(2);
    expect(await at(90_000)).toEqual([{ type: 'final', text: 'run the tests' }]);
    expect(server.requests).toHaveLength(3);
    expect(fallback.calls).toHaveLength(4);
    expect(log.at(-1)).toEqual([false, 'openai-http works again']);
    expect(log).toHaveLength(2);
  });

  it('lets errors the fallback cannot help with through unchanged', async () => {
    const fallback = new RecordingStt();
    const clock = new SteppedClock();
    const stt = new FallbackSpeechToText(httpStt(server.baseURL), fallback, { clock });
    server.script(STT_ROUTE, { type: 'status', status: 400, message: 'unsupported language' });
    const rejected = await collect(stt.transcribe(live(utteranceFrames(5)), never)).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(ProviderError);
    expect((rejected as ProviderError).retryable).toBe(false);
    expect((rejected as ProviderError).message).toMatch(/rejected the request \(HTTP 400: unsupported language\)/);
    expect(fallback.calls).toHaveLength(0);

    // A connection lost after transcripts came out: the caller saw them, so the error is theirs.
    server.script(STT_ROUTE, {
      type: 'sse',
      events: [
        { type: 'transcript.text.delta', delta: 'run' },
        { type: 'transcript.text.delta', delta: ' the' },
        { type: 'transcript.text.delta', delta: ' tests' },
      ],
      delayMs: 20,
      resetAfter: 2,
    });
    const seen: SttEvent[] = [];
    const lost = await (async () => {
      const streaming = new FallbackSpeechToText(httpStt(server.baseURL, undefined, true), fallback, { clock });
      for await (const event of streaming.transcribe(live(utteranceFrames(5)), never)) seen.push(event);
    })().catch((e: unknown) => e);
    expect(seen[0]).toEqual({ type: 'interim', text: 'run' });
    expect(lost).toBeInstanceOf(ProviderError);
    expect((lost as ProviderError).retryable).toBe(true);
    expect(fallback.calls).toHaveLength(0);
  });

  it('stops without the fallback when the request is aborted', async () => {
    server.script(STT_ROUTE, { type: 'stall' });
    const fallback = new RecordingStt();
    const stt = new FallbackSpeechToText(httpStt(server.baseURL), fallback, { clock: new SteppedClock() });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect(await collect(stt.transcribe(live(utteranceFrames(5)), ac.signal))).toEqual([]);
    expect(fallback.calls).toHaveLength(0);
  });

  it('gives the fallback what a streaming primary had consumed, then the rest live', async () => {
    let pulled = 0;
    const primary: SpeechToText = {
      name: 'streaming',
      async *transcribe(audio) {
        for await (const _ of audio) {
          pulled += 1;
          yield { type: 'speech_started' };
          if (pulled === 7) throw new ProviderError('stt', 'the connection to the realtime server was lost', { retryable: true });
        }
      },
    };
    const fallback = new RecordingStt();
    const stt = new FallbackSpeechToText(primary, fallback, { clock: new SteppedClock() });
    const frames = utteranceFrames(20);
    const events = await collect(stt.transcribe(live(frames), never));
    expect(pulled).toBe(7);
    expect(events.filter((e) => e.type === 'speech_started')).toHaveLength(7);
    expect(events.at(-1)).toEqual({ type: 'final', text: 'fallback heard 20 frames' });
    expect(fallback.calls[0]).toEqual(frames);
  });
});

describe('FallbackTextToSpeech', () => {
  class RecordingTts implements TextToSpeech {
    readonly name = 'recording';
    readonly calls: string[][] = [];
    async *synthesize(text: AsyncIterable<string>): AsyncIterable<AudioFrame> {
      const got: string[] = [];
      this.calls.push(got);
      for await (const sentence of text) {
        got.push(sentence);
        yield { samples: new Int16Array(160).fill(got.length), sampleRate: 16000, timestampMs: 0 };
      }
    }
  }

  async function* sentences(list: string[]): AsyncGenerator<string> {
    for (const s of list) {
      await new Promise<void>((ok) => setTimeout(ok, 5));
      yield s;
    }
  }

  it('replays the sentences to the fallback when the server cannot be reached, then passes the rest live', async () => {
    const counter = countingFetch();
    const primary = new HttpTextToSpeech({ baseURL: closedURL, model: 'kokoro', voice: 'af_heart', format: 'pcm', timeoutMs: 2000, fetch: counter.fetch });
    const fallback = new RecordingTts();
    const { log, options } = switches();
    const tts = new FallbackTextToSpeech(primary, fallback, { clock: new SteppedClock(), ...options });
    const text = ['The tests ran.', ' 142 passed.', ' 2 failed.'];
    const frames = await collect(tts.synthesize(sentences(text), never));
    expect(fallback.calls).toEqual([text]);
    expect(frames.map((f) => f.samples[0])).toEqual([1, 2, 3]);
    expect(counter.count()).toBe(1);
    expect(log).toEqual([[true, `the text-to-speech server at ${closedURL} cannot be reached`]]);
    // Skipped while it is down.
    await collect(tts.synthesize(sentences(['Done.']), never));
    expect(counter.count()).toBe(1);
    expect(fallback.calls[1]).toEqual(['Done.']);
  });

  it('does not fall back once audio came out', async () => {
    const primary: TextToSpeech = {
      name: 'flaky',
      async *synthesize(text) {
        for await (const _ of text) {
          yield { samples: new Int16Array(160), sampleRate: 16000, timestampMs: 0 };
          throw new ProviderError('tts', 'the connection to the text-to-speech server was lost', { retryable: true });
        }
      },
    };
    const fallback = new RecordingTts();
    const tts = new FallbackTextToSpeech(primary, fallback, { clock: new SteppedClock() });
    const got: AudioFrame[] = [];
    const error = await (async () => {
      for await (const frame of tts.synthesize(sentences(['One.', ' Two.']), never)) got.push(frame);
    })().catch((e: unknown) => e);
    expect(got).toHaveLength(1);
    expect(error).toBeInstanceOf(ProviderError);
    expect(fallback.calls).toHaveLength(0);
  });
});
