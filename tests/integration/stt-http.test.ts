import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { HttpSpeechToText, type HttpSpeechToTextOptions } from '../../src/speech/stt-http.js';
import { ProviderError, type SttEvent } from '../../src/speech/types.js';
import { startScriptedServer, type Behaviour, type ScriptedServer } from '../helpers/openai-server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';

const ROUTE = '/audio/transcriptions';
let server: ScriptedServer;

failOnUnhandledRejections();
beforeAll(async () => {
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.requests.length = 0;
});

function stt(options: Partial<HttpSpeechToTextOptions> = {}): HttpSpeechToText {
  return new HttpSpeechToText({ baseURL: server.baseURL, apiKey: 'sk-test', model: 'whisper-1', stream: false, timeoutMs: 2000, ...options });
}

/** `ms` of a 440 Hz tone as 20 ms frames. */
async function* utterance(ms = 1000): AsyncGenerator<AudioFrame> {
  for (let t = 0; t < ms; t += 20) {
    const samples = new Int16Array(320).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * ((t * 16) + i)) / 16000)));
    yield { samples, sampleRate: 16000, timestampMs: t };
  }
}

async function collect(events: AsyncIterable<SttEvent>): Promise<SttEvent[]> {
  const out: SttEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

async function failure(events: AsyncIterable<SttEvent>): Promise<ProviderError> {
  try {
    await collect(events);
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

const never = new AbortController().signal;

describe('HttpSpeechToText', () => {
  it('posts a WAV with the form fields and yields one final (non-streaming JSON)', async () => {
    server.script(ROUTE, { type: 'json', body: { text: 'run the tests' } });
    const events = await collect(stt({ language: 'en', prompt: 'kai-ambient' }).transcribe(utterance(1000), never));
    expect(events).toEqual([{ type: 'final', text: 'run the tests' }]);
    const req = server.requests[0]!;
    expect(req.headers['authorization']).toBe('Bearer sk-test');
    expect(req.fields).toMatchObject({ model: 'whisper-1', language: 'en', prompt: 'kai-ambient', response_format: 'json' });
    expect(req.fields?.['stream']).toBeUndefined();
    expect(req.files?.['file']?.wav).toEqual({ sampleRate: 16000, channels: 1, durationMs: 1000 });
  });

  it('streams OpenAI-style deltas as interims, then the done text as final', async () => {
    server.script(ROUTE, {
      type: 'sse',
      events: [
        { type: 'transcript.text.delta', delta: 'Run' },
        { type: 'transcript.text.delta', delta: ' the tests' },
        { type: 'transcript.text.done', text: 'Run the tests.' },
      ],
      delayMs: 10,
    });
    const events = await collect(stt({ stream: true }).transcribe(utterance(500), never));
    expect(events).toEqual([
      { type: 'interim', text: 'Run' },
      { type: 'interim', text: 'Run the tests' },
      { type: 'final', text: 'Run the tests.' },
    ]);
    expect(server.requests[0]!.fields?.['stream']).toBe('true');
    expect(server.requests[0]!.files?.['file']?.wav?.durationMs).toBe(500);
  });

  it('builds the final from the deltas when done carries empty text (llama.cpp, speaches)', async () => {
    server.script(ROUTE, {
      type: 'sse',
      events: [
        { type: 'transcript.text.delta', delta: 'Hey there,' },
        { type: 'transcript.text.delta', delta: ' add a health endpoint' },
        { type: 'transcript.text.done', text: '' },
      ],
      done: true,
    });
    const events = await collect(stt({ stream: true }).transcribe(utterance(300), never));
    expect(events.at(-1)).toEqual({ type: 'final', text: 'Hey there, add a health endpoint' });
    expect(events.filter((e) => e.type === 'final')).toHaveLength(1);
  });

  it("understands vLLM's transcription.chunk dialect", async () => {
    const chunk = (content: string | null, finish: string | null = null) => ({
      id: 'trsc-1',
      object: 'transcription.chunk',
      choices: [{ delta: content === null ? {} : { content }, finish_reason: finish, stop_reason: null }],
    });
    server.script(ROUTE, { type: 'sse', events: [chunk(' Open'), chunk(' the'), chunk(' file.'), chunk(null, 'stop')], done: true, delayMs: 5 });
    const events = await collect(stt({ stream: true }).transcribe(utterance(300), never));
    expect(events).toEqual([
      { type: 'interim', text: ' Open' },
      { type: 'interim', text: ' Open the' },
      { type: 'interim', text: ' Open the file.' },
      { type: 'final', text: ' Open the file.' },
    ]);
  });

  it('answers an empty utterance with an empty final and no request', async () => {
    const events = await collect(stt().transcribe(utterance(0), never));
    expect(events).toEqual([{ type: 'final', text: '' }]);
    expect(server.requests).toHaveLength(0);
  });

  it('aborting mid-stream closes the connection and ends the iterator at once', async () => {
    server.script(ROUTE, {
      type: 'sse',
      events: Array.from({ length: 50 }, (_, i) => ({ type: 'transcript.text.delta', delta: ` w${i}` })),
      delayMs: 200,
    });
    const ac = new AbortController();
    const events: SttEvent[] = [];
    let abortedAt = 0;
    for await (const e of stt({ stream: true }).transcribe(utterance(200), ac.signal)) {
      events.push(e);
      if (events.length === 1) {
        abortedAt = performance.now();
        ac.abort();
      }
    }
    expect(performance.now() - abortedAt).toBeLessThan(150);
    expect(events).toEqual([{ type: 'interim', text: ' w0' }]);
    expect(await server.requests[0]!.closed).toBe('aborted');
  });

  it('aborting before the server answers closes the connection', async () => {
    server.script(ROUTE, { type: 'stall' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    expect(await collect(stt({ stream: true, timeoutMs: 5000 }).transcribe(utterance(200), ac.signal))).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
    expect(await server.requests[0]!.closed).toBe('aborted');
  });

  it('aborting while the audio is still coming ends without a request', async () => {
    const ac = new AbortController();
    async function* endless(): AsyncGenerator<AudioFrame> {
      yield* utterance(100);
      await new Promise(() => undefined);
    }
    setTimeout(() => ac.abort(), 50);
    expect(await collect(stt().transcribe(endless(), ac.signal))).toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it('reports a server that is down', async () => {
    const gone = await startScriptedServer();
    await gone.close();
    const err = await failure(stt({ baseURL: gone.baseURL }).transcribe(utterance(100), never));
    expect(err.message).toBe(`the speech-to-text server at ${gone.baseURL} cannot be reached`);
    expect(err.retryable).toBe(true);
    expect(err.source).toBe('stt');
  });

  const failures: { name: string; stream: boolean; behaviour: Behaviour; message: RegExp; retryable: boolean }[] = [
    { name: 'HTTP 500', stream: false, behaviour: { type: 'status', status: 500, message: 'CUDA out of memory' }, message: /failed \(HTTP 500: CUDA out of memory\)$/, retryable: true },
    { name: 'HTTP 503 while streaming', stream: true, behaviour: { type: 'status', status: 503 }, message: /failed \(HTTP 503/, retryable: true },
    { name: 'HTTP 400', stream: false, behaviour: { type: 'status', status: 400, message: 'Model whisper-x is not loaded.' }, message: /rejected the request \(HTTP 400: Model whisper-x is not loaded\)$/, retryable: false },
    { name: 'HTTP 404 while streaming', stream: true, behaviour: { type: 'status', status: 404, message: 'Not Found' }, message: /rejected the request \(HTTP 404: Not Found\)$/, retryable: false },
    { name: 'a reset before answering', stream: false, behaviour: { type: 'reset' }, message: /^the connection to the speech-to-text server at .* was lost$/, retryable: true },
    {
      name: 'a reset mid-stream',
      stream: true,
      behaviour: { type: 'sse', events: [{ type: 'transcript.text.delta', delta: 'a' }, { type: 'transcript.text.delta', delta: 'b' }], resetAfter: 1 },
      message: /was lost$/,
      retryable: true,
    },
    { name: 'a stall before the headers', stream: false, behaviour: { type: 'stall' }, message: /sent nothing for 300 ms$/, retryable: true },
    { name: 'a stall after the headers', stream: true, behaviour: { type: 'stall', headers: true, contentType: 'text/event-stream' }, message: /sent nothing for 300 ms$/, retryable: true },
    {
      name: 'a stall mid-stream',
      stream: true,
      behaviour: { type: 'sse', events: [{ type: 'transcript.text.delta', delta: 'a' }, { type: 'transcript.text.delta', delta: 'b' }], stallAfter: 1 },
      message: /sent nothing for 300 ms$/,
      retryable: true,
    },
    { name: 'malformed JSON', stream: false, behaviour: { type: 'garbage', bytes: '{"text": "run the', contentType: 'application/json' }, message: /sent a malformed response$/, retryable: false },
    { name: 'malformed SSE JSON', stream: true, behaviour: { type: 'sse', events: ['{"type": "transcript.text.delta", "delta'] }, message: /sent a malformed response$/, retryable: false },
    { name: 'JSON without text', stream: false, behaviour: { type: 'json', body: { result: 'ok' } }, message: /sent a response without a transcript$/, retryable: false },
    { name: 'an empty JSON body', stream: false, behaviour: { type: 'garbage', bytes: '', contentType: 'application/json' }, message: /sent an empty response$/, retryable: false },
    { name: 'an empty untyped body', stream: false, behaviour: { type: 'garbage', bytes: '', contentType: 'text/plain' }, message: /sent an empty response$/, retryable: false },
    { name: 'an empty event stream', stream: true, behaviour: { type: 'sse', events: [] }, message: /sent an empty response$/, retryable: false },
    {
      name: 'an error event in the stream',
      stream: true,
      behaviour: { type: 'sse', events: [{ error: { message: 'decoder crashed', type: 'server_error' } }] },
      message: /reported an error: decoder crashed$/,
      retryable: false,
    },
  ];

  it.each(failures)('turns $name into a one-sentence ProviderError, and the client still works after it', async ({ stream, behaviour, message, retryable }) => {
    const engine = stt({ stream, timeoutMs: 300 });
    const recovery: Behaviour = stream
      ? { type: 'sse', events: [{ type: 'transcript.text.done', text: 'second try' }] }
      : { type: 'json', body: { text: 'second try' } };
    server.script(ROUTE, behaviour, recovery);
    const err = await failure(engine.transcribe(utterance(200), never));
    expect(err.message).toMatch(message);
    expect(err.message).toContain(server.baseURL);
    expect(err.message).not.toMatch(/\n/);
    expect(err.retryable).toBe(retryable);
    expect(await collect(engine.transcribe(utterance(200), never))).toEqual([{ type: 'final', text: 'second try' }]);
  });

  it('a stall aborts the request (the server sees the connection close)', async () => {
    server.script(ROUTE, { type: 'stall', headers: true, contentType: 'text/event-stream' });
    await failure(stt({ stream: true, timeoutMs: 200 }).transcribe(utterance(100), never));
    expect(await server.requests[0]!.closed).toBe('aborted');
  });
});
