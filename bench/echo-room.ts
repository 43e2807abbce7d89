/**
 * The echo-cancellation evaluation set, made at run time and deterministic (seeded): the
 * assistant's synthesized speech played through a synthetic open-speaker room into the
 * microphone, alone and with the user talking over it, plus what the canceller is measured
 * with (ERLE, convergence, barge-in by the Silero VAD, transcripts by pocketsphinx, CPU).
 * Used by `npm run bench:aec` (bench/aec.ts) and by tests/integration/aec-eval.test.ts.
 *
 * One room = one session of the assistant talking in that room, with the canceller running
 * throughout (as in the app, where it keeps what it learnt between replies):
 *   0.5 s of room noise, then echo-only replies (several sentences each, 1.5–2.5 s apart),
 *   then replies the user interrupts (one spoken command each, at a random time), then 1 s.
 * Signal chain of the echo: played signal → light hard clipping (the amplifier) → a high-pass
 * (a small speaker's missing bass) → room impulse response (playback → capture delay, direct
 * path, early reflections, exponentially decaying diffuse tail) → scaled to the room's echo
 * level at the microphone. The microphone = echo + pink-ish background noise + the user (dry:
 * close to the mic), rounded and clipped to int16 like an ADC.
 * The canceller's reference is the clean played signal, reported in 20 ms chunks with the time
 * each left the speaker (`playback(samples, atMs)`, before the microphone frame that hears it);
 * the room's delay is not told.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_INTENTS } from '../src/agent/intents/intents.js';
import { IntentMatcher, readDictionaryWords } from '../src/agent/intents/matcher.js';
import { loadVoiceActivityDetector } from '../src/audio/detectors.js';
import type { AudioFrame } from '../src/audio/frame.js';
import type { VoiceActivityDetector } from '../src/audio/vad/index.js';
import { decodeWav, toPipeline } from '../src/audio/wav.js';
import { configSchema } from '../src/config/schema.js';
import { packageRoot } from '../src/paths.js';
import { DEFAULT_MODEL_DIR, PocketsphinxSpeechToText, normalisePhrase } from '../src/speech/stt-pocketsphinx.js';

export const RATE = 16_000;
/** Microphone frames as a capture driver delivers them: 20 ms. */
export const FRAME = 320;
const MS = RATE / 1000;

/** The shared wake-word models beside the project (the VAD model itself comes from npm). */
export const sharedModelsDir = process.env.KAI_MODELS_DIR ?? resolve(packageRoot, '..', 'shared', 'models', 'openwakeword');
/** Synthesized speech is cached here (git-ignored), keyed by text and voice. */
export const speechCacheDir = process.env.KAI_ECHO_CACHE ?? join(packageRoot, 'tests', '.cache', 'echo-room');

// ---------------------------------------------------------------------------------------------
// Speech synthesis (espeak-ng, flite), cached
// ---------------------------------------------------------------------------------------------

export interface Voice {
  engine: 'espeak' | 'flite';
  /** espeak-ng voice (en-us, en-gb+f3, …) or flite voice (slt, rms, awb, kal16). */
  voice: string;
  /** espeak words per minute. */
  speed?: number;
}

export const voiceName = (v: Voice): string => `${v.engine} ${v.voice}${v.speed ? `@${v.speed}` : ''}`;

const speechMemo = new Map<string, Int16Array>();

/**
 * Deterministic synthesized speech, 16 kHz mono int16, with leading and trailing silence
 * trimmed (below 0.5 % of full scale, as the test fixtures' `phrase()`), cached on disk.
 */
export function speech(text: string, voice: Voice): Int16Array {
  const key = createHash('sha1').update(JSON.stringify({ text, voice })).digest('hex').slice(0, 16);
  const memo = speechMemo.get(key);
  if (memo) return memo;
  const out = join(speechCacheDir, `${key}.wav`);
  if (!existsSync(out)) {
    mkdirSync(dirname(out), { recursive: true });
    const raw = `${out}.${process.pid}.raw.wav`;
    const tmp = `${out}.${process.pid}.tmp.wav`;
    try {
      if (voice.engine === 'espeak') {
        const args = ['-v', voice.voice, '-w', raw];
        if (voice.speed !== undefined) args.push('-s', String(voice.speed));
        execFileSync('espeak-ng', [...args, text]);
      } else {
        execFileSync('flite', ['-voice', voice.voice, '-t', text, '-o', raw]);
      }
      // -R: repeatable dither, so every checkout synthesizes the same audio
      execFileSync('sox', ['-R', raw, '-r', String(RATE), '-c', '1', '-b', '16', tmp]);
      renameSync(tmp, out);
    } finally {
      rmSync(raw, { force: true });
      rmSync(tmp, { force: true });
    }
  }
  const samples = trim(toPipeline(decodeWav(readFileSync(out), out)));
  speechMemo.set(key, samples);
  return samples;
}

function trim(samples: Int16Array): Int16Array {
  const threshold = 0.005 * 32768;
  let from = 0;
  while (from < samples.length && Math.abs(samples[from]!) < threshold) from++;
  let to = samples.length;
  while (to > from && Math.abs(samples[to - 1]!) < threshold) to--;
  return samples.slice(from, to);
}

/** Throws a one-line message when a tool the set needs is missing. */
export function checkTools(): void {
  for (const [program, args] of [['espeak-ng', ['--version']], ['flite', ['-lv']], ['sox', ['--version']]] as const) {
    try {
      execFileSync(program, [...args], { stdio: 'ignore' });
    } catch {
      throw new Error(`${program} is needed for the echo evaluation set: apt-get install espeak-ng flite sox`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What is said
// ---------------------------------------------------------------------------------------------

/** The assistant's voices. */
export const assistantVoices: Voice[] = [
  { engine: 'espeak', voice: 'en-us+f3' },
  { engine: 'flite', voice: 'kal16' },
  { engine: 'espeak', voice: 'en-gb' },
  { engine: 'espeak', voice: 'en-us+m1' },
];

/**
 * The users' voices, none of them one of the assistant's. Mostly flite voices: the embedded
 * recognizer with the full command grammar recognises about 9 in 10 of the commands they say
 * (clean), but only 1–4 in 10 said by the espeak-ng voices, so one espeak voice is kept for variety
 * (the barge-in figures use every interruption; the transcript figure only those whose clean
 * words are recognised).
 */
export const userVoices: Voice[] = [
  { engine: 'flite', voice: 'rms' },
  { engine: 'flite', voice: 'awb' },
  { engine: 'flite', voice: 'slt' },
  { engine: 'espeak', voice: 'en-us' },
];

/** The assistant's replies, a sentence each. */
export const assistantSentences = [
  'The build passed on the main branch.',
  'Two tests were skipped in the api package.',
  'Coverage went up by one percent since yesterday.',
  'The slowest test took four seconds to run.',
  'Nothing else needs your attention right now.',
  'The build has three failing tests in the api package.',
  'The first one is a timeout in the health check.',
  'The second and third fail on a missing environment variable.',
  'I started the coding agent on that as a background job.',
  'It will tell you when the job is done.',
  'You have four uncommitted changes in the server folder.',
  'The last commit was made by Alice this morning.',
  'It says: fix the retry logic in the upload client.',
  'The linter found twelve warnings and no errors.',
  'Most of them are unused imports in the tests.',
  'I can remove them for you if you like.',
  'The deployment to staging finished ten minutes ago.',
  'All health checks are green.',
  'Memory use on the server is about sixty percent.',
  'The database migration added two new columns.',
  'One of the integration tests is flaky.',
  'It failed twice in the last twenty runs.',
  'Here is a summary of the pull request.',
  'It adds a health endpoint and a small dashboard.',
  'The reviewers asked for more tests on the error paths.',
  'Your next meeting starts in twenty five minutes.',
  'The weather today is cloudy with a chance of rain.',
  'I found three places where the config is read.',
  'The simplest fix is to read it once at start up.',
  'Shall I open the file for you?',
  'The job is still running, about half of it is done.',
  'It has changed six files so far.',
  'The type checker reports no errors.',
  'The benchmark is about ten percent faster than last week.',
  'Most of the gain comes from the new cache.',
  'The release notes are ready for review.',
  'I have added them to the changelog.',
  'The container image is two hundred megabytes.',
  'That is forty megabytes smaller than before.',
  'Let me know if you want me to push the branch.',
];

/** Local commands the embedded recognizer's grammar holds (src/agent/intents/intents.ts), said over the reply. */
export const commands = [
  'stop',
  'what time is it',
  'run the tests',
  'cancel the job',
  "what's the git status",
  'read me the last commit',
  'what changed',
  'never mind',
  'be quiet',
  'tell me the time',
];

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

export class Random {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Standard normal (Box–Muller). */
  gauss(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

// ---------------------------------------------------------------------------------------------
// The room
// ---------------------------------------------------------------------------------------------

export interface RoomSpec {
  index: number;
  seed: number;
  /** Playback → capture delay of the direct path (speaker, air, device buffers), ms. */
  delayMs: number;
  /** Reverberation time (−60 dB), ms. */
  rt60Ms: number;
  /** Direct (+ early reflections) to diffuse-tail energy ratio, dB. */
  drrDb: number;
  /** The amplifier clips at this fraction of the played signal's peak. */
  clipAt: number;
  /** The small speaker's high-pass corner, Hz. */
  speakerHighpassHz: number;
  /**
   * Level of the echo at the microphone as a level meter shows its loud parts: the 95th percentile
   * of its 20 ms RMS over active speech, dBFS. (Its P.56-style active level is about 6 dB lower,
   * its sample peaks about 13 dB higher: the microphone's ADC clips the loudest rooms' peaks.)
   */
  echoDbfs: number;
  /** Background noise level, dBFS (RMS). */
  noiseDbfs: number;
  assistantVoice: Voice;
}

/**
 * The room's impulse response (delay excluded), at 16 kHz: a direct path of gain 1, 3–8 early
 * reflections 1–25 ms later, and a Gaussian noise tail decaying by 60 dB over RT60 (low-passed a
 * little, as air and walls absorb highs), scaled to the room's direct-to-reverberant ratio.
 */
export function roomImpulseResponse(spec: RoomSpec): Float32Array {
  const rng = new Random(spec.seed ^ 0x9e3779b9);
  const length = Math.ceil((spec.rt60Ms / 1000) * RATE);
  const ir = new Float32Array(length);
  ir[0] = 1;
  let direct = 1;
  const reflections = rng.int(3, 8);
  for (let i = 0; i < reflections; i++) {
    const at = Math.round(rng.uniform(1, 25) * MS);
    const gain = (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.15, 0.5) * Math.exp(-at / (0.02 * RATE));
    ir[at]! += gain;
    direct += gain * gain;
  }
  const tail = new Float32Array(length);
  const decay = Math.log(1000) / ((spec.rt60Ms / 1000) * RATE); // amplitude −60 dB at RT60
  const onset = Math.round(3 * MS);
  let lp = 0;
  let energy = 0;
  for (let k = onset; k < length; k++) {
    lp = 0.6 * lp + 0.4 * rng.gauss();
    // The diffuse field builds up over the first few ms rather than starting at full strength.
    const build = Math.min(1, (k - onset) / (5 * MS));
    const v = lp * build * Math.exp(-decay * (k - onset));
    tail[k] = v;
    energy += v * v;
  }
  const scale = Math.sqrt((direct * 10 ** (-spec.drrDb / 10)) / energy);
  for (let k = 0; k < length; k++) ir[k]! += tail[k]! * scale;
  return ir;
}

/** Full-scale-normalised (−1..1) samples. */
const toFloat = (s: Int16Array): Float64Array => Float64Array.from(s, (v) => v / 32768);

/** RBJ biquad high-pass (Butterworth Q), in place. */
function highpass(x: Float64Array, hz: number): void {
  const w = (2 * Math.PI * hz) / RATE;
  const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
  const cos = Math.cos(w);
  const a0 = 1 + alpha;
  const b0 = (1 + cos) / 2 / a0;
  const b1 = -(1 + cos) / a0;
  const b2 = b0;
  const a1 = (-2 * cos) / a0;
  const a2 = (1 - alpha) / a0;
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = xi;
    y2 = y1;
    y1 = yi;
    x[i] = yi;
  }
}

/** In-place iterative radix-2 complex FFT (inverse unscaled). */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a]! += tr;
        im[a]! += ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** x * h by overlap-add FFT convolution, truncated to x's length. */
export function convolve(x: Float64Array, h: Float32Array): Float64Array {
  let size = 1;
  while (size < 2 * h.length) size <<= 1;
  const block = size - h.length + 1;
  const hr = new Float64Array(size);
  const hi = new Float64Array(size);
  hr.set(h);
  fft(hr, hi, false);
  const out = new Float64Array(x.length);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let start = 0; start < x.length; start += block) {
    re.fill(0);
    im.fill(0);
    const end = Math.min(x.length, start + block);
    let silent = true;
    for (let i = start; i < end; i++) {
      re[i - start] = x[i]!;
      if (x[i] !== 0) silent = false;
    }
    if (silent) continue;
    fft(re, im, false);
    for (let k = 0; k < size; k++) {
      const r = re[k]! * hr[k]! - im[k]! * hi[k]!;
      im[k] = re[k]! * hi[k]! + im[k]! * hr[k]!;
      re[k] = r;
    }
    fft(re, im, true);
    const upto = Math.min(x.length - start, size);
    for (let i = 0; i < upto; i++) out[start + i]! += re[i]! / size;
  }
  return out;
}

/** Pink-ish noise (Paul Kellet's economy filter on white noise), unit RMS. */
function pinkNoise(length: number, rng: Random): Float64Array {
  const out = new Float64Array(length);
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const white = rng.gauss();
    b0 = 0.99765 * b0 + white * 0.099046;
    b1 = 0.963 * b1 + white * 0.2965164;
    b2 = 0.57 * b2 + white * 1.0526913;
    const v = b0 + b1 + b2 + white * 0.1848;
    out[i] = v;
    sum += v * v;
  }
  const scale = 1 / Math.sqrt(sum / length);
  for (let i = 0; i < length; i++) out[i]! *= scale;
  return out;
}

/** Powers of the 20 ms frames of the span, and which are active (within 40 dB of the loudest). */
function framePowers(x: ArrayLike<number>, from: number, to: number): number[] {
  const frames: number[] = [];
  for (let at = from; at + FRAME <= to; at += FRAME) {
    let e = 0;
    for (let i = at; i < at + FRAME; i++) e += x[i]! * x[i]!;
    frames.push(e / FRAME);
  }
  return frames;
}

const activeOf = (frames: number[]): number[] => {
  const max = Math.max(0, ...frames);
  return frames.filter((e) => e > max * 1e-4);
};

/**
 * Active speech level (power, full scale = 1) of the span: the mean power of the 20 ms frames
 * within 40 dB of the loudest frame, a simple stand-in for ITU-T P.56.
 */
export function activePower(x: ArrayLike<number>, from = 0, to = x.length): number {
  const active = activeOf(framePowers(x, from, to));
  return active.length === 0 ? 0 : active.reduce((a, b) => a + b, 0) / active.length;
}

/** Level of the loud parts (power): the 95th percentile of the active 20 ms frames' powers over the spans. */
export function loudPower(x: ArrayLike<number>, spans: { from: number; to: number }[]): number {
  const active = activeOf(spans.flatMap((s) => framePowers(x, s.from, s.to))).sort((a, b) => a - b);
  return active.length === 0 ? 0 : active[Math.min(active.length - 1, Math.floor(0.95 * active.length))]!;
}

export const db = (power: number): number => 10 * Math.log10(Math.max(power, 1e-20));

// ---------------------------------------------------------------------------------------------
// A room's session
// ---------------------------------------------------------------------------------------------

export interface Interruption {
  text: string;
  voice: Voice;
  /** Sample where the user's first word starts, and where it ends. */
  onset: number;
  end: number;
  /** Echo-to-speech ratio: the echo's active level over the reply vs the user's active level, dB. */
  esrDb: number;
}

export interface Reply {
  kind: 'echo-only' | 'double-talk';
  /** First and one-past-last sample the speaker played. */
  start: number;
  end: number;
  interruption?: Interruption;
}

export interface RoomSession {
  spec: RoomSpec;
  /** What the microphone captured. */
  mic: Int16Array;
  /** What the assistant played (the clean reference), on the microphone's timeline. */
  played: Int16Array;
  /** The microphone's components, −1..1. */
  echo: Float32Array;
  noise: Float32Array;
  /** The user's speech (zero outside the interruptions). */
  near: Float32Array;
  replies: Reply[];
  /** The echo's first sample at the microphone. */
  firstEcho: number;
  /** Share of the played samples the amplifier clipped, and the distortion it added (dB below the signal). */
  clippedShare: number;
  distortionDb: number;
  /** Share of microphone samples clipped at int16 full scale. */
  micClippedShare: number;
}

export interface SessionOptions {
  /** Echo-only assistant speech in this room, seconds (sum of reply spans; at least this much). */
  echoOnlySeconds: number;
  /** Replies the user interrupts. */
  interruptions: number;
}

/** One reply: 2–4 sentences with 250–600 ms pauses between them. */
function replyAudio(rng: Random, voice: Voice, minSentences = 2, maxSentences = 4): Int16Array {
  const sentences = rng.int(minSentences, maxSentences);
  const parts: Int16Array[] = [];
  for (let i = 0; i < sentences; i++) {
    if (i > 0) parts.push(new Int16Array(Math.round(rng.uniform(250, 600) * MS)));
    parts.push(speech(rng.pick(assistantSentences), voice));
  }
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Builds a room's session: the schedule, the echo through the room, the noise, the user. */
export function buildSession(spec: RoomSpec, options: SessionOptions): RoomSession {
  const rng = new Random(spec.seed ^ 0x5bd1e995);
  const voice = spec.assistantVoice;
  type Planned = { kind: Reply['kind']; audio: Int16Array; start: number; say?: { text: string; voice: Voice; audio: Int16Array; esrDb: number; at: number } };
  const planned: Planned[] = [];
  let t = Math.round(0.5 * RATE);
  let echoOnly = 0;
  while (echoOnly < options.echoOnlySeconds * RATE) {
    const audio = replyAudio(rng, voice);
    planned.push({ kind: 'echo-only', audio, start: t });
    echoOnly += audio.length;
    t += audio.length + Math.round(rng.uniform(1.5, 2.5) * RATE);
  }
  for (let i = 0; i < options.interruptions; i++) {
    const audio = replyAudio(rng, voice, 2, 3);
    const text = rng.pick(commands);
    const userVoice = rng.pick(userVoices);
    const said = speech(text, userVoice);
    // Anywhere from 0.5 s into the reply until the command would end with the reply.
    const latest = Math.max(0.5 * RATE, audio.length - said.length - 0.2 * RATE);
    const at = Math.round(rng.uniform(0.5 * RATE, latest));
    planned.push({ kind: 'double-talk', audio, start: t, say: { text, voice: userVoice, audio: said, esrDb: rng.uniform(0, 10), at } });
    t += Math.max(audio.length, at + said.length) + Math.round(rng.uniform(1.5, 2.5) * RATE);
  }
  const length = t + Math.round(Math.max(1, spec.rt60Ms / 1000) * RATE);

  const played = new Int16Array(length);
  for (const p of planned) played.set(p.audio, p.start);

  // The speaker: clipping amplifier, then a small driver's missing bass.
  const x = toFloat(played);
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const clip = spec.clipAt * peak;
  let clipped = 0;
  let speechSamples = 0;
  let distortion = 0;
  let signal = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v !== 0) speechSamples++;
    const c = v > clip ? clip : v < -clip ? -clip : v;
    if (c !== v) clipped++;
    distortion += (v - c) ** 2;
    signal += v * v;
    x[i] = c;
  }
  highpass(x, spec.speakerHighpassHz);

  // The room, then the delay.
  const wet = convolve(x, roomImpulseResponse(spec));
  const delay = Math.round(spec.delayMs * MS);
  const echo = new Float32Array(length);
  for (let i = delay; i < length; i++) echo[i] = wet[i - delay]!;

  // The echo level: its loud parts over the replies (each reply's span, moved by the room delay).
  const spans = planned.map((p) => ({ from: p.start + delay, to: Math.min(length, p.start + delay + p.audio.length) }));
  const gain = Math.sqrt(10 ** (spec.echoDbfs / 10) / loudPower(echo, spans));
  for (let i = 0; i < length; i++) echo[i]! *= gain;

  const noiseRng = new Random(spec.seed ^ 0x27d4eb2f);
  const noise = Float32Array.from(pinkNoise(length, noiseRng), (v) => v * 10 ** (spec.noiseDbfs / 20));

  const near = new Float32Array(length);
  const replies: Reply[] = [];
  for (const p of planned) {
    const reply: Reply = { kind: p.kind, start: p.start, end: p.start + p.audio.length };
    if (p.say) {
      const echoLevel = activePower(echo, p.start + delay, p.start + delay + p.audio.length);
      const userAudio = toFloat(p.say.audio);
      const userGain = Math.sqrt(echoLevel / 10 ** (p.say.esrDb / 10) / activePower(userAudio));
      const onset = p.start + p.say.at;
      for (let i = 0; i < userAudio.length; i++) near[onset + i] = userAudio[i]! * userGain;
      reply.interruption = { text: p.say.text, voice: p.say.voice, onset, end: onset + userAudio.length, esrDb: p.say.esrDb };
    }
    replies.push(reply);
  }

  const mic = new Int16Array(length);
  let micClipped = 0;
  for (let i = 0; i < length; i++) {
    const v = Math.round((echo[i]! + noise[i]! + near[i]!) * 32768);
    if (v > 32767 || v < -32768) micClipped++;
    mic[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return {
    spec,
    mic,
    played,
    echo,
    noise,
    near,
    replies,
    firstEcho: planned[0]!.start + delay,
    clippedShare: clipped / Math.max(1, speechSamples),
    distortionDb: db(distortion) - db(signal),
    micClippedShare: micClipped / length,
  };
}

/**
 * Rooms `0 … count−1` of the set with this seed, spread over the ranges by Latin-hypercube
 * sampling (each parameter's range cut into `count` strata, one room in each, shuffled), so a
 * small set still covers short and long delays, dry and live rooms, quiet and loud echo.
 */
export function roomSpecs(count: number, seed: number): RoomSpec[] {
  const rng = new Random(seed);
  const strata = (): number[] => {
    const order = Array.from({ length: count }, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order.map((s) => (s + rng.next()) / count);
  };
  const [delay, rt60, drr, clip, highpass, echo, noise] = Array.from({ length: 7 }, strata) as [number[], number[], number[], number[], number[], number[], number[]];
  return Array.from({ length: count }, (_, i) => ({
    index: i,
    seed: (Math.imul(seed, 0x9e3779b1) + Math.imul(i + 1, 0x85ebca6b)) >>> 0,
    delayMs: 10 + 190 * delay[i]!,
    rt60Ms: 200 + 600 * rt60[i]!,
    drrDb: 4 + 10 * drr[i]!,
    clipAt: 0.55 + 0.25 * clip[i]!,
    speakerHighpassHz: 120 + 180 * highpass[i]!,
    echoDbfs: -20 + 10 * echo[i]!,
    noiseDbfs: -57 + 4 * noise[i]!,
    assistantVoice: assistantVoices[i % assistantVoices.length]!,
  }));
}

// ---------------------------------------------------------------------------------------------
// Running a canceller over a session
// ---------------------------------------------------------------------------------------------

/** What the evaluation needs of an echo canceller (src/audio/aec/echo-canceller.ts fits). */
export interface Canceller {
  playback(samples: Int16Array, atMs: number): void;
  process(samples: Int16Array, timestampMs: number): Int16Array;
}

/**
 * The canceller's fixed output latency in samples, found by passing an impulse through it with
 * no playback (it then only delays the microphone). 0 when it does not delay.
 */
export function measureLatency(make: () => Canceller): number {
  const c = make();
  const frames = 40;
  for (let f = 0; f < frames; f++) {
    const mic = new Int16Array(FRAME);
    if (f === 0) mic[0] = 10_000;
    const out = c.process(mic, (f * FRAME) / MS);
    const at = out.findIndex((v) => v !== 0);
    if (at >= 0) return f * FRAME + at;
  }
  throw new Error('the canceller passed no microphone audio through with no playback');
}

export interface CancellerRun {
  /** The output exactly as the canceller returned it, frame by frame (delayed by `latency`). */
  raw: Int16Array;
  /** The output aligned with the microphone (raw shifted back by the latency). */
  aligned: Int16Array;
  cpuSeconds: number;
  audioSeconds: number;
}

/**
 * Streams the session through the canceller as the app does: before each 20 ms microphone frame,
 * the playback the speaker reported up to that frame's end (20 ms chunks, each with the time it
 * left the speaker; nothing between replies). CPU time is of the canceller's calls alone.
 */
export function runCanceller(session: RoomSession, canceller: Canceller, latency: number): CancellerRun {
  const { mic, played, replies } = session;
  const chunks: { at: number; samples: Int16Array }[] = [];
  for (const r of replies) {
    for (let at = r.start; at < r.end; at += FRAME) chunks.push({ at, samples: played.slice(at, Math.min(r.end, at + FRAME)) });
  }
  const padded = Math.ceil((mic.length + latency) / FRAME) * FRAME;
  const raw = new Int16Array(padded);
  let next = 0;
  const before = process.cpuUsage();
  for (let at = 0; at < padded; at += FRAME) {
    while (next < chunks.length && chunks[next]!.at < at + FRAME) {
      const chunk = chunks[next++]!;
      canceller.playback(chunk.samples, chunk.at / MS);
    }
    const frame = at + FRAME <= mic.length ? mic.subarray(at, at + FRAME) : Int16Array.from({ length: FRAME }, (_, i) => mic[at + i] ?? 0);
    raw.set(canceller.process(frame, at / MS), at);
  }
  const used = process.cpuUsage(before);
  return {
    raw: raw.subarray(0, mic.length),
    aligned: raw.slice(latency, latency + mic.length),
    cpuSeconds: (used.user + used.system) / 1e6,
    audioSeconds: padded / RATE,
  };
}

/** The microphone passed through untouched (the "no canceller" contrast). */
export const passThrough: Canceller = { playback: () => undefined, process: (samples) => samples.slice() };

/**
 * A reference, not a canceller: knows the true echo and leaves exactly `residualDb` of it (−Infinity:
 * none), with no latency and no effect on the user's words or the noise. What a canceller that
 * reaches a given ERLE everywhere, from the first sample, would give the VAD and the recognizer.
 */
export function idealCanceller(session: RoomSession, residualDb: number): Canceller {
  const keep = residualDb === Number.NEGATIVE_INFINITY ? 0 : 10 ** (residualDb / 20);
  return {
    playback: () => undefined,
    process: (samples, timestampMs) => {
      const start = Math.round(timestampMs * MS);
      return Int16Array.from(samples, (v, i) => {
        const echo = session.echo[start + i] ?? 0;
        const out = Math.round(v - (1 - keep) * echo * 32768);
        return out > 32767 ? 32767 : out < -32768 ? -32768 : out;
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ERLE and convergence
// ---------------------------------------------------------------------------------------------

/** Sliding-ERLE window, and the hop between windows. */
const ERLE_WINDOW = RATE / 2;
const ERLE_HOP = FRAME;
/**
 * A window is scored only when its echo is this far above the noise: then even a canceller that
 * removed the echo exactly (leaving the noise) shows ≥ 20 dB, the convergence threshold.
 */
export const ECHO_OVER_NOISE_DB = 20;
/** ERLE is capped here (an output of exact silence would be infinite). */
export const ERLE_CAP_DB = 60;

export interface ErleResult {
  /** Energy-ratio ERLE over the echo-only replies, from 1 s after the first echo, dB. */
  erleDb: number;
  /** First time (from the first echo at the microphone) after which every scored 0.5 s window of the first reply is ≥ threshold; null if never. */
  convergenceMs: number | null;
  /** Scored windows after convergence (any echo-only reply) below the threshold. */
  dipsAfterConvergence: number;
  windows: number;
  /** Per scored window: start (ms from the first echo) and ERLE. */
  series: { ms: number; erleDb: number }[];
}

/** ERLE of `out` (aligned with the microphone) on the session's echo-only replies. */
export function measureErle(session: RoomSession, out: Int16Array, thresholdDb = 20, afterMs = 1000): ErleResult {
  const { mic, echo, noise, replies, firstEcho } = session;
  const delay = Math.round(session.spec.delayMs * MS);
  const tailSamples = Math.round(0.3 * RATE);
  const scored: { start: number; erleDb: number; micE: number; outE: number; firstReply: boolean }[] = [];
  const firstReply = replies[0]!;
  for (const r of replies) {
    if (r.kind !== 'echo-only') continue;
    const from = r.start + delay;
    const to = Math.min(mic.length, r.end + delay + tailSamples);
    for (let at = from; at + ERLE_WINDOW <= to; at += ERLE_HOP) {
      let e = 0;
      let n = 0;
      let m = 0;
      let o = 0;
      for (let i = at; i < at + ERLE_WINDOW; i++) {
        e += echo[i]! * echo[i]!;
        n += noise[i]! * noise[i]!;
        m += mic[i]! * mic[i]!;
        o += out[i]! * out[i]!;
      }
      if (db(e) - db(n) < ECHO_OVER_NOISE_DB) continue;
      scored.push({ start: at, erleDb: Math.min(ERLE_CAP_DB, db(m) - db(o)), micE: m, outE: o, firstReply: r === firstReply });
    }
  }
  // Convergence: the earliest window start from which the first reply's windows all reach the threshold.
  const first = scored.filter((w) => w.firstReply);
  let convergence: number | null = null;
  for (let i = first.length - 1; i >= 0; i--) {
    if (first[i]!.erleDb < thresholdDb) break;
    convergence = first[i]!.start;
  }
  const convergenceMs = convergence === null ? null : ((convergence - firstEcho) * 1000) / RATE;
  const dips = convergence === null ? 0 : scored.filter((w) => w.start >= convergence! && w.erleDb < thresholdDb).length;
  // Energy-ratio ERLE from afterMs on, over non-overlapping scored windows.
  let micE = 0;
  let outE = 0;
  let lastEnd = -Infinity;
  for (const w of scored) {
    if (w.start < firstEcho + afterMs * MS || w.start < lastEnd) continue;
    micE += w.micE;
    outE += w.outE;
    lastEnd = w.start + ERLE_WINDOW;
  }
  return {
    erleDb: Math.min(ERLE_CAP_DB, db(micE) - db(outE)),
    convergenceMs,
    dipsAfterConvergence: dips,
    windows: scored.length,
    series: scored.map((w) => ({ ms: ((w.start - firstEcho) * 1000) / RATE, erleDb: w.erleDb })),
  };
}

// ---------------------------------------------------------------------------------------------
// Barge-in (the Silero VAD on the signal)
// ---------------------------------------------------------------------------------------------

/** The barge-in VAD as the app loads it: config.vad defaults with minSpeechMs = conversation.bargeInMinMs. */
export async function loadBargeInVad(modelsDir = sharedModelsDir): Promise<{ vad: VoiceActivityDetector; minSpeechMs: number }> {
  const config = configSchema.parse({});
  const minSpeechMs = config.conversation.bargeInMinMs;
  return { vad: await loadVoiceActivityDetector({ ...config.vad, minSpeechMs }, modelsDir), minSpeechMs };
}

/** An interruption counts as detected when speech starts within this long of the user's first word. */
export const DETECT_WITHIN_MS = 1000;
/** The barge-in detector keeps listening this long past the end of playback (the echo's tail). */
const LISTEN_AFTER_MS = 300;

export interface BargeInResult {
  /** Echo-only replies: speech starts (each would have been a false barge-in), and the assistant speech they span. */
  falseStarts: number;
  speechSeconds: number;
  /** Per double-talk reply. */
  interruptions: {
    outcome: 'detected' | 'missed' | 'premature';
    /** Decision (end of the frame that confirmed speech) − the user's first word, ms; for premature, negative. */
    latencyMs: number | null;
    esrDb: number;
    onsetMs: number;
  }[];
}

/**
 * Runs the barge-in VAD over each reply as the barge-in detector does in the speak state: reset
 * at the reply's start, fed 20 ms frames (as the canceller returned them, so its latency counts)
 * until playback ends + 300 ms. On echo-only replies every speech start is a false barge-in (the
 * VAD carries on afterwards, so one reply can hold several); on a double-talk reply the first
 * start decides: before the user's first word it is premature (the assistant interrupted itself),
 * within 1 s after it the interruption is detected, else missed.
 */
export async function measureBargeIn(session: RoomSession, signal: Int16Array, vad: VoiceActivityDetector): Promise<BargeInResult> {
  const result: BargeInResult = { falseStarts: 0, speechSeconds: 0, interruptions: [] };
  for (const r of session.replies) {
    vad.reset();
    const from = Math.floor(r.start / FRAME) * FRAME;
    const until = r.interruption ? Math.max(r.end, r.interruption.end) : r.end;
    const to = Math.min(signal.length, until + LISTEN_AFTER_MS * MS);
    let firstDecision: number | null = null;
    for (let at = from; at + FRAME <= to; at += FRAME) {
      const frame: AudioFrame = { samples: signal.subarray(at, at + FRAME), sampleRate: RATE, timestampMs: at / MS };
      for (const event of await vad.process(frame)) {
        if (event.type !== 'speech_start') continue;
        if (r.kind === 'echo-only') result.falseStarts++;
        else firstDecision ??= at + FRAME;
      }
      if (r.kind === 'double-talk' && firstDecision !== null) break;
    }
    if (r.kind === 'echo-only') result.speechSeconds += (r.end - r.start) / RATE;
    else {
      const it = r.interruption!;
      const latencyMs = firstDecision === null ? null : ((firstDecision - it.onset) * 1000) / RATE;
      const outcome = latencyMs === null ? 'missed' : latencyMs < 0 ? 'premature' : latencyMs <= DETECT_WITHIN_MS ? 'detected' : 'missed';
      result.interruptions.push({ outcome, latencyMs, esrDb: it.esrDb, onsetMs: ((it.onset - r.start) * 1000) / RATE });
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Transcripts (pocketsphinx with the command grammar)
// ---------------------------------------------------------------------------------------------

/** The embedded recognizer with the app's command grammar (the intents' phrases, no workspace packages). */
export function commandRecognizer(): PocketsphinxSpeechToText {
  const dict = join(DEFAULT_MODEL_DIR, 'cmudict-en-us.dict');
  const words = existsSync(dict) ? readDictionaryWords(dict) : undefined;
  const matcher = new IntentMatcher(DEFAULT_INTENTS, { slotValues: { package: [] }, ...(words ? { knownWord: (w: string) => words.has(w) } : {}) });
  return new PocketsphinxSpeechToText({ phrases: matcher.phrases() });
}

/** The audio around an interruption: from 300 ms before the user's first word to 300 ms after the last. */
export function interruptionWindow(it: Interruption, length: number): { from: number; to: number } {
  return { from: Math.max(0, it.onset - 0.3 * RATE), to: Math.min(length, it.end + 0.3 * RATE) };
}

/** The user's words alone at the level they reach the microphone, digital silence around them (no echo, no noise). */
export function cleanAlone(session: RoomSession, from: number, to: number): Int16Array {
  return Int16Array.from(session.near.subarray(from, to), (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
}

/** What the microphone would have heard without the assistant talking: the user and the room's noise. */
export function withoutEcho(session: RoomSession, from: number, to: number): Int16Array {
  const out = new Int16Array(to - from);
  for (let i = from; i < to; i++) {
    const v = Math.round((session.near[i]! + session.noise[i]!) * 32768);
    out[i - from] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** The recognizer's final transcript of one utterance, fed in 20 ms frames. */
export async function transcribe(stt: PocketsphinxSpeechToText, samples: Int16Array): Promise<string> {
  async function* frames(): AsyncIterable<AudioFrame> {
    for (let i = 0; i < samples.length; i += FRAME) yield { samples: samples.subarray(i, i + FRAME), sampleRate: RATE, timestampMs: i / MS };
  }
  let text = '';
  for await (const event of stt.transcribe(frames(), new AbortController().signal)) if (event.type === 'final') text = event.text;
  return normalisePhrase(text);
}

/** Runs `fn` over `items` with at most `n` at once. */
export async function pool<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Machine load
// ---------------------------------------------------------------------------------------------

/** CPU time all processes have used so far, and what the hypervisor took (steal), in ms, from /proc/stat. */
export function cpuStat(): { busyMs: number; stealMs: number } | undefined {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { busyMs: (user + nice + system + irq + softirq) * 10, stealMs: steal * 10 }; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// One room, end to end
// ---------------------------------------------------------------------------------------------

export interface TranscriptCase {
  room: number;
  text: string;
  voice: string;
  esrDb: number;
  /** The same window of: the user's words alone; the microphone without the echo (user + noise); the canceller's output; the microphone. */
  clean: Int16Array;
  noEcho: Int16Array;
  cleaned: Int16Array;
  raw: Int16Array;
  /** The same window of the reference cancellers' outputs that asked for transcripts. */
  references: Record<string, Int16Array>;
}

export interface RoomResult {
  spec: RoomSpec;
  session: { seconds: number; echoOnlySeconds: number; clippedShare: number; distortionDb: number; micClippedShare: number };
  cpuSeconds: number;
  audioSeconds: number;
  /** The canceller, and (when asked for) the same canceller with its residual echo suppressor off. */
  erle: ErleResult;
  linearErle?: ErleResult;
  bargeIn: BargeInResult;
  /** The microphone as it is, without a canceller (when asked for). */
  rawBargeIn?: BargeInResult;
  transcripts: TranscriptCase[];
  /** The reference cancellers' figures (see EvaluateOptions.references). */
  references: { name: string; erle: ErleResult; bargeIn: BargeInResult }[];
  /** The canceller's own view at the end (its stats), when it has one. */
  finalStats?: unknown;
}

export interface EvaluateOptions {
  session: SessionOptions;
  /** A fresh canceller for the room (reference cancellers get to see the session). */
  make: (session: RoomSession) => Canceller & { stats?: unknown };
  latency: number;
  vad: VoiceActivityDetector;
  /** Also measure the raw microphone's barge-ins. */
  raw?: boolean;
  /** Also measure the ERLE of this canceller (e.g. suppression off). */
  linear?: (session: RoomSession) => Canceller;
  linearLatency?: number;
  /** Other cancellers measured on the same session for comparison (ERLE and barge-in only), e.g. idealCanceller. */
  references?: { name: string; make: (session: RoomSession) => Canceller; latency: number; transcripts?: boolean }[];
}

/** Builds the room's session, runs a fresh canceller over it, and measures everything but the transcripts. */
export async function evaluateRoom(spec: RoomSpec, options: EvaluateOptions): Promise<RoomResult> {
  const session = buildSession(spec, options.session);
  const canceller = options.make(session);
  const run = runCanceller(session, canceller, options.latency);
  const erle = measureErle(session, run.aligned);
  const linearErle = options.linear ? measureErle(session, runCanceller(session, options.linear(session), options.linearLatency ?? options.latency).aligned) : undefined;
  // The barge-in VAD hears the output as the canceller returns it, so its latency is in the decision time.
  const bargeIn = await measureBargeIn(session, run.raw, options.vad);
  const rawBargeIn = options.raw ? await measureBargeIn(session, session.mic, options.vad) : undefined;
  const references: RoomResult['references'] = [];
  const referenceOutputs = new Map<string, Int16Array>();
  for (const ref of options.references ?? []) {
    const refRun = runCanceller(session, ref.make(session), ref.latency);
    references.push({ name: ref.name, erle: measureErle(session, refRun.aligned), bargeIn: await measureBargeIn(session, refRun.raw, options.vad) });
    if (ref.transcripts) referenceOutputs.set(ref.name, refRun.aligned);
  }
  const transcripts: TranscriptCase[] = [];
  for (const r of session.replies) {
    const it = r.interruption;
    if (!it) continue;
    const { from, to } = interruptionWindow(it, session.mic.length);
    transcripts.push({
      room: spec.index,
      text: it.text,
      voice: voiceName(it.voice),
      esrDb: it.esrDb,
      clean: cleanAlone(session, from, to),
      noEcho: withoutEcho(session, from, to),
      cleaned: run.aligned.slice(from, to),
      raw: session.mic.slice(from, to),
      references: Object.fromEntries([...referenceOutputs].map(([name, out]) => [name, out.slice(from, to)])),
    });
  }
  const echoOnly = session.replies.filter((r) => r.kind === 'echo-only').reduce((n, r) => n + r.end - r.start, 0);
  return {
    spec,
    session: {
      seconds: session.mic.length / RATE,
      echoOnlySeconds: echoOnly / RATE,
      clippedShare: session.clippedShare,
      distortionDb: session.distortionDb,
      micClippedShare: session.micClippedShare,
    },
    cpuSeconds: run.cpuSeconds,
    audioSeconds: run.audioSeconds,
    erle,
    ...(linearErle ? { linearErle } : {}),
    bargeIn,
    ...(rawBargeIn ? { rawBargeIn } : {}),
    transcripts,
    references,
    ...(canceller.stats !== undefined ? { finalStats: canceller.stats } : {}),
  };
}

export interface TranscriptResult {
  text: string;
  voice: string;
  esrDb: number;
  room: number;
  clean: string;
  noEcho: string;
  cleaned: string;
  /** Null when not asked for. */
  raw: string | null;
  references: Record<string, string>;
}

/**
 * Every case's transcripts — the clean words, the microphone without the echo, the canceller's
 * output, and the raw microphone unless `raw` is false — two recognizer runs at a time (each is
 * two processes).
 */
export async function transcribeCases(cases: TranscriptCase[], stt: PocketsphinxSpeechToText, options: { parallel?: number; raw?: boolean } = {}): Promise<TranscriptResult[]> {
  const references = async (c: TranscriptCase): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const [name, audio] of Object.entries(c.references)) out[name] = await transcribe(stt, audio);
    return out;
  };
  return pool(cases, options.parallel ?? 2, async (c) => ({
    text: c.text,
    voice: c.voice,
    esrDb: c.esrDb,
    room: c.room,
    clean: await transcribe(stt, c.clean),
    noEcho: await transcribe(stt, c.noEcho),
    cleaned: await transcribe(stt, c.cleaned),
    raw: options.raw === false ? null : await transcribe(stt, c.raw),
    references: await references(c),
  }));
}

/**
 * "The same with and without the echo": of the cases whose `reference` transcript is the command
 * that was said (by default the microphone without the echo — the user's words in the room's
 * noise), those for which `signal` gives the same text.
 */
export function sameText(results: TranscriptResult[], signal: 'noEcho' | 'cleaned' | 'raw', reference: 'clean' | 'noEcho' = 'noEcho'): { same: number; of: number } {
  const base = results.filter((r) => r[reference] === normalisePhrase(r.text));
  return { same: base.filter((r) => r[signal] === r[reference]).length, of: base.length };
}
