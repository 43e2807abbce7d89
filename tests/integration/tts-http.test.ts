import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { resampleInt16 } from '../../src/audio/resample.js';
import { encodeWav } from '../../src/audio/wav.js';
import { HttpTextToSpeech, type HttpTextToSpeechOptions } from '../../src/speech/tts-http.js';
import { ProviderError } from '../../src/speech/types.js';
import { pcmBytes, splitBytes, startScriptedServer, type Behaviour, type ScriptedServer } from '../helpers/openai-server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';

const ROUTE = '/audio/speech';
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

function tts(options: Partial<HttpTextToSpeechOptions> = {}): HttpTextToSpeech {
  return new HttpTextToSpeech({ baseURL: server.baseURL, model: 'kokoro', voice: 'af_heart', format: 'pcm', timeoutMs: 2000, ...options });
}

async function* texts(...sentences: string[]): AsyncGenerator<string> {
  yield* sentences;
}

/** A chirp-ish test signal at `rate`, `ms` long. */
function tone(rate: number, ms: number, hz = 300): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  return new Int16Array(n).map((_, i) => Math.round(12000 * Math.sin((2 * Math.PI * hz * i) / rate) + 3000 * Math.sin((2 * Math.PI * 1700 * i) / rate)));
}

function joined(frames: AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.samples.length, 0));
  let off = 0;
  for (const f of frames) {
    out.set(f.samples, off);
    off += f.samples.length;
  }
  return out;
}

function maxDiff(a: Int16Array, b: Int16Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function expectContinuous(frames: AudioFrame[]): void {
  let samples = 0;
  for (const f of frames) {
    expect(f.sampleRate).toBe(16000);
    expect(f.samples.length).toBeGreaterThan(0);
    expect(f.timestampMs).toBeCloseTo((samples * 1000) / 16000, 6);
    samples += f.samples.length;
  }
}

async function collect(frames: AsyncIterable<AudioFrame>): Promise<AudioFrame[]> {
  const out: AudioFrame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

async function failure(frames: AsyncIterable<AudioFrame>): Promise<ProviderError> {
  try {
    await collect(frames);
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

/** A streamed WAV: header sizes are the 0xFFFFFFFF placeholders. */
function streamingWav(samples: Int16Array, rate: number): Buffer {
  const wav = encodeWav(samples, rate);
  wav.writeUInt32LE(0xffffffff, 4);
  wav.writeUInt32LE(0xffffffff, 40);
  return wav;
}

const never = (): AbortSignal => new AbortController().signal;

describe('HttpTextToSpeech', () => {
  it('streams 24 kHz pcm cut at odd byte boundaries into resampled 16 kHz frames', async () => {
    const input = tone(24000, 500);
    server.script(ROUTE, { type: 'chunks', chunks: splitBytes(pcmBytes(input), [1, 333, 1001, 7, 4095, 2]) });
    const frames = await collect(tts({ speed: 1.1, extraBody: { sample_rate: 24000 } }).synthesize(texts('Hello there.'), never()));
    expect(maxDiff(joined(frames), resampleInt16(input, 24000, 16000))).toBeLessThanOrEqual(1);
    expectContinuous(frames);
    expect(server.requests[0]!.json).toEqual({ model: 'kokoro', input: 'Hello there.', voice: 'af_heart', response_format: 'pcm', speed: 1.1, sample_rate: 24000 });
  });

  it('yields the first frame while the server is still sending', async () => {
    const bytes = pcmBytes(tone(24000, 1000));
    server.script(ROUTE, { type: 'chunks', chunks: [bytes.subarray(0, 4801), bytes.subarray(4801, 24000), bytes.subarray(24000)], delayMs: 300 });
    const started = performance.now();
    let firstAt = 0;
    const frames: AudioFrame[] = [];
    for await (const f of tts().synthesize(texts('Slow sentence.'), never())) {
      if (frames.length === 0) firstAt = performance.now() - started;
      frames.push(f);
    }
    const totalMs = performance.now() - started;
    expect(totalMs).toBeGreaterThanOrEqual(590);
    // The server pauses 300 ms twice: the first frame must come before the first pause ends.
    expect(firstAt).toBeLessThan(totalMs - 250);
    expect(joined(frames).length).toBe(16000);
  });

  it('plays a streamed WAV answer at another rate, header split across chunks', async () => {
    const input = tone(22050, 400);
    server.script(ROUTE, { type: 'chunks', chunks: splitBytes(streamingWav(input, 22050), [7, 30, 1001, 512]) });
    const frames = await collect(tts({ format: 'wav' }).synthesize(texts('A WAV.'), never()));
    expect(maxDiff(joined(frames), resampleInt16(input, 22050, 16000))).toBeLessThanOrEqual(1);
    expect((server.requests[0]!.json as { response_format: string }).response_format).toBe('wav');
  });

  it('recognises a WAV answer when pcm was asked for (16 kHz: no resampling)', async () => {
    const input = tone(16000, 300);
    server.script(ROUTE, { type: 'chunks', chunks: splitBytes(encodeWav(input, 16000), [3, 100]) });
    const frames = await collect(tts().synthesize(texts('Still a WAV.'), never()));
    expect(maxDiff(joined(frames), input)).toBe(0);
  });

  it('speaks sentences in order with timestamps continuing across them', async () => {
    const lengths = [4800, 2400, 7200]; // 200, 100, 300 ms at 24 kHz
    // Each sentence answers a constant level (1000, 2000, 3000), the first one the slowest.
    server.script(ROUTE, (req) => {
      const input = (req.json as { input: string }).input;
      const i = Number(input.slice(-2, -1)) - 1;
      const samples = new Int16Array(lengths[i]!).fill(1000 * (i + 1));
      return { type: 'chunks', chunks: splitBytes(pcmBytes(samples), [999]), delayMs: i === 0 ? 30 : 0, latencyMs: i === 0 ? 100 : 0 };
    });
    const frames = await collect(tts().synthesize(texts('Sentence 1.', '  ', 'Sentence 2.', 'Sentence 3.'), never()));
    expectContinuous(frames);
    expect(server.requests.map((r) => (r.json as { input: string }).input)).toEqual(['Sentence 1.', 'Sentence 2.', 'Sentence 3.']);
    const all = joined(frames);
    expect(all.length).toBe(3200 + 1600 + 4800);
    // Mid-points of each sentence's stretch carry its level.
    expect(all[1600]).toBeCloseTo(1000, -1);
    expect(all[3200 + 800]).toBeCloseTo(2000, -1);
    expect(all[4800 + 2400]).toBeCloseTo(3000, -1);
  });

  it('aborting mid-stream closes the connection and ends the iterator at once', async () => {
    const bytes = pcmBytes(tone(24000, 2000));
    server.script(ROUTE, { type: 'chunks', chunks: splitBytes(bytes, [4800]), delayMs: 300 });
    const ac = new AbortController();
    let abortedAt = 0;
    const frames: AudioFrame[] = [];
    for await (const f of tts().synthesize(texts('One.', 'Two.'), ac.signal)) {
      frames.push(f);
      if (frames.length === 1) {
        abortedAt = performance.now();
        ac.abort();
      }
    }
    expect(performance.now() - abortedAt).toBeLessThan(150);
    expect(await server.requests[0]!.closed).toBe('aborted');
    expect(server.requests).toHaveLength(1);
  });

  it('aborting while waiting for the next sentence ends at once', async () => {
    server.script(ROUTE, { type: 'chunks', chunks: [pcmBytes(tone(24000, 100))] });
    const ac = new AbortController();
    async function* slowText(): AsyncGenerator<string> {
      yield 'First.';
      await new Promise(() => undefined);
    }
    const frames: AudioFrame[] = [];
    setTimeout(() => ac.abort(), 150);
    const started = performance.now();
    for await (const f of tts().synthesize(slowText(), ac.signal)) frames.push(f);
    expect(performance.now() - started).toBeLessThan(400);
    expect(frames.length).toBeGreaterThan(0);
  });

  it('a consumer that stops reading (barge-in) closes the connection', async () => {
    server.script(ROUTE, { type: 'chunks', chunks: splitBytes(pcmBytes(tone(24000, 2000)), [4800]), delayMs: 100 });
    for await (const _ of tts().synthesize(texts('Long.'), never())) break;
    expect(await server.requests[0]!.closed).toBe('aborted');
  });

  it('reports a server that is down', async () => {
    const gone = await startScriptedServer();
    await gone.close();
    const err = await failure(tts({ baseURL: gone.baseURL }).synthesize(texts('Hi.'), never()));
    expect(err.message).toBe(`the text-to-speech server at ${gone.baseURL} cannot be reached`);
    expect(err.retryable).toBe(true);
    expect(err.source).toBe('tts');
  });

  const pcm = pcmBytes(tone(24000, 300));
  const failures: { name: string; format?: 'pcm' | 'wav'; behaviour: Behaviour; message: RegExp; retryable: boolean }[] = [
    { name: 'HTTP 500', behaviour: { type: 'status', status: 500, message: 'espeak crashed' }, message: /failed \(HTTP 500: espeak crashed\)$/, retryable: true },
    { name: 'HTTP 422', behaviour: { type: 'status', status: 422, message: 'Voice xx not found.' }, message: /rejected the request \(HTTP 422: Voice xx not found\)$/, retryable: false },
    { name: 'a reset before answering', behaviour: { type: 'reset' }, message: /^the connection to the text-to-speech server at .* was lost$/, retryable: true },
    { name: 'a reset mid-stream', behaviour: { type: 'chunks', chunks: splitBytes(pcm, [4000]), resetAfter: 2 }, message: /was lost$/, retryable: true },
    { name: 'a stall before the headers', behaviour: { type: 'stall' }, message: /sent nothing for 300 ms$/, retryable: true },
    { name: 'a stall after the headers', behaviour: { type: 'stall', headers: true }, message: /sent nothing for 300 ms$/, retryable: true },
    { name: 'a stall mid-stream', behaviour: { type: 'chunks', chunks: splitBytes(pcm, [4000]), stallAfter: 1 }, message: /sent nothing for 300 ms$/, retryable: true },
    {
      name: 'a JSON error with status 200',
      behaviour: { type: 'json', body: { detail: 'Voice af_x not found.' } },
      message: /sent text instead of audio \(Voice af_x not found\)$/,
      retryable: false,
    },
    {
      name: 'an HTML page as octet-stream',
      behaviour: { type: 'garbage', bytes: '<html><body>502 Bad Gateway</body></html>' },
      message: /sent text instead of audio \("<html><body>502 Bad Gateway<\/body><\/html"\)$/,
      retryable: false,
    },
    { name: 'MP3 instead of pcm', behaviour: { type: 'garbage', bytes: Buffer.concat([Buffer.from('ID3\x04\x00\x00'), Buffer.alloc(200)]) }, message: /sent MP3 audio instead of pcm$/, retryable: false },
    { name: 'a broken WAV header', behaviour: { type: 'garbage', bytes: Buffer.concat([Buffer.from('RIFF\xff\xff\xff\xffWAVX', 'latin1'), Buffer.alloc(100)]) }, message: /sent a WAV body that cannot be played \(no WAVE marker\)$/, retryable: false },
    {
      name: 'an 8-bit WAV',
      behaviour: { type: 'garbage', bytes: (() => { const w = encodeWav(new Int16Array(100), 8000); w.writeUInt16LE(8, 34); return w; })() },
      message: /cannot be played \(format 1 with 8-bit samples; 16-bit PCM or 32-bit float expected\)$/,
      retryable: false,
    },
    { name: 'a truncated WAV header', behaviour: { type: 'garbage', bytes: encodeWav(new Int16Array(0), 24000).subarray(0, 30) }, message: /sent a truncated WAV header$/, retryable: false },
    { name: 'raw pcm when WAV was asked for', format: 'wav', behaviour: { type: 'chunks', chunks: [pcm] }, message: /sent audio without a WAV header$/, retryable: false },
    { name: 'an empty body', behaviour: { type: 'garbage', bytes: '' }, message: /sent no audio \(an empty body\)$/, retryable: false },
  ];

  it.each(failures)('turns $name into a one-sentence ProviderError, and the client still works after it', async ({ format, behaviour, message, retryable }) => {
    const engine = tts({ timeoutMs: 300, format: format ?? 'pcm' });
    const good = format === 'wav' ? streamingWav(tone(24000, 100), 24000) : pcmBytes(tone(24000, 100));
    server.script(ROUTE, behaviour, { type: 'chunks', chunks: [good] });
    const err = await failure(engine.synthesize(texts('Hi.'), never()));
    expect(err.message).toMatch(message);
    expect(err.message).toContain(server.baseURL);
    expect(err.message).not.toMatch(/\n/);
    expect(err.retryable).toBe(retryable);
    expect(joined(await collect(engine.synthesize(texts('Again.'), never()))).length).toBe(1600);
  });

  it('a stall aborts the request (the server sees the connection close)', async () => {
    server.script(ROUTE, { type: 'chunks', chunks: [pcm, pcm], stallAfter: 1 });
    await failure(tts({ timeoutMs: 200 }).synthesize(texts('Hi.'), never()));
    expect(await server.requests[0]!.closed).toBe('aborted');
  });

  it('a failure in the second sentence surfaces after the first one played', async () => {
    server.script(ROUTE, { type: 'chunks', chunks: [pcm] }, { type: 'status', status: 503 });
    const frames: AudioFrame[] = [];
    let error: unknown;
    try {
      for await (const f of tts().synthesize(texts('One.', 'Two.'), never())) frames.push(f);
    } catch (err) {
      error = err;
    }
    expect(joined(frames).length).toBe(4800);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(true);
  });
});
