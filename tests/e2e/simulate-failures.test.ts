/**
 * Every server the assistant talks to fails on purpose in the first of two turns — HTTP 500, a
 * connection reset mid-stream, a stall past the timeout, malformed JSON, audio of the wrong format,
 * a server that is down — through the real openai and ws clients against scripted loopback servers.
 * Each time the assistant must say what went wrong (or play the error earcon when speech itself is
 * what failed), go back to idle, and answer the second turn normally.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { configSchema, type Config } from '../../src/config/index.js';
import { startChatServer, textReply, type ChatReply, type ChatServer } from '../helpers/chat-server.js';
import { concat, phrase, silence, type Voice } from '../helpers/fixtures.js';
import { startScriptedServer, type Behaviour, type RecordedRequest, type ScriptedServer } from '../helpers/openai-server.js';
import { startRealtimeServer, type Failure, type RealtimeDialectName, type RealtimeServer } from '../helpers/realtime-server.js';
import { simulate, statesOf, sttReply, type TimedEvent, ttsAudio, turnsOf } from '../helpers/simulation.js';

/** The simulation runs this many times faster than real time. */
const SPEED = 3;
/** The services' own timeouts (real ms): a stall of 1 s is 3 s of simulated time. */
const SERVICE_TIMEOUT_MS = 1000;
/** The machine's own timeouts (simulated ms), longer than the services' so that their errors are the ones heard. */
const TRANSCRIPT_TIMEOUT_MS = 6000;
const THINK_TIMEOUT_MS = 8000;

const voice: Voice = { engine: 'flite', voice: 'rms' };
// a question no local command answers, so the LLM is asked (the recognizer is scripted)
const Q1 = 'how long until lunch';
const Q2 = 'what about tomorrow';
const A1 = 'It is ten past two.';
const A2 = 'Sunny.';
const work = mkdtempSync(join(tmpdir(), 'kai-sim-fail-'));

/** "hey jarvis" + a question, a pause for the first turn to fail and be announced, then a second turn. */
function twoTurns(pauseS: number): string {
  return concat(`sim-fail-${pauseS}`, [
    silence(0.2),
    phrase('hey jarvis', voice),
    silence(0.4),
    phrase(Q1, voice),
    silence(pauseS),
    phrase('hey jarvis', voice),
    silence(0.4),
    phrase(Q2, voice),
    silence(0.6),
  ]);
}

type Service = 'stt' | 'llm' | 'tts';
type Stage = 'listen' | 'think' | 'speak';

interface Case {
  name: string;
  /** The service that fails in the first turn. */
  service: Service;
  /** The state the first turn is in when the failure hits. */
  failsIn: Stage;
  /** What the error says (the assistant speaks it as "Sorry, …"). */
  message: RegExp;
  /** Simulated seconds between the two turns: time to fail, announce it and settle in idle. */
  pauseS: number;
  /** STT over HTTP: the first transcription request gets this. */
  stt?: Behaviour;
  /** STT over HTTP without streaming (one JSON answer). */
  sttJson?: boolean;
  /** STT over the realtime WebSocket, failing this way in the first turn. */
  realtime?: { dialect: RealtimeDialectName; failure?: Failure };
  /** The first chat request gets this. */
  llm?: ChatReply;
  /** The first turn's reply TTS request gets this. */
  tts?: Behaviour;
  /** The error announcement's TTS request gets this (its failure means: play the error earcon instead). */
  sorry?: Behaviour;
  /** This server refuses connections until the first turn's error has been announced. */
  down?: Service;
}

const STT_LABEL = /^the speech-to-text server at http:\/\/127\.0\.0\.1:\d+\/v1 /;
const TTS_LABEL = /^the text-to-speech server at http:\/\/127\.0\.0\.1:\d+\/v1 /;
const ID3 = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x0f', 'latin1'), Buffer.alloc(64, 0xff)]);

/** A WAV header for 8-bit samples, which the assistant cannot play, then some audio. */
function eightBitWav(): Buffer {
  const data = Buffer.alloc(4000, 0x80);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(24_000, 24);
  h.writeUInt32LE(24_000, 28);
  h.writeUInt16LE(1, 32);
  h.writeUInt16LE(8, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const cases: Case[] = [
  // ---- speech-to-text over HTTP (stream=true: SSE; one case without streaming) ----
  {
    name: 'STT http: HTTP 500',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    stt: { type: 'status', status: 500, message: 'CUDA out of memory.\nTraceback (most recent call last): ...' },
    message: new RegExp(`${STT_LABEL.source}failed \\(HTTP 500: CUDA out of memory\\)$`),
  },
  {
    name: 'STT http: connection reset mid-stream',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    stt: { ...sttReply(Q1), resetAfter: 1 },
    message: /^the connection to the speech-to-text server at http:\/\/127\.0\.0\.1:\d+\/v1 was lost$/,
  },
  {
    name: 'STT http: stall mid-stream past the timeout',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 5,
    stt: { ...sttReply(Q1), stallAfter: 1 },
    message: new RegExp(`${STT_LABEL.source}sent nothing for 1000 ms$`),
  },
  {
    name: 'STT http: malformed JSON in the SSE stream',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    stt: { type: 'sse', events: ['{"type":"transcript.text.delta","delta":"what ti'], done: true },
    message: new RegExp(`${STT_LABEL.source}sent a malformed response$`),
  },
  {
    name: 'STT http (no streaming): malformed JSON body',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    sttJson: true,
    stt: { type: 'garbage', bytes: '{"text": "what time', contentType: 'application/json' },
    message: new RegExp(`${STT_LABEL.source}sent a malformed response$`),
  },
  {
    name: 'STT http: server down (connection refused)',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    down: 'stt',
    message: new RegExp(`${STT_LABEL.source}cannot be reached$`),
  },

  // ---- speech-to-text over the realtime WebSocket ----
  {
    name: 'STT realtime (openai): handshake refused with HTTP 401',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    realtime: { dialect: 'openai', failure: { type: 'reject', status: 401 } },
    message: /^the realtime transcription server at ws:\/\/127\.0\.0\.1:\d+\/v1\/realtime rejected the API key \(HTTP 401\)$/,
  },
  {
    name: 'STT realtime (openai): server closes mid-utterance',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    realtime: { dialect: 'openai', failure: { type: 'close', afterAppends: 5 } },
    message: /^the realtime transcription server closed the connection before the transcript arrived \(code 1011\)$/,
  },
  {
    name: 'STT realtime (openai): stall, no final transcript',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 5,
    realtime: { dialect: 'openai', failure: { type: 'stall' } },
    message: /^the realtime transcription server sent no transcript within 1000 ms after the end of speech$/,
  },
  {
    name: 'STT realtime (openai): garbage message',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    realtime: { dialect: 'openai', failure: { type: 'garbage' } },
    message: /^the realtime transcription server sent a message that is not JSON: check the URL and the dialect setting$/,
  },
  {
    name: 'STT realtime (speaches): server closes mid-utterance, then a normal turn',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    realtime: { dialect: 'speaches', failure: { type: 'close', afterAppends: 5 } },
    message: /^the realtime transcription server closed the connection before the transcript arrived \(code 1011\)$/,
  },
  {
    name: 'STT realtime (vllm): garbage message, then a normal turn',
    service: 'stt',
    failsIn: 'listen',
    pauseS: 2,
    realtime: { dialect: 'vllm', failure: { type: 'garbage' } },
    message: /^the realtime transcription server sent a message that is not JSON: check the URL and the dialect setting$/,
  },

  // ---- the language model ----
  {
    name: 'LLM: HTTP 500',
    service: 'llm',
    failsIn: 'think',
    pauseS: 2,
    llm: { type: 'status', status: 500, message: 'Engine core died unexpectedly.\n  File "engine.py", line 12' },
    message: /^the LLM server failed \(HTTP 500\): Engine core died unexpectedly$/,
  },
  {
    name: 'LLM: connection reset mid-stream, after the first sentence was spoken',
    service: 'llm',
    failsIn: 'speak',
    pauseS: 2.5,
    llm: { type: 'stream', steps: [{ type: 'text', text: `${A1} ` }, { type: 'text', text: 'The ' }, { type: 'reset', delayMs: 300 }] },
    message: /^the connection to the LLM server broke in the middle of the reply$/,
  },
  {
    name: 'LLM: stall after the headers, past the timeout',
    service: 'llm',
    failsIn: 'think',
    pauseS: 5,
    llm: { type: 'stream', steps: [{ type: 'stall' }] },
    message: /^the LLM server at http:\/\/127\.0\.0\.1:\d+\/v1 sent nothing for 1 s$/,
  },
  {
    name: 'LLM: no answer at all, past the timeout',
    service: 'llm',
    failsIn: 'think',
    pauseS: 5,
    llm: { type: 'silent' },
    message: /^the LLM server at http:\/\/127\.0\.0\.1:\d+\/v1 sent nothing for 1 s$/,
  },
  {
    name: 'LLM: malformed JSON in the SSE stream',
    service: 'llm',
    failsIn: 'think',
    pauseS: 2,
    llm: { type: 'stream', steps: [{ type: 'text', text: 'It is ' }, { type: 'raw', data: '{"choices":[{"delta":{"content":"ten' }] },
    message: /^the LLM server sent a malformed stream event \(not JSON\)$/,
  },
  {
    name: 'LLM: server down (connection refused)',
    service: 'llm',
    failsIn: 'think',
    pauseS: 2,
    down: 'llm',
    message: /^could not reach the LLM server at http:\/\/127\.0\.0\.1:\d+\/v1$/,
  },

  // ---- text-to-speech over HTTP ----
  {
    name: 'TTS: HTTP 500 (the announcement fails too: error earcon)',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    tts: { type: 'status', status: 500, message: 'voice af_heart crashed' },
    sorry: { type: 'status', status: 500, message: 'voice af_heart crashed' },
    message: new RegExp(`${TTS_LABEL.source}failed \\(HTTP 500: voice af_heart crashed\\)$`),
  },
  {
    name: 'TTS: connection reset mid-stream (the announcement is reset too: error earcon)',
    service: 'tts',
    failsIn: 'speak',
    pauseS: 2.5,
    // the first chunk plays, then the socket is destroyed (chunks: filled with real audio in stage())
    tts: { type: 'chunks', chunks: [], delayMs: 150, resetAfter: 2 },
    sorry: { type: 'reset' },
    message: /^the connection to the text-to-speech server at http:\/\/127\.0\.0\.1:\d+\/v1 was lost$/,
  },
  {
    name: 'TTS: stall past the timeout',
    service: 'tts',
    failsIn: 'think',
    pauseS: 5,
    tts: { type: 'stall', headers: true },
    message: new RegExp(`${TTS_LABEL.source}sent nothing for 1000 ms$`),
  },
  {
    name: 'TTS: a JSON body instead of audio',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    tts: { type: 'json', body: { detail: 'Voice not found: af_heart.' } },
    message: new RegExp(`${TTS_LABEL.source}sent text instead of audio \\(Voice not found: af_heart\\)$`),
  },
  {
    name: 'TTS: an MP3 body when pcm was asked for',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    tts: { type: 'garbage', bytes: ID3, contentType: 'audio/mpeg' },
    message: new RegExp(`${TTS_LABEL.source}sent MP3 audio instead of pcm$`),
  },
  {
    name: 'TTS: garbage (an HTML page as octet-stream)',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    tts: { type: 'garbage', bytes: '<html><body>502 Bad Gateway</body></html>' },
    // the first 40 bytes, quoted
    message: new RegExp(`${TTS_LABEL.source}sent text instead of audio \\("<html><body>502 Bad Gateway</body></html"\\)$`),
  },
  {
    name: 'TTS: a WAV of 8-bit samples',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    tts: { type: 'garbage', bytes: eightBitWav(), contentType: 'audio/wav' },
    message: new RegExp(`${TTS_LABEL.source}sent a WAV body that cannot be played \\(format 1 with 8-bit samples; 16-bit PCM or 32-bit float expected\\)$`),
  },
  {
    name: 'TTS: server down (connection refused; the announcement cannot be spoken: error earcon)',
    service: 'tts',
    failsIn: 'think',
    pauseS: 2,
    down: 'tts',
    message: new RegExp(`${TTS_LABEL.source}cannot be reached$`),
  },
];

/** A TCP port that refuses connections until `open()`, then forwards them to `target`. */
interface Gate {
  url: string;
  open(): void;
  close(): Promise<void>;
}

async function startGate(target: string): Promise<Gate> {
  const to = new URL(target);
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((ok) => probe.close(() => ok()));

  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(to.port), to.hostname);
    track(client);
    track(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  server.on('error', () => undefined); // a lost port shows as a failed second turn, not a crash
  let listening = false;
  const url = new URL(target);
  url.port = String(port);
  return {
    url: url.toString().replace(/\/$/, ''),
    open: () => {
      if (listening) return;
      listening = true;
      server.listen(port, '127.0.0.1');
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      if (listening) await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** Goertzel power of `freq` over `samples` at 16 kHz, per sample. */
function tonePower(samples: Int16Array, freq: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / 16_000);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / Math.max(1, samples.length);
}

/** The audible samples of a 16 kHz WAV between two stream times (ms). */
async function audibleBetween(path: string, fromMs: number, toMs: number): Promise<Int16Array> {
  const { samples } = await readWav(path);
  const part = samples.subarray(Math.max(0, Math.floor(fromMs * 16)), Math.min(samples.length, Math.floor(toMs * 16)));
  const kept: number[] = [];
  for (let i = 0; i < part.length; i += 160) {
    const frame = part.subarray(i, i + 160);
    if (frame.some((s) => Math.abs(s) > 300)) kept.push(...frame);
  }
  return Int16Array.from(kept);
}

const inputOf = (r: RecordedRequest): string => {
  const json = r.json as { input?: unknown } | undefined;
  return typeof json?.input === 'string' ? json.input : '';
};

let clips: { reply1: Behaviour; reply2: Behaviour; sorry: Behaviour; reply1Chunks: Buffer[] };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const [a1, a2, sorry] = await Promise.all([ttsAudio(A1), ttsAudio(A2), ttsAudio('Sorry.')]);
  clips = {
    reply1: { type: 'chunks', chunks: a1.chunks },
    reply2: { type: 'chunks', chunks: a2.chunks },
    sorry: { type: 'chunks', chunks: sorry.chunks },
    reply1Chunks: a1.chunks,
  };
  // every input once, so the cases do not pay for sox and flite
  for (const pause of new Set(cases.map((c) => c.pauseS))) twoTurns(pause);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Staged {
  config: Config;
  audio: ScriptedServer;
  chat: ChatServer;
  realtime?: RealtimeServer;
}

/** Starts the servers for one case: the failure in the first turn, everything healthy once it was announced. */
async function stage(c: Case): Promise<Staged> {
  const audio = await startScriptedServer();
  const chat = await startChatServer();
  cleanups.push(() => audio.close(), () => chat.close());

  let healed = false;
  const healers: (() => void)[] = [];
  const heal = () => {
    if (healed) return;
    healed = true;
    for (const fn of healers) fn();
  };

  // STT over HTTP: the failure (if any) first, then the questions.
  const reply = (text: string): Behaviour => (c.sttJson ? { type: 'json', body: { text } } : sttReply(text));
  const stt: Behaviour[] = [];
  if (c.stt) stt.push(c.stt);
  else if (c.service !== 'stt') stt.push(reply(Q1));
  stt.push(reply(Q2));
  let sttRequests = 0;
  audio.script('/audio/transcriptions', () => {
    // the second turn's request: a failing TTS has had its chance to fail the announcement
    if (++sttRequests >= 2) heal();
    return stt.length > 1 ? stt.shift()! : stt[0]!;
  });

  // TTS: the reply or the announcement, failing until the error was announced.
  const ttsFailure: Behaviour | undefined =
    c.tts?.type === 'chunks' && c.tts.chunks.length === 0 ? { ...c.tts, chunks: clips.reply1Chunks } : c.tts;
  audio.script('/audio/speech', (req) => {
    const text = inputOf(req);
    if (text.startsWith('Sorry')) {
      const behaviour = healed ? clips.sorry : (c.sorry ?? clips.sorry);
      heal();
      return behaviour;
    }
    if (healed) return clips.reply2;
    return ttsFailure ?? clips.reply1;
  });

  // LLM: the failure or the first answer (unless the first turn never gets there), then the second.
  if (c.llm) chat.enqueue(c.llm);
  else if (c.service !== 'stt' && c.down !== 'llm') chat.enqueue(textReply([A1]));
  chat.enqueue(textReply([A2]));

  const sttConfig: Record<string, unknown> = {
    engine: 'http',
    baseUrl: audio.baseURL,
    model: 'whisper-test',
    stream: !c.sttJson,
    timeoutMs: SERVICE_TIMEOUT_MS,
  };
  let realtime: RealtimeServer | undefined;
  if (c.realtime) {
    const server = await startRealtimeServer(c.realtime.dialect);
    realtime = server;
    cleanups.push(() => server.close());
    server.set({ deltas: ['what time', ' is it'], ...(c.realtime.failure ? { failure: c.realtime.failure } : {}) });
    healers.push(() => {
      server.reset();
      server.set({ deltas: ['what about', ' tomorrow'] });
    });
    Object.assign(sttConfig, { engine: 'realtime', baseUrl: server.url, dialect: c.realtime.dialect });
  }
  const ttsConfig: Record<string, unknown> = {
    engine: 'http',
    baseUrl: audio.baseURL,
    model: 'tts-test',
    voice: 'test',
    format: 'pcm',
    timeoutMs: SERVICE_TIMEOUT_MS,
  };
  const llmConfig: Record<string, unknown> = { baseUrl: chat.baseURL, model: 'llm-test', timeoutMs: SERVICE_TIMEOUT_MS };

  if (c.down) {
    const section = { stt: sttConfig, llm: llmConfig, tts: ttsConfig }[c.down];
    const gate = await startGate(String(section['baseUrl']));
    cleanups.push(() => gate.close());
    healers.push(() => gate.open());
    section['baseUrl'] = gate.url;
  }

  // No fallback to the embedded engines: these runs show how each failure surfaces.
  const config = configSchema.parse({
    stt: { ...sttConfig, fallback: false },
    tts: { ...ttsConfig, fallback: false },
    llm: llmConfig,
    conversation: { followUp: 'off', earcons: true, transcriptTimeoutMs: TRANSCRIPT_TIMEOUT_MS, thinkTimeoutMs: THINK_TIMEOUT_MS },
  });
  return { config, audio, chat, ...(realtime ? { realtime } : {}) };
}

function expectedStates(stage: Stage): string[] {
  const first = { listen: ['listen'], think: ['listen', 'think'], speak: ['listen', 'think', 'speak'] }[stage];
  return ['idle', 'wake', ...first, 'error', 'idle', 'wake', 'listen', 'think', 'speak', 'idle'];
}

/** One line, one sentence, no stack frames, no error class names. */
function expectOneSentence(message: string): void {
  expect(message).toMatch(/^[^\n]+$/);
  expect(message).not.toMatch(/\.\s+[A-Z]/);
  expect(message).not.toMatch(/\bat .+:\d+:\d+|\.(ts|js|py):\d+|Traceback|Error:|\[object /);
  expect(message.length).toBeLessThan(200);
}

describe('kai simulate: every server fails on purpose, and the next turn works', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { config, audio, chat, realtime } = await stage(c);
    const out = join(work, `${c.name.replace(/\W+/g, '-')}.wav`);

    const { events } = await simulate(twoTurns(c.pauseS), config, { speed: SPEED, outPath: out });
    const dump = () => events.map((e) => `${e.t} ${JSON.stringify(e)}`).join('\n');

    // the first turn failed, the assistant went back to idle, and the second turn ran in full
    expect(statesOf(events), dump()).toEqual(expectedStates(c.failsIn));

    // the failure is reported once, as one sentence naming the service
    const errors = events.filter((e): e is Extract<TimedEvent, { type: 'error' }> => e.type === 'error');
    expect(errors, dump()).toHaveLength(1);
    const error = errors[0]!;
    // the failing service is named as the source; the first turn's record holds the error too
    expect(error.source).toBe(c.service);
    expect(error.message).toMatch(c.message);
    expectOneSentence(error.message);
    const errorAt = events.find((e) => e.type === 'state' && e.value === 'error')!.t;
    const wakes = events.filter((e) => e.type === 'wake');
    expect(wakes).toHaveLength(2);
    const secondWakeAt = wakes[1]!.t;
    expect(errorAt).toBeLessThan(secondWakeAt);

    // announced: spoken through TTS, or the error earcon when TTS could not say it
    const speech = audio.requests.filter((r) => r.path === '/audio/speech');
    const sorry = speech.filter((r) => inputOf(r).startsWith('Sorry'));
    const earcon = c.service === 'tts' && (c.sorry !== undefined || c.down === 'tts');
    if (earcon) {
      expect(sorry).toHaveLength(c.down === 'tts' ? 0 : 1);
      const heard = await audibleBetween(out, errorAt, secondWakeAt);
      expect(heard.length / 16, 'ms of audio between the error and the second wake word').toBeGreaterThan(150);
      expect(heard.length / 16).toBeLessThan(600);
      // two low beeps (A3), not speech and not the wake chime (E5, A5)
      const low = tonePower(heard, 220);
      expect(low).toBeGreaterThan(20 * Math.max(tonePower(heard, 659.26), tonePower(heard, 880), tonePower(heard, 1000)));
    } else {
      expect(sorry).toHaveLength(1);
      const said = inputOf(sorry[0]!);
      expect(said).toMatch(/^Sorry, [a-z][^\n(]*\.$/);
      // no URL read out, and nothing left dangling where it was
      expect(said).not.toMatch(/:\/\/|\b(at|from|to)( (failed|refused|rejected|sent|closed|was|cannot))?\.?$/);
      expect(said).not.toMatch(/\b(at|from|to) (failed|refused|rejected|sent|closed|was|cannot)\b/);
      expectOneSentence(said);
    }

    // the second turn: transcript, reply, not interrupted
    const turns = turnsOf(events);
    // a failed reply is not recorded as the user interrupting it
    expect(turns.find((t) => t.turn === 1)).toMatchObject({ interrupted: false, errors: [`${c.service}: ${error.message}`] });
    // nothing of a reply that never played counts as heard
    if (c.failsIn !== 'speak') expect(turns.find((t) => t.turn === 1)!.heardText).toBe('');
    const second = turns.find((t) => t.turn === 2);
    expect(second, dump()).toMatchObject({ transcript: Q2, heardText: A2, interrupted: false });
    expect(events.filter((e) => e.type === 'transcript' && e.final).at(-1)).toMatchObject({ text: Q2 });
    const answer = events.filter((e) => e.type === 'assistant' && e.t > errorAt);
    expect(answer).toEqual([expect.objectContaining({ text: A2 })]);
    // the second turn's question reached the LLM
    const lastMessages = chat.requests.at(-1)!.messages as { role: string; content: string }[];
    expect(lastMessages.at(-1)).toEqual({ role: 'user', content: Q2 });
    if (realtime) {
      // both turns went over the WebSocket (the refused handshake counts as an upgrade attempt)
      expect(audio.requests.filter((r) => r.path === '/audio/transcriptions')).toEqual([]);
      expect(realtime.upgrades).toBeGreaterThanOrEqual(2);
      expect(realtime.connections.at(-1)!.received.some((m) => m.json?.['type'] === 'input_audio_buffer.append')).toBe(true);
    }
  });
});
