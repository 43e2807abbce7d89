/**
 * The echo canceller's evaluation set and its measures, shared by `npm run bench:aec` and the
 * vitest properties (tests/integration/echo-eval.test.ts). Everything is generated at run time and
 * seeded: the assistant's speech (espeak-ng and flite) played through synthetic rooms (delay
 * 10–200 ms, RT60 0.2–0.8 s, a lightly clipping speaker, background noise), alone and with a user
 * speaking a command over it at echo-to-speech ratios of 0 to +10 dB.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VOICE_PRE_ROLL_MS } from '../src/app/actors/listener.js';
import { EchoCanceller } from '../src/audio/aec/echo-canceller.js';
import { RealFft } from '../src/audio/aec/fft.js';
import { loadBargeInVoiceActivityDetector } from '../src/audio/detectors.js';
import { CancellerGate, EchoGate } from '../src/audio/echo-gate.js';
import type { AudioFrame } from '../src/audio/frame.js';
import { roomImpulseResponse } from '../src/audio/room.js';
import { holdReduction } from '../src/audio/sources/echo-cancelled.js';
import { UserVerdicts } from '../src/audio/user-verdicts.js';
import type { VoiceActivityDetector } from '../src/audio/vad/index.js';
import { decodeWav, toPipeline } from '../src/audio/wav.js';
import { configSchema } from '../src/config/index.js';
import { PocketsphinxSpeechToText } from '../src/speech/stt-pocketsphinx.js';

const RATE = 16_000;
const FRAME = 320;
const BLOCK = 256;

export type Voice = { engine: 'espeak'; voice: string } | { engine: 'flite'; voice: string };

const ASSISTANT_VOICES: Voice[] = [
  { engine: 'espeak', voice: 'en-us' },
  { engine: 'espeak', voice: 'en-gb' },
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'kal16' },
];
/** Users speak in voices the assistant does not use. */
const USER_VOICES: Voice[] = [{ engine: 'flite', voice: 'rms' }];
const ASSISTANT_TEXT = [
  'The build has three failing tests in the api package. The first one is a timeout in the health check, and the second and third fail on a missing environment variable.',
  'I looked at the last commit. It renames the configuration loader and moves the default values into a separate file, which is why the settings page shows nothing.',
  'Here is the plan. First I will add the endpoint, then a test for it, and then I will run the whole suite again to make sure nothing else broke along the way.',
  'Your coding job is done. It added pagination to the user list, updated the two components that read it, and all one hundred and forty two tests pass.',
];
/** Local commands the embedded recognizer knows, said over the reply. */
export const COMMANDS = ['stop', 'what time is it', 'run the tests', 'cancel the job', "what's the git status"];

const speechCache = new Map<string, Int16Array>();

/** Synthesized speech, 16 kHz mono. */
export function speech(text: string, voice: Voice): Int16Array {
  const key = `${voice.engine}/${voice.voice}/${text}`;
  const cached = speechCache.get(key);
  if (cached) return cached;
  const file = join(tmpdir(), `kai-echo-eval-${process.pid}.wav`);
  if (voice.engine === 'espeak') execFileSync('espeak-ng', ['-v', voice.voice, '-w', file, text]);
  else execFileSync('flite', ['-voice', voice.voice, '-t', text, '-o', file]);
  const wav = readFileSync(file);
  rmSync(file, { force: true });
  const out = toPipeline(decodeWav(wav, `${voice.engine} ${voice.voice}`));
  speechCache.set(key, out);
  return out;
}

/** A seeded PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Room {
  delayMs: number;
  rt60Ms: number;
  /** Level of the direct echo relative to what was played. */
  gainDb: number;
  /** The speaker clips at this fraction of full scale (light nonlinearity). */
  clipAt: number;
  noiseDbfs: number;
  seed: number;
}

export function randomRoom(random: () => number, seed: number): Room {
  return {
    delayMs: 10 + random() * 190,
    rt60Ms: 200 + random() * 600,
    gainDb: -12 + random() * 8,
    clipAt: 0.75 + random() * 0.2,
    noiseDbfs: -60 + random() * 8,
    seed,
  };
}

/** The assistant talking for about `seconds`: sentences in one voice with short pauses, at a normal playback level. */
export function assistantSpeech(seconds: number, random: () => number): Int16Array {
  const voice = ASSISTANT_VOICES[Math.floor(random() * ASSISTANT_VOICES.length)]!;
  const parts: Int16Array[] = [];
  let total = 0;
  for (let i = Math.floor(random() * ASSISTANT_TEXT.length); total < seconds * RATE; i++) {
    const part = speech(ASSISTANT_TEXT[i % ASSISTANT_TEXT.length]!, voice);
    parts.push(part, new Int16Array(Math.round(RATE * (0.2 + random() * 0.4))));
    total += part.length;
  }
  return normalize(concat(parts).subarray(0, Math.round(seconds * RATE)), -16);
}

/** What the microphone hears of `played` in `room` (clipping speaker, reverberation, noise). */
export function echoOf(played: Int16Array, room: Room): Float64Array {
  const { delay, taps } = roomImpulseResponse({ delayMs: room.delayMs, rt60Ms: room.rt60Ms, gainDb: room.gainDb, seed: room.seed });
  const clip = room.clipAt * 32768;
  const driven = Float64Array.from(played, (s) => clip * Math.tanh(s / clip));
  const out = convolve(driven, taps, delay, played.length);
  const noise = roomNoise(room, out.length);
  for (let i = 0; i < out.length; i++) out[i]! += noise[i]!;
  return out;
}

/** The room's background noise on the microphone, the same samples every call. */
export function roomNoise(room: Room, length: number): Float64Array {
  const random = prng(room.seed * 7919);
  const level = 32768 * 10 ** (room.noiseDbfs / 20) * Math.sqrt(3);
  const out = new Float64Array(length);
  let pink = 0;
  for (let i = 0; i < length; i++) {
    pink = 0.97 * pink + 0.03 * (random() * 2 - 1) * 6; // a gentle low-pass: more rumble than hiss
    out[i] = level * pink;
  }
  return out;
}

/** x convolved with h, delayed by `delay` samples, the first `length` samples (FFT overlap-add). */
export function convolve(x: Float64Array, h: ArrayLike<number>, delay: number, length: number): Float64Array {
  let size = 2;
  while (size < 2 * h.length) size *= 2;
  const hop = size - h.length + 1;
  const fft = new RealFft(size);
  const H = new Float64Array(size);
  H.set(h);
  fft.forward(H);
  const out = new Float64Array(length);
  const buf = new Float64Array(size);
  for (let start = 0; start < x.length && start + delay < length; start += hop) {
    buf.fill(0);
    buf.set(x.subarray(start, Math.min(x.length, start + hop)));
    fft.forward(buf);
    buf[0] = buf[0]! * H[0]!;
    buf[1] = buf[1]! * H[1]!;
    for (let i = 2; i < size; i += 2) {
      const re = buf[i]! * H[i]! - buf[i + 1]! * H[i + 1]!;
      buf[i + 1] = buf[i]! * H[i + 1]! + buf[i + 1]! * H[i]!;
      buf[i] = re;
    }
    fft.inverse(buf);
    const end = Math.min(size, length - start - delay);
    for (let i = 0; i < end; i++) out[start + delay + i]! += buf[i]!;
  }
  return out;
}

export interface EchoOnlyResult {
  /** The canceller's per-frame ERLE. */
  trace: Pick<CancelResult, 'erleDb'>;
  played: Int16Array;
  erleDb: number;
  convergedMs: number | null;
  cpuPerAudioS: number;
  cleaned: Int16Array;
  mic: Int16Array;
}

/** Runs the canceller over a microphone signal with the played reference; returns the cleaned audio and its cost. */
export function cancel(mic: Int16Array, played: Int16Array): CancelResult {
  const aec = new EchoCanceller({ blockSize: BLOCK });
  const cleaned = new Int16Array(mic.length);
  const forRecognizer = new Int16Array(mic.length);
  const erleDb = new Float32Array(Math.ceil(mic.length / FRAME));
  const before = process.cpuUsage();
  for (let i = 0; i < mic.length; i += FRAME) {
    const ms = (i * 1000) / RATE;
    aec.playback(played.subarray(i, i + FRAME), ms);
    cleaned.set(aec.process(mic.subarray(i, i + FRAME), ms, forRecognizer.subarray(i, i + FRAME)), i);
    erleDb[i / FRAME] = aec.stats.erleDb;
  }
  const used = process.cpuUsage(before);
  // Its output is its input delayed by one block: line the two up again for the measures.
  return { cleaned: shiftBack(cleaned, BLOCK), forRecognizer: shiftBack(forRecognizer, BLOCK), cpuS: (used.user + used.system) / 1e6, erleDb };
}

export interface CancelResult {
  /** For the VAD and the wake word. */
  cleaned: Int16Array;
  /** The same prepared for the speech recognizer (the room's noise kept under the user's words). */
  forRecognizer: Int16Array;
  cpuS: number;
  /** The canceller's ERLE (its stats) after each 20 ms frame. */
  erleDb: Float32Array;
}

/** A barge-in the assistant takes. */
export interface BargeIn {
  /** Where the user's words began, as the assistant found it: it transcribes from its pre-roll before this. */
  onsetMs: number;
  /** When the assistant decided to take it: the reply stops here. */
  decidedMs: number;
}

/**
 * Barge-ins the assistant itself would take: the VAD (minimum duration as configured) and the
 * self-speech gate, which with the canceller steps aside once the canceller has shown its echo
 * reduction (as src/app/assistant.ts and src/app/actors/barge-in.ts do). `aec`: the canceller's
 * per-frame ERLE, or null without a canceller.
 */
export async function bargeIns(audio: Int16Array, played: Int16Array, aec: Pick<CancelResult, 'erleDb'> | null, modelsDir: string): Promise<BargeIn[]> {
  const settings = configSchema.parse({});
  const vad = await loadBargeInVoiceActivityDetector(settings, modelsDir);
  const strict = new EchoGate({ echoGainDb: settings.conversation.echoGainDb, marginDb: settings.conversation.bargeInMarginDb });
  let held = 0;
  const gate = aec ? new CancellerGate(strict, { echoReductionAt: () => held }) : strict;
  const verdicts = new UserVerdicts(1000);
  const found: BargeIn[] = [];
  let onset: number | null = null;
  for (let i = 0; i + FRAME <= audio.length; i += FRAME) {
    const frame = i / FRAME;
    const startMs = (i * 1000) / RATE;
    const endMs = startMs + (FRAME * 1000) / RATE;
    strict.playedAt(played.subarray(i, i + FRAME), startMs);
    if (aec) held = holdReduction(held, aec.erleDb[frame]!, FRAME / RATE);
    const samples = audio.subarray(i, i + FRAME);
    verdicts.push(startMs, endMs, gate.isUser(samples, startMs));
    for (const event of await vad.process({ samples, sampleRate: RATE, timestampMs: startMs })) {
      if (event.type === 'speech_end') onset = null;
      else if (event.type === 'speech_start') onset = event.timestampMs;
    }
    if (onset !== null && verdicts.mostlyUser(endMs - settings.conversation.bargeInMinMs)) {
      // The assistant would stop here; the evaluation goes on, and the next barge-in needs a new speech start.
      found.push({ onsetMs: verdicts.userOnset(onset) ?? onset, decidedMs: endMs });
      onset = null;
    }
  }
  return found;
}

function shiftBack(samples: Int16Array, by: number): Int16Array {
  const out = new Int16Array(samples.length);
  out.set(samples.subarray(by));
  return out;
}

/** Echo-only audio through the canceller: ERLE after the first second, and when it converged. */
export function echoOnly(room: Room, seconds: number, random: () => number): EchoOnlyResult {
  const played = assistantSpeech(seconds, random);
  const mic = toInt16(echoOf(played, room));
  const { cleaned, cpuS, erleDb } = cancel(mic, played);
  const windows = windowErle(mic, cleaned, echoPresent(played, room));
  const after = windows.filter((w) => w.startMs >= 1000);
  const micEnergy = after.reduce((n, w) => n + w.mic, 0);
  const outEnergy = after.reduce((n, w) => n + w.out, 0);
  // Converged: the start of the first 1.5 s (three 0.5 s windows with echo in them) all at least 20 dB down.
  const convergedAt = windows.findIndex((_, i) => i + 3 <= windows.length && windows.slice(i, i + 3).every((w) => w.erleDb >= 20));
  const convergedMs = convergedAt >= 0 ? windows[convergedAt]!.startMs : null;
  return { erleDb: 10 * Math.log10(micEnergy / Math.max(outEnergy, 1e-9)), convergedMs, cpuPerAudioS: cpuS / seconds, cleaned, mic, played, trace: { erleDb } };
}

/** Which 10 ms slots of the microphone hold audible echo (the played signal, delayed, above the noise). */
function echoPresent(played: Int16Array, room: Room): (startSample: number, endSample: number) => boolean {
  const delay = Math.round((room.delayMs / 1000) * RATE);
  return (start, end) => {
    let energy = 0;
    for (let i = Math.max(0, start - delay - 1600); i < end - delay && i < played.length; i++) energy += played[i]! * played[i]!;
    return energy / (end - start) > (32768 * 10 ** (-45 / 20)) ** 2;
  };
}

function windowErle(mic: Int16Array, out: Int16Array, hasEcho: (from: number, to: number) => boolean) {
  const size = RATE / 2;
  const windows: { startMs: number; mic: number; out: number; erleDb: number }[] = [];
  for (let start = 0; start + size <= mic.length; start += size) {
    if (!hasEcho(start, start + size)) continue;
    let m = 0;
    let o = 0;
    for (let i = start; i < start + size; i++) {
      m += mic[i]! * mic[i]!;
      o += out[i]! * out[i]!;
    }
    windows.push({ startMs: (start * 1000) / RATE, mic: m, out: o, erleDb: 10 * Math.log10(m / Math.max(o, 1e-9)) });
  }
  return windows;
}

export interface DoubleTalkCase {
  /** Microphone: echo of the reply plus the user's command. */
  mic: Int16Array;
  played: Int16Array;
  /** The user's command in the room without the echo (its noise included), half a second either side: what the recognizer should hear. */
  nearAlone: Int16Array;
  /** The user's command as it reaches the microphone (on the microphone's timeline). */
  nearTrack: Float64Array;
  room: Room;
  command: string;
  onsetMs: number;
  nearMs: number;
  echoToSpeechDb: number;
}

/** The assistant talking for ~10 s, and a user saying a command over it at a random time and level. */
export function doubleTalk(room: Room, random: () => number): DoubleTalkCase {
  const played = assistantSpeech(10, random);
  const echo = echoOf(played, room);
  const command = COMMANDS[Math.floor(random() * COMMANDS.length)]!;
  const near = speech(command, USER_VOICES[Math.floor(random() * USER_VOICES.length)]!);
  const onset = Math.round(RATE * (3 + random() * 4));
  const esr = random() * 10;
  // Level the user against the echo while they speak: echo power / speech power = esr dB.
  const echoPower = meanSquare(echo, onset, onset + near.length);
  const nearPower = meanSquare(near, 0, near.length);
  const scale = Math.sqrt(echoPower / nearPower / 10 ** (esr / 10));
  const nearTrack = new Float64Array(echo.length);
  for (let i = 0; i < near.length && onset + i < nearTrack.length; i++) nearTrack[onset + i] = near[i]! * scale;
  const mic = echo.map((e, i) => e + nearTrack[i]!);
  // The user in the same room without the echo: their words and the room's noise, with half a second either side.
  const noise = roomNoise(room, echo.length);
  const nearAlone = toInt16(Float64Array.from({ length: near.length + RATE }, (_, i) => (nearTrack[onset - RATE / 2 + i] ?? 0) + (noise[onset - RATE / 2 + i] ?? 0)));
  return { mic: toInt16(mic), played, nearAlone, nearTrack, room, command, onsetMs: (onset * 1000) / RATE, nearMs: (near.length * 1000) / RATE, echoToSpeechDb: esr };
}

/**
 * The same case as the assistant really lives it: it stops talking when it decides to take the barge-in,
 * at `atMs` (the reply fades out over 10 ms; the sink drops what it has queued), so the echo ends there,
 * reverberation and all. Until then the reply talks over the user's first sounds.
 */
export function stoppedAt(c: DoubleTalkCase, atMs: number): { mic: Int16Array; played: Int16Array } {
  const stop = Math.round((atMs / 1000) * RATE);
  const fade = RATE / 100;
  const played = Int16Array.from(c.played, (v, i) => (i < stop ? v : i < stop + fade ? Math.round((v * (stop + fade - i)) / fade) : 0));
  const echo = echoOf(played, c.room);
  return { mic: toInt16(echo.map((e, i) => e + c.nearTrack[i]!)), played };
}

/** Speech starts the barge-in VAD reports (no self-speech gate), in ms. */
export async function speechStarts(audio: Int16Array, modelsDir: string): Promise<number[]> {
  return speechStartsOf(await loadBargeInVoiceActivityDetector(configSchema.parse({}), modelsDir), audio);
}

/** Speech starts `vad` reports on the whole of `audio`, in ms. */
export async function speechStartsOf(vad: VoiceActivityDetector, audio: Int16Array): Promise<number[]> {
  const starts: number[] = [];
  for (let i = 0; i + FRAME <= audio.length; i += FRAME) {
    const frame: AudioFrame = { samples: audio.subarray(i, i + FRAME), sampleRate: RATE, timestampMs: (i * 1000) / RATE };
    for (const event of await vad.process(frame)) if (event.type === 'speech_start') starts.push(event.timestampMs);
  }
  return starts;
}

/** Did the VAD hear the user begin: a fresh detector from just before the onset reports speech within 1 s of it. */
export async function interruptionHeard(audio: Int16Array, onsetMs: number, modelsDir: string): Promise<boolean> {
  const from = Math.max(0, Math.round(((onsetMs - 500) / 1000) * RATE));
  const starts = await speechStarts(audio.subarray(from, from + RATE * 2), modelsDir);
  return starts.some((t) => t + (from * 1000) / RATE >= onsetMs - 300 && t + (from * 1000) / RATE <= onsetMs + 1000);
}

/** The embedded recognizer's transcript of a segment (the command grammar the assistant uses). */
export async function transcribe(audio: Int16Array): Promise<string> {
  const stt = new PocketsphinxSpeechToText({ phrases: COMMANDS });
  async function* frames(): AsyncIterable<AudioFrame> {
    for (let i = 0; i < audio.length; i += FRAME) yield { samples: audio.subarray(i, i + FRAME), sampleRate: RATE, timestampMs: (i * 1000) / RATE };
  }
  let text = '';
  for await (const event of stt.transcribe(frames(), new AbortController().signal)) if (event.type === 'final') text = event.text;
  return text;
}

/**
 * What the assistant transcribes after taking a barge-in whose words began at `atMs` (the onset it found):
 * from its pre-roll before that onset to a little after the command.
 */
export function utteranceAfterBargeIn(audio: Int16Array, c: DoubleTalkCase, atMs: number): Int16Array {
  const from = Math.max(0, Math.round(((atMs - VOICE_PRE_ROLL_MS) / 1000) * RATE));
  return audio.slice(from, Math.min(audio.length, Math.round(((c.onsetMs + c.nearMs + 300) / 1000) * RATE)));
}

/** The part of the microphone holding the user's command, with a little room around it. */
export function commandSegment(audio: Int16Array, c: DoubleTalkCase): Int16Array {
  const from = Math.max(0, Math.round(((c.onsetMs - 300) / 1000) * RATE));
  return audio.slice(from, Math.min(audio.length, from + Math.round(((c.nearMs + 600) / 1000) * RATE)));
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function normalize(samples: Int16Array, rmsDbfs: number): Int16Array {
  const rms = Math.sqrt(meanSquare(samples, 0, samples.length));
  const scale = rms > 0 ? (32768 * 10 ** (rmsDbfs / 20)) / rms : 1;
  return Int16Array.from(samples, (s) => Math.max(-32768, Math.min(32767, Math.round(s * scale))));
}

function toInt16(samples: Float64Array): Int16Array {
  return Int16Array.from(samples, (s) => Math.max(-32768, Math.min(32767, Math.round(s))));
}

function meanSquare(samples: ArrayLike<number>, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! * samples[i]!;
  return sum / Math.max(1, to - from);
}
