/*
 * `kai transcribe` and `kai say` end to end through the built bin: against the scripted
 * OpenAI-compatible HTTP server, the scripted realtime server, the embedded engines
 * (pocketsphinx, espeak-ng), and the real speaker module writing into ALSA's file plugin.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { fileDeviceHome, noDeviceHome } from '../helpers/alsa.js';
import { kaiBin, noStackTrace, runKai } from '../helpers/cli.js';
import { concat, phrase, silence } from '../helpers/fixtures.js';
import { pcmBytes, splitBytes, startScriptedServer, type ScriptedServer } from '../helpers/openai-server.js';
import { appendedBytes, messageTypes, startRealtimeServer, type RealtimeServer } from '../helpers/realtime-server.js';

const work = mkdtempSync(join(tmpdir(), 'kai-ts-'));
/** No user config file (settings come from KAI_* variables per test). */
const baseEnv: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: join(work, 'config') };

let http: ScriptedServer;
let realtime: RealtimeServer;
/** "what time is it" (flite rms) between silences: a phrase of the offline agent. */
let timeClip: string;
let timeClipSamples: number;
/** Out of the embedded grammar: pocketsphinx rejects it. */
let otherClip: string;

beforeAll(async () => {
  expect(existsSync(kaiBin), `${kaiBin} is missing: run npm run build first`).toBe(true);
  http = await startScriptedServer();
  realtime = await startRealtimeServer('openai');
  timeClip = concat('ts-what-time', [silence(0.5), phrase('what time is it', { engine: 'flite', voice: 'rms' }), silence(0.5)]);
  timeClipSamples = (await readWav(timeClip)).samples.length;
  otherClip = concat('ts-pod-bay', [silence(0.5), phrase('open the pod bay doors please', { engine: 'flite', voice: 'rms' }), silence(0.5)]);
});

afterAll(async () => {
  await http?.close();
  await realtime?.close();
  rmSync(work, { recursive: true, force: true });
});

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Exit 2 with exactly one line on stderr, prefixed with the command, and no stack trace. */
function expectOneLineError(r: { code: number | null; stderr: string; stdout: string }, command: string): void {
  expect(r.code).toBe(2);
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.startsWith(`kai ${command}: `)).toBe(true);
  expect(noStackTrace(r.stderr)).toBe(true);
  expect(r.stdout).toBe('');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

function wavSeconds(path: string): number {
  return Number(execFileSync('soxi', ['-D', path], { encoding: 'utf8' }).trim());
}

/** Duration of what `espeak-ng -w` makes of the same text. */
function espeakSeconds(text: string): number {
  const out = join(work, `espeak-${Math.random().toString(36).slice(2)}.wav`);
  execFileSync('espeak-ng', ['-v', 'en-us', '-w', out, text]);
  return wavSeconds(out);
}

describe('kai --help', () => {
  it('lists transcribe and say', async () => {
    const { code, stdout } = await runKai(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}transcribe\s+\S.+$/m);
    expect(stdout).toMatch(/^ {2}say\s+\S.+$/m);
    for (const name of ['transcribe', 'say']) {
      const help = await runKai([name, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: kai ${name} `));
    }
  });
});

describe('kai transcribe over HTTP', () => {
  const env = () => ({ ...baseEnv, KAI_STT__BASE_URL: http.baseURL, KAI_STT__MODEL: 'whisper-large-v3' });

  it('streams SSE deltas and prints the final text, uploading the file as a 16 kHz WAV with the model', async () => {
    http.requests.length = 0;
    http.script('/audio/transcriptions', {
      type: 'sse',
      events: [
        { type: 'transcript.text.delta', delta: 'What' },
        { type: 'transcript.text.delta', delta: ' time is it' },
        { type: 'transcript.text.done', text: 'What time is it?' },
      ],
      delayMs: 5,
    });
    const r = await runKai(['transcribe', timeClip, '--engine', 'http'], { env: env() });
    expect(r.stderr).toBe(''); // stderr is not a terminal: no interim line
    expect(r.stdout).toBe('What time is it?\n');
    expect(r.code).toBe(0);
    expect(http.requests).toHaveLength(1);
    const req = http.requests[0]!;
    expect(req.path).toBe('/audio/transcriptions');
    expect(req.fields).toMatchObject({ model: 'whisper-large-v3', stream: 'true', language: 'en' });
    expect(req.files?.['file']?.wav).toEqual({ sampleRate: 16000, channels: 1, durationMs: (timeClipSamples * 1000) / 16000 });
    // The very samples of the file, in order.
    expect(req.files?.['file']?.bytes.subarray(44)).toEqual(readFileSync(timeClip).subarray(44));
  });

  it('takes one JSON answer when stt.stream is false', async () => {
    http.requests.length = 0;
    http.script('/audio/transcriptions', { type: 'json', body: { text: 'Run the tests.' } });
    const r = await runKai(['transcribe', timeClip, '--engine', 'http'], { env: { ...env(), KAI_STT__STREAM: 'false' } });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'Run the tests.\n', '']);
    expect(http.requests[0]!.fields?.['stream']).toBeUndefined();
    expect(http.requests[0]!.fields).toMatchObject({ model: 'whisper-large-v3', response_format: 'json' });
  });

  it('--json prints one line per interim, then the final with the elapsed ms', async () => {
    http.script('/audio/transcriptions', {
      type: 'sse',
      events: [
        { type: 'transcript.text.delta', delta: 'Open' },
        { type: 'transcript.text.delta', delta: ' the file' },
        { type: 'transcript.text.done', text: 'Open the file.' },
      ],
    });
    const r = await runKai(['transcribe', timeClip, '--json'], { env: { ...env(), KAI_STT__ENGINE: 'http' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.slice(0, -1)).toEqual([
      { type: 'interim', text: 'Open' },
      { type: 'interim', text: 'Open the file' },
    ]);
    const last = lines.at(-1)!;
    expect(Object.keys(last)).toEqual(['type', 'text', 'ms']);
    expect(last).toMatchObject({ type: 'final', text: 'Open the file.' });
    expect(Number.isInteger(last.ms) && (last.ms as number) >= 0 && (last.ms as number) < 30_000).toBe(true);
  });

  it('a server error (500) is one line and exit 2', async () => {
    http.script('/audio/transcriptions', { type: 'status', status: 500, message: 'model crashed' });
    const r = await runKai(['transcribe', timeClip, '--engine', 'http'], { env: env() });
    expectOneLineError(r, 'transcribe');
  });

  it('a server that does not answer in stt.timeoutMs is one line and exit 2', async () => {
    http.script('/audio/transcriptions', { type: 'stall' });
    const started = Date.now();
    const r = await runKai(['transcribe', timeClip, '--engine', 'http'], { env: { ...env(), KAI_STT__TIMEOUT_MS: '500' } });
    expectOneLineError(r, 'transcribe');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a server that is down is one line and exit 2', async () => {
    const port = await closedPort();
    const r = await runKai(['transcribe', timeClip, '--engine', 'http'], { env: { ...baseEnv, KAI_STT__BASE_URL: `http://127.0.0.1:${port}/v1` } });
    expectOneLineError(r, 'transcribe');
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
  });
});

describe('kai transcribe over a realtime WebSocket', () => {
  it('streams the whole file and prints the completed transcript (openai dialect)', async () => {
    realtime.reset();
    const before = realtime.connections.length;
    const r = await runKai(['transcribe', timeClip, '--engine', 'realtime'], {
      env: { ...baseEnv, KAI_STT__BASE_URL: realtime.url, KAI_STT__DIALECT: 'openai' },
    });
    expect(r.stderr).toBe('');
    expect([r.code, r.stdout]).toEqual([0, 'run the tests please\n']);
    const connection = await realtime.connection(before);
    const audio = Buffer.concat(appendedBytes(connection));
    // Every sample of the file was sent (as 16 kHz pcm16 or upsampled to 24 kHz for the GA dialect).
    const sentSamples = audio.length / 2;
    const ratio = sentSamples / timeClipSamples;
    expect([1, 1.5].some((x) => Math.abs(ratio - x) < 0.01)).toBe(true);
    expect(messageTypes(connection)).toContain('input_audio_buffer.commit');
  });

  it('--json shows the deltas as interims', async () => {
    realtime.reset();
    const r = await runKai(['transcribe', timeClip, '--engine', 'realtime', '--json'], { env: { ...baseEnv, KAI_STT__BASE_URL: realtime.url } });
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.filter((l) => l.type === 'interim').map((l) => l.text)).toEqual(['run the', 'run the tests', 'run the tests please']);
    expect(lines.at(-1)).toMatchObject({ type: 'final', text: 'run the tests please' });
  });

  it('a refused connection is one line and exit 2', async () => {
    realtime.set({ failure: { type: 'reject', status: 500 } });
    try {
      const r = await runKai(['transcribe', timeClip, '--engine', 'realtime'], { env: { ...baseEnv, KAI_STT__BASE_URL: realtime.url } });
      expectOneLineError(r, 'transcribe');
    } finally {
      realtime.reset();
    }
  });

  it('a server that is down is one line and exit 2', async () => {
    const port = await closedPort();
    const r = await runKai(['transcribe', timeClip, '--engine', 'realtime'], {
      env: { ...baseEnv, KAI_STT__BASE_URL: `ws://127.0.0.1:${port}/v1/realtime` },
    });
    expectOneLineError(r, 'transcribe');
  });
});

describe('kai transcribe embedded (pocketsphinx)', () => {
  it("recognises one of the offline agent's phrases", async () => {
    const r = await runKai(['transcribe', timeClip], { env: baseEnv });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'what time is it\n', '']);
  });

  it('prints nothing on stdout for speech outside the grammar, says so on stderr, exit 0', async () => {
    const r = await runKai(['transcribe', otherClip, '--engine', 'embedded'], { env: baseEnv });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '(no speech recognised)\n']);
    const json = await runKai(['transcribe', otherClip, '--json'], { env: baseEnv });
    expect(json.code).toBe(0);
    expect(jsonLines(json.stdout)).toEqual([{ type: 'final', text: '', ms: expect.any(Number) }]);
  });
});

describe('kai transcribe errors', () => {
  it('a missing file, a non-WAV file and no file are one line, exit 2', async () => {
    const missing = join(work, 'missing.wav');
    const r1 = await runKai(['transcribe', missing], { env: baseEnv });
    expectOneLineError(r1, 'transcribe');
    expect(r1.stderr).toBe(`kai transcribe: no such file: ${missing}\n`);
    const notWav = join(work, 'notes.wav');
    writeFileSync(notWav, 'this is not audio at all, just some words in a file');
    const r2 = await runKai(['transcribe', notWav, '--engine', 'http'], { env: { ...baseEnv, KAI_STT__BASE_URL: http.baseURL } });
    expectOneLineError(r2, 'transcribe');
    expect(r2.stderr).toContain('notes.wav');
    const r3 = await runKai(['transcribe'], { env: baseEnv });
    expectOneLineError(r3, 'transcribe');
  });

  it('an engine without a server URL says what to set', async () => {
    for (const engine of ['http', 'realtime']) {
      const r = await runKai(['transcribe', timeClip, '--engine', engine], { env: baseEnv });
      expectOneLineError(r, 'transcribe');
      expect(r.stderr).toBe(
        `kai transcribe: stt.engine is ${engine} but stt.baseUrl is empty; set the server URL or use stt.engine: embedded\n`,
      );
    }
    const bad = await runKai(['transcribe', timeClip, '--engine', 'whisper'], { env: baseEnv });
    expectOneLineError(bad, 'transcribe');
    expect(bad.stderr).toContain('--engine must be one of embedded, http, realtime');
  });
});

describe('kai say --out', () => {
  const text = 'The build passed. All four hundred tests are green, and the coverage went up a little.';

  it('espeak: writes a 16 kHz WAV about as long as espeak-ng -w makes it', async () => {
    const out = join(work, 'espeak.wav');
    const r = await runKai(['say', text, '--out', out], { env: baseEnv });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote \d+\.\d s of speech to .*espeak\.wav\n$/);
    const wav = await readWav(out);
    expect(wav.source).toMatchObject({ sampleRate: 16000, channels: 1, bitsPerSample: 16, format: 'pcm' });
    const seconds = wav.samples.length / 16000;
    const reference = espeakSeconds(text);
    expect(Math.abs(seconds - reference) / reference).toBeLessThan(0.15);
    // Not silence.
    expect(wav.samples.some((s) => Math.abs(s) > 3000)).toBe(true);
  });

  it('reads the text from stdin with -', async () => {
    const out = join(work, 'stdin.wav');
    const r = await runKai(['say', '-', '--out', out], { env: baseEnv, input: `${text}\n` });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const seconds = (await readWav(out)).samples.length / 16000;
    const reference = espeakSeconds(text);
    expect(Math.abs(seconds - reference) / reference).toBeLessThan(0.15);
    const empty = await runKai(['say', '-', '--out', join(work, 'empty.wav')], { env: baseEnv, input: '  \n' });
    expectOneLineError(empty, 'say');
    expect(existsSync(join(work, 'empty.wav'))).toBe(false);
  });

  it('http: pcm 24 kHz chunks become a 16 kHz WAV of the same duration, one request per sentence', async () => {
    http.requests.length = 0;
    const perSentence = 24_000 * 1.2; // 1.2 s at 24 kHz
    const tone = Int16Array.from({ length: perSentence }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 24_000)));
    http.script('/audio/speech', { type: 'chunks', chunks: splitBytes(pcmBytes(tone), [4801, 960, 12_000]), contentType: 'audio/pcm' });
    const out = join(work, 'http.wav');
    const r = await runKai(['say', 'First sentence here. And the second one.', '--engine', 'http', '--out', out], {
      env: { ...baseEnv, KAI_TTS__BASE_URL: http.baseURL, KAI_TTS__MODEL: 'kokoro', KAI_TTS__VOICE: 'af_sky' },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(http.requests.map((q) => (q.json as { input: string }).input)).toEqual(['First sentence here.', 'And the second one.']);
    expect(http.requests[0]!.json).toMatchObject({ model: 'kokoro', voice: 'af_sky', response_format: 'pcm' });
    const wav = await readWav(out);
    expect(wav.source.sampleRate).toBe(16000);
    expect(Math.abs(wav.samples.length - 2 * 1.2 * 16000)).toBeLessThanOrEqual(64);
  });

  it('http errors and a missing tts.baseUrl are one line, exit 2, and leave no file', async () => {
    const out = join(work, 'failed.wav');
    http.script('/audio/speech', { type: 'status', status: 500 });
    const r500 = await runKai(['say', 'Hello.', '--engine', 'http', '--out', out], { env: { ...baseEnv, KAI_TTS__BASE_URL: http.baseURL } });
    expectOneLineError(r500, 'say');
    const port = await closedPort();
    const down = await runKai(['say', 'Hello.', '--engine', 'http', '--out', out], {
      env: { ...baseEnv, KAI_TTS__BASE_URL: `http://127.0.0.1:${port}/v1` },
    });
    expectOneLineError(down, 'say');
    const unset = await runKai(['say', 'Hello.', '--engine', 'http', '--out', out], { env: baseEnv });
    expectOneLineError(unset, 'say');
    expect(unset.stderr).toBe('kai say: tts.engine is http but tts.baseUrl is empty; set the server URL or use tts.engine: espeak\n');
    expect(existsSync(out)).toBe(false);
    const none = await runKai(['say'], { env: baseEnv });
    expectOneLineError(none, 'say');
  });
});

describe('kai say through the speaker', () => {
  /** ALSA reads ~/.asoundrc from the child's HOME. */
  const speakerEnv = (home: string) => ({ ...baseEnv, HOME: home });

  it('plays through the real speaker module into the ALSA file plugin', async () => {
    const outRaw = join(work, 'speaker.raw');
    const home = fileDeviceHome(join(work, 'home'), { inRaw: join(work, 'in.raw'), outRaw });
    const text = 'Hello there. It is five past nine.';
    const r = await runKai(['say', text], { env: speakerEnv(home) });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^said \d+\.\d s of speech\n$/);
    expect(r.code).toBe(0);
    const samples = statSync(outRaw).size / 2;
    const expected = espeakSeconds(text) * 16000;
    // The speech, then at most the silence drain() pushes the device buffer out with.
    expect(samples).toBeGreaterThan(expected * 0.85);
    expect(samples).toBeLessThan(expected * 1.15 + 8192);
    const played = Number(/said (\d+\.\d)/.exec(r.stdout)![1]);
    expect(Math.abs(played * 16000 - expected) / expected).toBeLessThan(0.15);
  });

  it('no playback device: the one-sentence device error, exit 2, never an abort', async () => {
    const home = noDeviceHome(join(work, 'bad-home'));
    const r = await runKai(['say', 'Hello.'], { env: speakerEnv(home) });
    expect(r.signal).toBeNull();
    expectOneLineError(r, 'say');
    expect(r.stderr).toBe(
      'kai say: no ALSA playback device is available (no sound card?); connect a speaker or set audio.playbackDevice, see kai devices\n',
    );
  });
});
