import { beforeAll, describe, expect, it } from 'vitest';
import { DelayEstimator } from '../../src/audio/aec/delay-estimator.js';
import { DoubleTalkDetector, type BlockLevels } from '../../src/audio/aec/double-talk.js';
import { EchoCanceller, type EchoCancellerOptions } from '../../src/audio/aec/echo-canceller.js';
import { RealFft } from '../../src/audio/aec/fft.js';
import { SpeakerSaturation } from '../../src/audio/aec/saturation.js';
import { convolve } from '../../bench/echo-eval.js';
import { roomImpulseResponse } from '../../src/audio/room.js';
import { readWav } from '../../src/audio/wav.js';
import { phrase, synth } from '../helpers/fixtures.js';

// ---- synthetic rooms -------------------------------------------------------------------------------------------

const RATE = 16_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

/** Direct path of 1, then an exponentially decaying noise tail from 2 ms whose energy is `drrDb` below it. */
function roomImpulse(rt60: number, drrDb: number, seed: number): Float64Array {
  const r = rng(seed);
  const h = new Float64Array(Math.round(rt60 * RATE * 1.1));
  h[0] = 1;
  const start = 32;
  let energy = 0;
  for (let i = start; i < h.length; i++) {
    const v = gaussian(r) * Math.exp((-6.908 * (i / RATE)) / rt60);
    h[i] = v;
    energy += v * v;
  }
  const g = Math.sqrt(10 ** (-drrDb / 10) / energy);
  for (let i = start; i < h.length; i++) h[i] = h[i]! * g;
  return h;
}

function rms(x: ArrayLike<number>, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! ** 2;
  return Math.sqrt(s / Math.max(1, to - from));
}

function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function toFloat(x: Int16Array): Float64Array {
  return Float64Array.from(x, (v) => v / 32768);
}

function toInt16(x: Float64Array): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
}

/** How many samples differ (a failing toEqual on 100 000 samples would print for minutes). */
function differences(a: Int16Array, b: Int16Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

interface Room {
  delayMs: number;
  rt60: number;
  drrDb?: number;
  /** Echo level, dBFS RMS over the far-end speech. */
  echoDb?: number;
  noiseDb?: number;
  /** The speaker clips at this fraction of the far-end peak. */
  clip?: number;
  /** …or saturates softly: x / √(1 + (x/c)²) with c that fraction of the peak. */
  soft?: boolean;
  seed?: number;
}

interface Scene {
  /** What the assistant played (the reference). */
  far: Int16Array;
  /** Echo alone, as it reaches the microphone. */
  echo: Float64Array;
  /** Near-end speech as it reaches the microphone (zero when none). */
  near: Float64Array;
  mic: Int16Array;
}

/** The assistant's speech through a speaker that clips lightly, a room, and a noisy microphone. */
function makeScene(far: Int16Array, room: Room, nearEnd?: { speech: Int16Array; atSeconds: number; levelDb: number }): Scene {
  const x = toFloat(far);
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const c = (room.clip ?? 0.7) * peak;
  const played = x.map((v) => (room.soft ? v / Math.sqrt(1 + (v / c) ** 2) : v > c ? c : v < -c ? -c : v));
  const echo = convolve(played, roomImpulse(room.rt60, room.drrDb ?? 0, room.seed ?? 1), Math.round((room.delayMs * RATE) / 1000), x.length);
  const gain = 10 ** ((room.echoDb ?? -26) / 20) / rms(echo);
  for (let i = 0; i < echo.length; i++) echo[i] = echo[i]! * gain;
  const near = new Float64Array(x.length);
  if (nearEnd) {
    const s = toFloat(nearEnd.speech);
    const g = 10 ** (nearEnd.levelDb / 20) / rms(s);
    const at = Math.round(nearEnd.atSeconds * RATE);
    for (let i = 0; i < s.length && at + i < near.length; i++) near[at + i] = s[i]! * g;
  }
  const r = rng((room.seed ?? 1) + 99);
  const noise = 10 ** ((room.noiseDb ?? -55) / 20);
  const mic = new Float64Array(x.length);
  for (let i = 0; i < mic.length; i++) mic[i] = echo[i]! + near[i]! + noise * gaussian(r);
  return { far, echo, near, mic: toInt16(mic) };
}

interface Run {
  /** Output with the canceller's block of latency removed, so out[i] lines up with mic[i]. */
  out: Float64Array;
  /** The output for the speech recognizer, lined up the same way. */
  recognizer: Float64Array;
  raw: Int16Array;
  aec: EchoCanceller;
  cpuPerSecond: number;
}

/**
 * Feeds the scene to a canceller: playback() `leadMs` ahead of the microphone in 100 ms pieces (negative: late),
 * microphone frames of the given sizes (cycled). `t0Ms` is the timeline's origin.
 */
function runScene(
  scene: Scene,
  options: EchoCancellerOptions = {},
  { frames = [320], leadMs = 200, t0Ms = 0 }: { frames?: number[]; leadMs?: number; t0Ms?: number } = {},
): Run {
  const aec = new EchoCanceller(options);
  const raw = new Int16Array(scene.mic.length);
  const rawRecognizer = new Int16Array(scene.mic.length);
  const piece = RATE / 10;
  const lead = Math.round((leadMs * RATE) / 1000);
  let played = 0;
  let pos = 0;
  let f = 0;
  let lengthsOk = true;
  const t = process.cpuUsage();
  while (pos < scene.mic.length) {
    const len = Math.min(frames[f++ % frames.length]!, scene.mic.length - pos);
    while (played < scene.far.length && played <= pos + len + lead) {
      aec.playback(scene.far.subarray(played, played + piece), t0Ms + (played * 1000) / RATE);
      played += piece;
    }
    const out = aec.process(scene.mic.subarray(pos, pos + len), t0Ms + (pos * 1000) / RATE, rawRecognizer.subarray(pos, pos + len));
    lengthsOk &&= out.length === len;
    raw.set(out, pos);
    pos += len;
  }
  const used = process.cpuUsage(t);
  expect(lengthsOk).toBe(true);
  const n = 256;
  const out = new Float64Array(raw.length);
  const recognizer = new Float64Array(raw.length);
  for (let i = 0; i + n < raw.length; i++) {
    out[i] = raw[i + n]! / 32768;
    recognizer[i] = rawRecognizer[i + n]! / 32768;
  }
  return { out, recognizer, raw, aec, cpuPerSecond: (used.user + used.system) / 1e6 / (raw.length / RATE) };
}

/** ERLE (mic / output, dB) in 0.5 s windows from `fromSeconds`, over windows where the echo is above −45 dBFS. */
function erleWindows(scene: Scene, out: Float64Array, fromSeconds: number): number[] {
  const mic = toFloat(scene.mic);
  const win = RATE / 2;
  const res: number[] = [];
  for (let s = Math.round(fromSeconds * RATE); s + win <= out.length - 512; s += win) {
    if (rms(scene.echo, s, s + win) < 10 ** (-45 / 20)) continue;
    res.push(db(rms(mic, s, s + win) / rms(out, s, s + win)));
  }
  return res;
}

// ---- fixtures --------------------------------------------------------------------------------------------------

const FAR_TEXT =
  'I have finished running the tests in the api package. One hundred and forty two passed and two failed. ' +
  'Would you like me to open the failing test file and explain what went wrong? ' +
  'The weather today is mostly sunny with a high of twenty three degrees and a light breeze from the west.';
let farSpeech: Int16Array;
let nearSpeech: Int16Array;

beforeAll(async () => {
  farSpeech = (await readWav(synth(FAR_TEXT))).samples;
  nearSpeech = (await readWav(phrase('Stop. Hey Jarvis, run the tests again please.', { engine: 'espeak', voice: 'en-gb+f3' }))).samples;
});

// ---- FFT -------------------------------------------------------------------------------------------------------

describe('RealFft', () => {
  function naive(x: ArrayLike<number>): { re: number[]; im: number[] } {
    const n = x.length;
    const re: number[] = [];
    const im: number[] = [];
    for (let k = 0; k <= n / 2; k++) {
      let a = 0;
      let b = 0;
      for (let j = 0; j < n; j++) {
        a += x[j]! * Math.cos((2 * Math.PI * j * k) / n);
        b -= x[j]! * Math.sin((2 * Math.PI * j * k) / n);
      }
      re.push(a);
      im.push(b);
    }
    return { re, im };
  }

  for (const n of [4, 8, 64, 512, 2048]) {
    it(`matches a naive DFT and inverts, n = ${n}`, () => {
      const r = rng(n);
      const x = Float64Array.from({ length: n }, () => r() * 2 - 1);
      const { re, im } = naive(x);
      const fft = new RealFft(n);
      const y = Float64Array.from(x);
      fft.forward(y);
      const tol = 1e-9 * n;
      expect(Math.abs(y[0]! - re[0]!)).toBeLessThan(tol);
      expect(Math.abs(y[1]! - re[n / 2]!)).toBeLessThan(tol);
      for (let k = 1; k < n / 2; k++) {
        expect(Math.abs(y[2 * k]! - re[k]!)).toBeLessThan(tol);
        expect(Math.abs(y[2 * k + 1]! - im[k]!)).toBeLessThan(tol);
      }
      fft.inverse(y);
      for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThan(1e-12);
    });
  }

  it('works in place on Float32Array', () => {
    const n = 256;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.3) + 0.25 * Math.cos(i * 1.7));
    const { re, im } = naive(x);
    const y = Float32Array.from(x);
    const fft = new RealFft(n);
    fft.forward(y);
    for (let k = 1; k < n / 2; k++) {
      expect(Math.abs(y[2 * k]! - re[k]!)).toBeLessThan(1e-3);
      expect(Math.abs(y[2 * k + 1]! - im[k]!)).toBeLessThan(1e-3);
    }
    fft.inverse(y);
    for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThan(1e-5);
  });

  it('rejects sizes that are not powers of two and arrays of the wrong length', () => {
    expect(() => new RealFft(12)).toThrow(RangeError);
    expect(() => new RealFft(2)).toThrow(RangeError);
    expect(() => new RealFft(8).forward(new Float64Array(4))).toThrow(RangeError);
  });
});

// ---- double-talk detector --------------------------------------------------------------------------------------

describe('DoubleTalkDetector', () => {
  const NOISE = 1e-7;
  const REFERENCE = 1e-2;
  /** The room makes the reference 10 dB quieter at the microphone. */
  const ECHO = 1e-3;

  /** A detector that has heard 20 s of echo cancelled by 25 dB, with a quiet block (a pause) now and then. */
  function trained(): DoubleTalkDetector {
    const detector = new DoubleTalkDetector();
    for (let i = 0; i < 1200; i++) {
      const pause = i % 20 === 0;
      detector.update(
        pause
          ? { mic: NOISE, reference: 0, echo: 0, error: NOISE, backgroundError: NOISE }
          : { mic: ECHO, reference: REFERENCE, echo: ECHO, error: ECHO / 316, backgroundError: ECHO / 316 },
      );
    }
    // End on a pause: the noise floor is known exactly.
    detector.update({ mic: NOISE, reference: 0, echo: 0, error: NOISE, backgroundError: NOISE });
    return detector;
  }

  /** The decision on the second of two identical blocks (the detector judges block pairs). */
  function judge(detector: DoubleTalkDetector, levels: BlockLevels) {
    detector.update(levels);
    return detector.update(levels);
  }

  it('calls a talker over the echo double talk, and clearly so', () => {
    // The user 10 dB under the echo: the error rises far above the 25 dB the filter usually leaves.
    const user = ECHO / 10;
    const decision = judge(trained(), { mic: ECHO + user, reference: REFERENCE, echo: ECHO, error: user + ECHO / 316, backgroundError: user });
    expect(decision).toMatchObject({ doubleTalk: true, nearEnd: true });
  });

  it('takes no noise for a talker where the reference is faint (a fade-in, the edge of a pause)', () => {
    // The reference 40 dB down makes an echo at the noise floor; the microphone is a little noise above it.
    const decision = judge(trained(), { mic: 15 * NOISE, reference: REFERENCE * 1e-4, echo: NOISE, error: 15 * NOISE, backgroundError: 15 * NOISE });
    expect(decision).toMatchObject({ doubleTalk: false, nearEnd: false });
  });

  it('does not take a compressed loud passage (the speaker at its limit) for the user', () => {
    // The microphone 7 dB quieter than this reference usually makes it, and only 8 dB cancelled: an echo the
    // linear filter cannot model. The filters are spared it, but the suppressor stays strict.
    const mic = ECHO / 5;
    const decision = judge(trained(), { mic, reference: REFERENCE, echo: mic, error: mic / 6.3, backgroundError: mic / 6.3 });
    expect(decision).toMatchObject({ doubleTalk: true, nearEnd: false });
  });

  it('keeps echo alone single talk', () => {
    const decision = judge(trained(), { mic: ECHO, reference: REFERENCE, echo: ECHO, error: ECHO / 300, backgroundError: ECHO / 300 });
    expect(decision).toMatchObject({ doubleTalk: false, nearEnd: false });
  });

  it('is not thrown by the first block of echo being its onset (the sound still on its way)', () => {
    // Before the filter has converged, only the coupling can call double talk. A first block with just a sliver of
    // echo in it (60 dB under the reference) must not set the usual coupling: all of the echo would then be "double
    // talk" until the coupling crept back up, and the suppressor would spare it for seconds.
    const detector = new DoubleTalkDetector();
    const unconverged = { mic: ECHO, reference: REFERENCE, echo: 0, error: ECHO, backgroundError: ECHO };
    const quiet = 1e-10; // a quiet room
    const onset = REFERENCE * 1e-6;
    detector.update({ mic: quiet, reference: 0, echo: 0, error: quiet, backgroundError: quiet });
    detector.update({ mic: onset, reference: REFERENCE, echo: 0, error: onset, backgroundError: onset });
    const decisions = Array.from({ length: 60 }, () => detector.update(unconverged));
    expect(decisions.filter((d) => d.doubleTalk)).toEqual([]);
    // …while a talker far over the echo is still caught by it.
    expect(judge(detector, { ...unconverged, mic: 30 * ECHO, error: 30 * ECHO, backgroundError: 30 * ECHO })).toMatchObject({ doubleTalk: true });
  });
});

describe('SpeakerSaturation', () => {
  /** Echo whose nonlinear part is `truth` × (the filter applied to x³), plus noise; returns the learnt coefficient. */
  function learn(truth: number, blocks = 400): number {
    const r = rng(3);
    const saturation = new SpeakerSaturation();
    const n = 256;
    const linear = new Float64Array(n);
    const cubed = new Float64Array(n);
    const echo = new Float64Array(n);
    const error = new Float64Array(n);
    for (let b = 0; b < blocks; b++) {
      for (let i = 0; i < n; i++) {
        linear[i] = 0.3 * gaussian(r);
        cubed[i] = linear[i]! ** 3 + 0.01 * gaussian(r);
        echo[i] = linear[i]! + saturation.coefficient * cubed[i]!;
        error[i] = linear[i]! + truth * cubed[i]! + 1e-3 * gaussian(r) - echo[i]!;
      }
      saturation.adapt(error, cubed, echo);
    }
    return saturation.coefficient;
  }

  it('learns how much the speaker compresses', () => {
    expect(learn(-0.2)).toBeCloseTo(-0.2, 2);
    expect(learn(-0.05)).toBeCloseTo(-0.05, 2);
  });

  it('stays where a speaker can be: no fold-back within full scale, no expansion beyond a little', () => {
    expect(learn(-0.8)).toBeCloseTo(-1 / 3, 6);
    expect(learn(0.5)).toBeCloseTo(0.1, 6);
  });

  it('shapes the reference as f(x) = x + a·x³', () => {
    const saturation = new SpeakerSaturation();
    const x = Float64Array.from([0.5, -1, 0.1]);
    const shaped = new Float64Array(3);
    const cubed = new Float64Array(3);
    saturation.apply(x, shaped, cubed);
    expect([...shaped]).toEqual([...x]);
    expect([...cubed]).toEqual([0.125, -1, 0.1 ** 3]);
    saturation.reset();
    expect(saturation.coefficient).toBe(0);
  });
});

// ---- delay estimator -------------------------------------------------------------------------------------------

describe('DelayEstimator', () => {
  /** Runs the estimator over a mic signal against `far`; returns the estimate at the end of each second. */
  function track(far: Float64Array, mic: Float64Array): (number | null)[] {
    const est = new DelayEstimator(
      (start, out) => {
        for (let i = 0; i < out.length; i++) out[i] = far[start + i] ?? 0;
      },
      { maxDelayMs: 300 },
    );
    const perSecond: (number | null)[] = [];
    for (let s = 0; s + 256 <= mic.length; s += 256) {
      est.push(mic.subarray(s, s + 256), s);
      if ((s + 256) % RATE < 256) perSecond.push(est.estimate?.delayMs ?? null);
    }
    return perSecond;
  }

  for (const delayMs of [10, 80, 200]) {
    it(`finds a ${delayMs} ms delay in a reverberant, noisy room within 1.5 s`, () => {
      const scene = makeScene(farSpeech, { delayMs, rt60: 0.5, seed: delayMs });
      const est = track(toFloat(scene.far), toFloat(scene.mic));
      expect(est[1]).not.toBeNull();
      for (const e of est.slice(1)) expect(Math.abs(e! - delayMs)).toBeLessThanOrEqual(1);
    });
  }

  it('keeps the delay through double talk and follows a delay change', () => {
    const far = toFloat(farSpeech);
    const a = makeScene(farSpeech, { delayMs: 60, rt60: 0.4, seed: 5 }, { speech: nearSpeech, atSeconds: 3, levelDb: -26 });
    const b = makeScene(farSpeech, { delayMs: 150, rt60: 0.4, seed: 5 });
    const cut = 10 * RATE;
    const mic = new Float64Array(far.length);
    for (let i = 0; i < mic.length; i++) mic[i] = (i < cut ? a.mic[i]! : b.mic[i]!) / 32768;
    const est = track(far, mic);
    // Seconds 1..10: 60 ms, near-end speech at the echo's level from 3 s notwithstanding.
    for (const e of est.slice(1, 10)) expect(Math.abs(e! - 60)).toBeLessThanOrEqual(1);
    // The new delay is taken within 3 s and kept.
    for (const e of est.slice(13)) expect(Math.abs(e! - 150)).toBeLessThanOrEqual(1);
  });
});

// ---- the canceller ---------------------------------------------------------------------------------------------

describe('EchoCanceller', () => {
  for (const room of [
    { delayMs: 10, rt60: 0.2 },
    { delayMs: 80, rt60: 0.5 },
    { delayMs: 200, rt60: 0.8 },
  ]) {
    it(`cancels echo ≥ 20 dB after 1 s (delay ${room.delayMs} ms, RT60 ${room.rt60} s, clipping, noise)`, () => {
      const scene = makeScene(farSpeech, { ...room, seed: room.delayMs });
      const { out, aec } = runScene(scene);
      const windows = erleWindows(scene, out, 1);
      const linear = erleWindows(scene, runScene(scene, { suppression: false }).out, 3);
      console.log(
        `AEC delay ${room.delayMs} ms RT60 ${room.rt60} s: ERLE median ${median(windows).toFixed(1)} dB after 1 s, ` +
          `0.5 s windows from 1 s: ${windows
            .slice(0, 4)
            .map((v) => v.toFixed(0))
            .join(' ')} …; linear filter alone ${median(linear).toFixed(1)} dB after 3 s`,
      );
      expect(median(windows)).toBeGreaterThanOrEqual(20);
      expect(median(linear)).toBeGreaterThanOrEqual(10);
      expect(aec.stats.delayMs).not.toBeNull();
      expect(Math.abs(aec.stats.delayMs! - room.delayMs)).toBeLessThanOrEqual(1);
      expect(aec.stats.active).toBe(true);
      expect(aec.stats.erleDb).toBeGreaterThan(15);
    });
  }

  it('models a speaker that saturates: its echo is cancelled clearly better than by the linear filter alone', () => {
    // A light soft saturation, x / √(1 + (x/c)²) (−1.6 dB at the loudest peak), not the tanh of bench/echo-eval.ts:
    // the model is a polynomial, a copy of neither. A quiet room, so the noise does not cap what can be measured.
    const scene = makeScene(farSpeech, { delayMs: 80, rt60: 0.5, clip: 1.5, soft: true, noiseDb: -70, seed: 11 });
    const modelled = median(erleWindows(scene, runScene(scene, { suppression: false }).out, 3));
    const linear = median(erleWindows(scene, runScene(scene, { suppression: false, saturation: false }).out, 3));
    console.log(`AEC saturating speaker: linear filter ${linear.toFixed(1)} dB, with the saturation model ${modelled.toFixed(1)} dB`);
    expect(modelled).toBeGreaterThan(linear + 4);
  });

  it('does no harm on a speaker that hardly clips (the model does not drift into compression it cannot see)', () => {
    const scene = makeScene(farSpeech, { delayMs: 80, rt60: 0.5, clip: 0.9, noiseDb: -70, seed: 11 });
    const modelled = median(erleWindows(scene, runScene(scene, { suppression: false }).out, 3));
    const linear = median(erleWindows(scene, runScene(scene, { suppression: false, saturation: false }).out, 3));
    console.log(`AEC nearly linear speaker: linear filter ${linear.toFixed(1)} dB, with the saturation model ${modelled.toFixed(1)} dB`);
    expect(modelled).toBeGreaterThan(linear - 1);
  });

  it('keeps near-end speech during double talk and recovers afterwards', () => {
    const room = { delayMs: 80, rt60: 0.5, seed: 3 };
    const atSeconds = 6;
    const scene = makeScene(farSpeech, room, { speech: nearSpeech, atSeconds, levelDb: -26 });
    const echoOnly = makeScene(farSpeech, room);
    const { out } = runScene(scene);
    const a = atSeconds * RATE;
    const b = a + nearSpeech.length;
    // Where the talker is audible, the output keeps the near-end energy within 3 dB.
    let outEnergy = 0;
    let nearEnergy = 0;
    for (let s = a; s < b; s += 256) {
      if (rms(scene.near, s, s + 256) < 10 ** (-50 / 20)) continue;
      outEnergy += rms(out, s, s + 256) ** 2;
      nearEnergy += rms(scene.near, s, s + 256) ** 2;
    }
    const kept = 10 * Math.log10(outEnergy / nearEnergy);
    // The filter did not diverge: once the talker stops, cancellation is about as good as without double talk.
    const after = median(erleWindows(scene, out, b / RATE + 0.5));
    const reference = median(erleWindows(echoOnly, runScene(echoOnly).out, b / RATE + 0.5));
    console.log(`AEC double talk at 0 dB echo-to-speech: near-end kept at ${kept.toFixed(1)} dB; ERLE after it ${after.toFixed(1)} dB (echo only ${reference.toFixed(1)} dB)`);
    expect(Math.abs(kept)).toBeLessThan(3);
    expect(after).toBeGreaterThan(reference - 5);
    expect(after).toBeGreaterThan(18);
  });

  it('keeps cancelling the next reply after the user barged in (their first words never reach the foreground)', async () => {
    // A reply the user talks over, cut 350 ms later (the sink reporting silence from then on), the answer 2 s after.
    const reply = (await readWav(synth('I can run the tests, tell you the git status, what changed, or read you the last commit.'))).samples;
    const answer = (await readWav(synth("It's 10:46 PM."))).samples;
    const command = (await readWav(phrase('what time is it', { engine: 'flite', voice: 'rms' }))).samples;
    const onset = Math.round(1.5 * RATE);
    const next = onset + Math.round(2.35 * RATE);
    const far = new Int16Array(next + answer.length + RATE);
    far.set(reply.subarray(0, onset + Math.round(0.35 * RATE)));
    far.set(answer, next);
    const { delay, taps } = roomImpulseResponse({ delayMs: 60, rt60Ms: 400, gainDb: -12, seed: 7 });
    const echo = convolve(toFloat(far), Float64Array.from(taps), delay, far.length);
    const run = (withCommand: boolean, options: EchoCancellerOptions = {}) => {
      const mic = Float64Array.from(echo);
      if (withCommand) for (let i = 0; i < command.length; i++) mic[onset + i]! += (0.5 * command[i]!) / 32768;
      const scene = { far, echo, near: new Float64Array(far.length), mic: toInt16(mic) };
      return median(erleWindows(scene, runScene(scene, options, { leadMs: 0 }).out, next / RATE + 0.2));
    };
    // The filters themselves (no suppressor to cover for them) do about as well as without the barge-in.
    const linear = run(true, { suppression: false });
    const linearReference = run(false, { suppression: false });
    const after = run(true);
    console.log(
      `AEC the answer after a barge-in: ERLE ${after.toFixed(1)} dB; linear filter ${linear.toFixed(1)} dB (without the barge-in ${linearReference.toFixed(1)} dB)`,
    );
    expect(linear).toBeGreaterThan(linearReference - 6);
    expect(after).toBeGreaterThan(35);
  });

  for (const mutedStart of [false, true]) {
    it(`gives the recognizer the words and the room, the echo taken down to the noise floor and no further${mutedStart ? ' (the microphone starting in digital silence)' : ''}`, () => {
      const room = { delayMs: 80, rt60: 0.5, noiseDb: -55, seed: 5 };
      const atSeconds = 6;
      const scene = makeScene(farSpeech, room, { speech: nearSpeech, atSeconds, levelDb: -26 });
      if (mutedStart) scene.mic.fill(0, 0, RATE / 2);
      const { out, recognizer } = runScene(scene);
      const noise = 10 ** (-55 / 20);
      const a = atSeconds * RATE;
      const b = a + nearSpeech.length;
      // Echo alone after the first seconds: 20 ms windows where the echo is well above the noise.
      const under = (x: Float64Array) => {
        const levels: number[] = [];
        for (let s = 2 * RATE; s + 320 < x.length - 512; s += 320) {
          if ((s >= a - RATE / 2 && s < b + RATE / 2) || rms(scene.echo, s, s + 320) < 10 * noise) continue;
          levels.push(db(rms(x, s, s + 320) / noise));
        }
        return median(levels);
      };
      const recognizerVsNoise = under(recognizer);
      const cleanedVsNoise = under(out);
      // Over the talker, both keep the words; the recognizer's copy does not lose more of them.
      let keptCleaned = 0;
      let keptRecognizer = 0;
      let nearEnergy = 0;
      for (let s = a; s < b; s += 256) {
        if (rms(scene.near, s, s + 256) < 10 ** (-50 / 20)) continue;
        keptCleaned += rms(out, s, s + 256) ** 2;
        keptRecognizer += rms(recognizer, s, s + 256) ** 2;
        nearEnergy += rms(scene.near, s, s + 256) ** 2;
      }
      console.log(
        `AEC recognizer output: echo alone ${recognizerVsNoise.toFixed(1)} dB against the noise (cleaned ${cleanedVsNoise.toFixed(1)} dB); ` +
          `near-end kept at ${(10 * Math.log10(keptRecognizer / nearEnergy)).toFixed(1)} dB (cleaned ${(10 * Math.log10(keptCleaned / nearEnergy)).toFixed(1)} dB)`,
      );
      // The echo goes down to the noise floor (the noise's quiet moments, some 6 dB under its mean), and no further.
      expect(recognizerVsNoise).toBeGreaterThan(-9);
      expect(recognizerVsNoise).toBeLessThan(-3);
      expect(cleanedVsNoise).toBeLessThan(recognizerVsNoise - 4);
      expect(keptRecognizer).toBeGreaterThanOrEqual(keptCleaned);
      expect(Math.abs(10 * Math.log10(keptRecognizer / nearEnergy))).toBeLessThan(3);
    });
  }

  it('passes the microphone through untouched (one block late) when nothing was played', () => {
    const r = rng(7);
    const mic = Int16Array.from({ length: RATE * 3 }, () => Math.round((r() - 0.5) * 2000));
    const aec = new EchoCanceller();
    const out = new Int16Array(mic.length);
    const forRecognizer = new Int16Array(mic.length);
    for (let s = 0; s < mic.length; s += 480) out.set(aec.process(mic.subarray(s, s + 480), s / 16, forRecognizer.subarray(s, s + 480)), s);
    expect(out.subarray(0, 256).every((v) => v === 0)).toBe(true);
    expect(differences(out.subarray(256), mic.subarray(0, mic.length - 256))).toBe(0);
    expect(differences(forRecognizer, out)).toBe(0);
    expect(aec.stats).toEqual({ delayMs: null, erleDb: 0, doubleTalk: false, active: false, referenceLate: false });
  });

  it('goes back to passing the microphone through once the echo tail is over', () => {
    const far = new Int16Array(6 * RATE);
    far.set(farSpeech.subarray(0, 3 * RATE));
    const scene = makeScene(far, { delayMs: 50, rt60: 0.3 });
    const { raw, aec } = runScene(scene);
    expect(aec.stats.active).toBe(false);
    // From max delay + tail + a block after the playback ended, the output is the microphone, one block late.
    const from = 3 * RATE + Math.round(0.7 * RATE);
    expect(differences(raw.subarray(from + 256), scene.mic.subarray(from, raw.length - 256))).toBe(0);
  });

  it('gives the same output whatever the frame sizes and the timeline origin', () => {
    const scene = makeScene(farSpeech.subarray(0, 6 * RATE), { delayMs: 40, rt60: 0.4 });
    const r = rng(11);
    const random = Array.from({ length: 200 }, () => 1 + Math.floor(r() * 900));
    const a = runScene(scene, {}, { frames: [320] }).raw;
    expect(differences(runScene(scene, {}, { frames: random }).raw, a)).toBe(0);
    expect(differences(runScene(scene, {}, { frames: [scene.mic.length] }).raw, a)).toBe(0);
    // Wall-clock timestamps (ms since 1970) put the sample indices beyond 2^31.
    expect(differences(runScene(scene, {}, { frames: [160], t0Ms: 1_700_000_000_000 }).raw, a)).toBe(0);
  });

  it('copes with playback reported after the microphone frames it affects', () => {
    const scene = makeScene(farSpeech, { delayMs: 10, rt60: 0.3, seed: 9 });
    const { out } = runScene(scene, {}, { leadMs: -40 });
    const erle = median(erleWindows(scene, out, 2));
    console.log(`AEC playback reported 40 ms late: ERLE median ${erle.toFixed(1)} dB`);
    expect(erle).toBeGreaterThan(15);
  });

  it('re-anchors on dropped microphone audio, even less than a block of it', () => {
    const scene = makeScene(farSpeech.subarray(0, 8 * RATE), { delayMs: 60, rt60: 0.4, seed: 4 });
    const aec = new EchoCanceller();
    aec.playback(scene.far, 0);
    const gapAt = 4 * RATE;
    const gap = 185; // 11.6 ms: what a short last frame followed by frames on the old grid used to leave out
    const out = new Float64Array(scene.mic.length);
    for (let s = 0; s < scene.mic.length; ) {
      if (s === gapAt) s += gap;
      const end = Math.min(s + 320, s < gapAt ? gapAt : scene.mic.length);
      const cleaned = aec.process(scene.mic.subarray(s, end), s / 16);
      // Undo the canceller's one block of latency (the gap is short of a block, so this is off by at most a block).
      for (let i = 0; i < cleaned.length; i++) if (s + i - 256 >= 0) out[s + i - 256] = cleaned[i]! / 32768;
      s = end;
    }
    const after = Math.min(...erleWindows(scene, out, gapAt / RATE + 0.05).slice(0, 4));
    console.log(`AEC after ${gap} samples of microphone audio were dropped: ERLE ${after.toFixed(1)} dB in the worst 0.5 s window of the 2 s after`);
    expect(after).toBeGreaterThan(20);
  });

  it('reset() forgets everything', () => {
    const scene = makeScene(farSpeech.subarray(0, 4 * RATE), { delayMs: 30, rt60: 0.3 });
    const fresh = runScene(scene).raw;
    const { aec } = runScene(scene);
    aec.reset();
    expect(aec.stats).toEqual({ delayMs: null, erleDb: 0, doubleTalk: false, active: false, referenceLate: false });
    // Same feeding as runScene's: 100 ms pieces of playback 200 ms ahead, 320-sample frames.
    const again = new Int16Array(scene.mic.length);
    let played = 0;
    for (let s = 0; s < scene.mic.length; s += 320) {
      while (played < scene.far.length && played <= s + 320 + 3200) {
        aec.playback(scene.far.subarray(played, played + 1600), played / 16);
        played += 1600;
      }
      again.set(aec.process(scene.mic.subarray(s, s + 320), s / 16), s);
    }
    expect(differences(again, fresh)).toBe(0);
  });

  it('rejects unsupported options', () => {
    expect(() => new EchoCanceller({ sampleRate: 48_000 })).toThrow(/16000/);
    expect(() => new EchoCanceller({ blockSize: 300 })).toThrow(/power of two/);
    expect(() => new EchoCanceller({ tailMs: 0 })).toThrow(/tailMs/);
    expect(() => new EchoCanceller().process(new Int16Array(320), 0, new Int16Array(160))).toThrow(/forRecognizer must hold 320 samples/);
  });

  it('stays within its CPU budget (60 s of echo)', () => {
    const far = new Int16Array(60 * RATE);
    for (let s = 0; s < far.length; s += farSpeech.length) far.set(farSpeech.subarray(0, Math.min(farSpeech.length, far.length - s)), s);
    const scene = makeScene(far, { delayMs: 120, rt60: 0.6 });
    const { cpuPerSecond } = runScene(scene);
    const idle = runScene({ ...scene, far: new Int16Array(0) }).cpuPerSecond;
    console.log(`AEC CPU: ${cpuPerSecond.toFixed(4)} s per audio second while cancelling, ${idle.toFixed(5)} passing through`);
    expect(cpuPerSecond).toBeLessThan(0.15);
    expect(idle).toBeLessThan(0.01);
  });
});

describe('EchoCanceller late playback reports', () => {
  it('says when the microphone heard playback before it was reported (its echo went through uncancelled)', () => {
    const r = rng(5);
    const far = Int16Array.from({ length: RATE * 2 }, () => Math.round((r() - 0.5) * 8000));
    const mic = new Int16Array(far.length);
    for (let i = 800; i < mic.length; i++) mic[i] = Math.round(far[i - 800]! * 0.3); // 50 ms to the microphone
    const lateShare = (framesLate: number) => {
      const aec = new EchoCanceller();
      let late = 0;
      let frames = 0;
      for (let k = 0; k * 320 < far.length + framesLate * 320; k++) {
        const reported = k - framesLate;
        if (framesLate === 0 && k * 320 < far.length) aec.playback(far.subarray(k * 320, k * 320 + 320), k * 20);
        if (k * 320 < mic.length) aec.process(mic.subarray(k * 320, k * 320 + 320), k * 20);
        if (framesLate > 0 && reported >= 0 && reported * 320 < far.length) aec.playback(far.subarray(reported * 320, reported * 320 + 320), reported * 20);
        if (k >= 25 && k * 320 < mic.length - 320) {
          frames += 1;
          if (aec.stats.referenceLate) late += 1;
        }
      }
      return late / frames;
    };
    expect(lateShare(0)).toBe(0);
    expect(lateShare(5)).toBeGreaterThan(0.9); // 100 ms late, past the 50 ms acoustic delay
  });
});
