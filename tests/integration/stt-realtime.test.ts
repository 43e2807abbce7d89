import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { RealtimeSpeechToText, type RealtimeSttOptions } from '../../src/speech/stt-realtime.js';
import { ProviderError, type SttEvent } from '../../src/speech/types.js';
import {
  appendedBytes,
  messageTypes,
  startRealtimeServer,
  type Connection,
  type RealtimeDialectName,
  type RealtimeServer,
} from '../helpers/realtime-server.js';

interface Speech {
  frames: AsyncIterable<AudioFrame>;
  /** performance.now() when the iterable ended (undefined while it runs). */
  endedAt(): number | undefined;
  samples: number;
}

/** A 16 kHz tone in frames of `frameSamples`, with a real pause between frames like a live mic. */
function speech(count: number, frameSamples = 320, delayMs = 10): Speech {
  let endedAt: number | undefined;
  async function* frames(): AsyncGenerator<AudioFrame> {
    for (let i = 0; i < count; i++) {
      if (delayMs > 0 && i > 0) await sleep(delayMs);
      const samples = new Int16Array(frameSamples);
      for (let j = 0; j < frameSamples; j++) samples[j] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i * frameSamples + j)) / 16_000));
      yield { samples, sampleRate: 16_000, timestampMs: (i * frameSamples) / 16 };
    }
    endedAt = performance.now();
  }
  return { frames: frames(), endedAt: () => endedAt, samples: count * frameSamples };
}

async function collect(events: AsyncIterable<SttEvent>): Promise<{ events: SttEvent[]; finalAt: number | undefined }> {
  const out: SttEvent[] = [];
  let finalAt: number | undefined;
  for await (const event of events) {
    out.push(event);
    if (event.type === 'final') finalAt = performance.now();
  }
  return { events: out, finalAt };
}

async function failure(events: AsyncIterable<SttEvent>): Promise<ProviderError> {
  try {
    await collect(events);
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    const e = err as ProviderError;
    expect(e.source).toBe('stt');
    // One sentence: one line, no sentence break inside, no stack.
    expect(e.message).toMatch(/^[^\n]+$/);
    expect(e.message).not.toMatch(/\.\s+[A-Z]/);
    return e;
  }
  throw new Error('transcribe() did not fail');
}

function make(server: RealtimeServer, dialect: RealtimeDialectName, extra: Partial<RealtimeSttOptions> = {}): RealtimeSpeechToText {
  return new RealtimeSpeechToText({
    url: server.url,
    apiKey: 'sk-test',
    model: 'whisper-test',
    language: 'en',
    prompt: 'kai vitest',
    dialect,
    timeoutMs: 2000,
    connectTimeoutMs: 2000,
    ...extra,
  });
}

function expected(dialect: RealtimeDialectName): SttEvent[] {
  const final: SttEvent = { type: 'final', text: 'run the tests please' };
  const interims: SttEvent[] = [
    { type: 'interim', text: 'run the' },
    { type: 'interim', text: 'run the tests' },
    { type: 'interim', text: 'run the tests please' },
  ];
  if (dialect === 'vllm') return [...interims, final];
  const speechEvents: SttEvent[] = [{ type: 'speech_started' }, { type: 'speech_stopped' }];
  return dialect === 'openai' ? [...speechEvents, ...interims, final] : [...speechEvents, final];
}

async function happyAgain(server: RealtimeServer, stt: RealtimeSpeechToText, dialect: RealtimeDialectName): Promise<void> {
  server.reset();
  const { events } = await collect(stt.transcribe(speech(5, 320, 0).frames, new AbortController().signal));
  expect(events).toEqual(expected(dialect));
}

/** A TCP port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

describe.each(['openai', 'speaches', 'vllm'] as const)('realtime STT, %s dialect', (dialect) => {
  let server: RealtimeServer;
  const rate = dialect === 'vllm' ? 16_000 : 24_000;

  beforeAll(async () => {
    server = await startRealtimeServer(dialect);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  async function lastConnection(): Promise<Connection> {
    return server.connection(server.connections.length - 1);
  }

  it('streams audio while the user speaks and yields interims, then exactly one final right after the commit', async () => {
    const stt = make(server, dialect);
    const audio = speech(12, 320, 15);
    const { events, finalAt } = await collect(stt.transcribe(audio.frames, new AbortController().signal));
    expect(events).toEqual(expected(dialect));
    expect(events.filter((e) => e.type === 'final')).toHaveLength(1);

    const endedAt = audio.endedAt()!;
    expect(finalAt! - endedAt).toBeLessThan(50);

    const conn = await lastConnection();
    const appends = conn.received.filter((m) => m.json?.['type'] === 'input_audio_buffer.append');
    // Streaming, not batched: most appends reached the server before the audio ended.
    expect(appends.filter((m) => m.at < endedAt).length).toBeGreaterThanOrEqual(8);
    await conn.closed;

    expect(conn.headers['authorization']).toBe('Bearer sk-test');
    const query = new URL(conn.path, 'ws://x').searchParams;
    const types = messageTypes(conn);
    const first = conn.received[0]!.json!;
    const last = conn.received.at(-1)!.json!;
    expect(types[0]).toBe('session.update');
    expect(types.slice(1).every((t) => t !== 'session.update')).toBe(true);
    if (dialect === 'openai') {
      expect(query.get('intent')).toBe('transcription');
      expect(first).toEqual({
        type: 'session.update',
        session: {
          type: 'transcription',
          audio: {
            input: {
              format: { type: 'audio/pcm', rate: 24_000 },
              transcription: { model: 'whisper-test', language: 'en', prompt: 'kai vitest' },
              turn_detection: null,
            },
          },
        },
      });
      expect(last).toEqual({ type: 'input_audio_buffer.commit' });
    } else if (dialect === 'speaches') {
      expect(query.get('intent')).toBe('transcription');
      expect(query.get('model')).toBe('whisper-test');
      expect(query.get('transcription_model')).toBe('whisper-test');
      expect(query.get('language')).toBe('en');
      expect(first).toEqual({
        type: 'session.update',
        session: {
          input_audio_format: 'pcm16',
          input_audio_transcription: { model: 'whisper-test', language: 'en', prompt: 'kai vitest' },
          turn_detection: null,
        },
      });
      expect(last).toEqual({ type: 'input_audio_buffer.commit' });
    } else {
      expect(first).toEqual({ type: 'session.update', model: 'whisper-test' });
      expect(conn.received[1]!.json).toEqual({ type: 'input_audio_buffer.commit' });
      expect(last).toEqual({ type: 'input_audio_buffer.commit', final: true });
    }
    expect(types.filter((t) => t === 'input_audio_buffer.commit')).toHaveLength(dialect === 'vllm' ? 2 : 1);
  });

  it(`sends valid base64 PCM16 at ${rate / 1000} kHz, queued frames included`, async () => {
    const stt = make(server, dialect);
    // Odd frame sizes, all produced before the socket can be open.
    const audio = speech(48, 333, 0);
    const { events } = await collect(stt.transcribe(audio.frames, new AbortController().signal));
    expect(events.at(-1)).toEqual({ type: 'final', text: 'run the tests please' });
    const conn = await lastConnection();
    for (const m of conn.received.filter((r) => r.json?.['type'] === 'input_audio_buffer.append')) {
      const b64 = String(m.json!['audio']);
      expect(b64).toMatch(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
      expect(Buffer.from(b64, 'base64').length % 2).toBe(0);
    }
    const bytes = appendedBytes(conn).reduce((n, b) => n + b.length, 0);
    expect(bytes).toBe(2 * Math.ceil((audio.samples * rate) / 16_000));
    // The tone survives: the loudest sample is near the input's 8000.
    const all = Buffer.concat(appendedBytes(conn));
    let peak = 0;
    for (let i = 0; i < all.length; i += 2) peak = Math.max(peak, Math.abs(all.readInt16LE(i)));
    expect(peak).toBeGreaterThan(7500);
    expect(peak).toBeLessThan(8500);
  });

  it('reports a 401 handshake as a non-retryable key problem, then works again', async () => {
    const stt = make(server, dialect);
    server.set({ failure: { type: 'reject', status: 401 } });
    const before = server.connections.length;
    const err = await failure(stt.transcribe(speech(5).frames, new AbortController().signal));
    expect(err.message).toMatch(/rejected the API key \(HTTP 401\)/);
    expect(err.retryable).toBe(false);
    expect(server.connections.length).toBe(before);
    await happyAgain(server, stt, dialect);
  });

  it('reports a 404 handshake as a wrong URL, not retryable', async () => {
    const stt = make(server, dialect);
    server.set({ failure: { type: 'reject', status: 404 } });
    const err = await failure(stt.transcribe(speech(5).frames, new AbortController().signal));
    expect(err.message).toMatch(/HTTP 404/);
    expect(err.message).toContain('/v1/realtime');
    expect(err.retryable).toBe(false);
    await happyAgain(server, stt, dialect);
  });

  it('reports a refused connection as retryable', async () => {
    const port = await closedPort();
    const stt = new RealtimeSpeechToText({ url: `ws://127.0.0.1:${port}/v1/realtime`, model: 'm', dialect, timeoutMs: 1000 });
    const err = await failure(stt.transcribe(speech(5).frames, new AbortController().signal));
    expect(err.message).toMatch(/connection refused/);
    expect(err.retryable).toBe(true);
  });

  it('reports the server closing mid-utterance as retryable and closes its side', async () => {
    const stt = make(server, dialect);
    server.set({ failure: { type: 'close', afterAppends: 3 } });
    const err = await failure(stt.transcribe(speech(20, 320, 10).frames, new AbortController().signal));
    expect(err.message).toMatch(/closed the connection before the transcript arrived/);
    expect(err.retryable).toBe(true);
    expect((await (await lastConnection()).closed).code).toBe(1011);
    await happyAgain(server, stt, dialect);
  });

  it('gives up on a stalled server timeoutMs after the commit', async () => {
    const stt = make(server, dialect, { timeoutMs: 150 });
    server.set({ failure: { type: 'stall' } });
    const audio = speech(5, 320, 5);
    const err = await failure(stt.transcribe(audio.frames, new AbortController().signal));
    const waited = performance.now() - audio.endedAt()!;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(400);
    expect(err.message).toMatch(/no transcript within 150 ms/);
    expect(err.retryable).toBe(true);
    await (await lastConnection()).closed;
    await happyAgain(server, stt, dialect);
  });

  it('fails on a message that is not JSON and closes the socket', async () => {
    const stt = make(server, dialect);
    server.set({ failure: { type: 'garbage' } });
    const err = await failure(stt.transcribe(speech(10, 320, 5).frames, new AbortController().signal));
    expect(err.message).toMatch(/not JSON/);
    expect(err.retryable).toBe(false);
    await (await lastConnection()).closed;
    await happyAgain(server, stt, dialect);
  });

  it('turns an error event into a ProviderError carrying the server message', async () => {
    const stt = make(server, dialect);
    server.set({ failure: { type: 'error', message: 'Model whisper-test is not loaded.\nTraceback: ...' } });
    const err = await failure(stt.transcribe(speech(10, 320, 5).frames, new AbortController().signal));
    expect(err.message).toBe('the realtime transcription server reported an error: Model whisper-test is not loaded');
    expect(err.retryable).toBe(false);
    await (await lastConnection()).closed;
    await happyAgain(server, stt, dialect);
  });

  it('closes the socket promptly on abort mid-utterance and just ends', async () => {
    const stt = make(server, dialect);
    const controller = new AbortController();
    const audio = speech(100, 320, 10);
    let abortedAt = 0;
    const iterate = collect(stt.transcribe(audio.frames, controller.signal));
    const conn = await server.connection(server.connections.length);
    while (appendedBytes(conn).length < 3) await sleep(5);
    abortedAt = performance.now();
    controller.abort();
    const { events } = await iterate;
    expect(events.some((e) => e.type === 'final')).toBe(false);
    const closed = await conn.closed;
    expect(closed.at - abortedAt).toBeLessThan(100);
    const appendsThen = appendedBytes(conn).length;
    await sleep(50);
    expect(appendedBytes(conn).length).toBe(appendsThen);
    expect(audio.endedAt()).toBeUndefined();
    await happyAgain(server, stt, dialect);
  });
});

describe('realtime STT, edge cases', () => {
  let server: RealtimeServer;
  beforeAll(async () => {
    server = await startRealtimeServer('openai');
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  it('treats a server_error event as retryable', async () => {
    server.set({ failure: { type: 'error', message: 'Internal error', errorType: 'server_error' } });
    const err = await failure(make(server, 'openai').transcribe(speech(5).frames, new AbortController().signal));
    expect(err.retryable).toBe(true);
  });

  it('gives up on a server that never answers the handshake', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const { port } = silent.address() as AddressInfo;
    try {
      const stt = new RealtimeSpeechToText({ url: `ws://127.0.0.1:${port}/v1/realtime`, model: 'm', dialect: 'openai', timeoutMs: 5000, connectTimeoutMs: 150 });
      const err = await failure(stt.transcribe(speech(3).frames, new AbortController().signal));
      expect(err.message).toMatch(/did not accept the connection within 150 ms/);
      expect(err.retryable).toBe(true);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((ok) => silent.close(() => ok()));
    }
  });

  it('closes the socket when the consumer stops early', async () => {
    const stt = make(server, 'openai');
    const before = server.connections.length;
    for await (const event of stt.transcribe(speech(50, 320, 10).frames, new AbortController().signal)) {
      if (event.type === 'speech_started') break;
    }
    await (await server.connection(before)).closed;
  });

  it('passes the audio source’s own error through', async () => {
    async function* broken(): AsyncGenerator<AudioFrame> {
      yield { samples: new Int16Array(320), sampleRate: 16_000, timestampMs: 0 };
      await sleep(50); // long enough for the socket to open, so the server can see it close
      throw new Error('microphone unplugged');
    }
    const before = server.connections.length;
    await expect(collect(make(server, 'openai').transcribe(broken(), new AbortController().signal))).rejects.toThrow('microphone unplugged');
    await (await server.connection(before)).closed;
  });

  it('does not connect when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const { events } = await collect(make(server, 'openai').transcribe(speech(3).frames, controller.signal));
    expect(events).toEqual([]);
  });

  it('rejects a URL that is not ws:// or wss://', () => {
    expect(() => new RealtimeSpeechToText({ url: 'http://x/v1/realtime', model: 'm', dialect: 'openai', timeoutMs: 1 })).toThrow(/ws:\/\/ or wss:\/\//);
  });
});
