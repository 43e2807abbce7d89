import { describe, expect, it } from 'vitest';
import {
  StreamingResampler,
  floatToInt16,
  int16ToFloat,
  resampleFloat,
  resampleInt16,
} from '../../src/audio/resample.js';

function tone(freq: number, rate: number, n: number, amp = 0.5, phase = 0): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate + phase);
  return x;
}

/** RMS ignoring `skip` samples at both ends, where the one-shot filter sees the implicit silence around the signal. */
function rms(y: Float32Array, skip = 300): number {
  let sum = 0;
  for (let i = skip; i < y.length - skip; i++) sum += y[i]! * y[i]!;
  return Math.sqrt(sum / (y.length - 2 * skip));
}

function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

/** Deterministic noise so failures reproduce. */
function noise(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

function randomChunks(total: number, seed: number): number[] {
  let s = seed >>> 0;
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const pick = s % 7 === 0 ? 0 : s % 5 === 0 ? 1 : s % 3000;
    const size = Math.min(left, pick);
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

function streamed(r: StreamingResampler, x: Float32Array, sizes: number[]): Float32Array {
  const parts: Float32Array[] = [];
  let at = 0;
  for (const size of sizes) {
    parts.push(r.process(x.subarray(at, at + size)));
    at += size;
  }
  parts.push(r.flush());
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bit-exact comparison that reports the first difference (toEqual is slow on long typed arrays). */
function expectIdentical(actual: Float32Array, expected: Float32Array, label = ''): void {
  expect(actual.length, label).toBe(expected.length);
  const i = actual.findIndex((v, k) => !Object.is(v, expected[k]));
  expect(i === -1 ? 'identical' : `differs at ${i}: ${actual[i]} vs ${expected[i]}`, label).toBe('identical');
}

const DOWN_RATES = [44_100, 48_000, 22_050, 24_000, 32_000, 96_000];

describe('resampleFloat', () => {
  it('is the identity (a copy) when the rates are equal', () => {
    const x = noise(1000);
    const y = resampleFloat(x, 16_000, 16_000);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
    const r = new StreamingResampler(16_000, 16_000);
    expect(r.process(x)).toEqual(x);
    expect(r.flush().length).toBe(0);
    expect(r.latencyMs).toBe(0);
  });

  it('produces ceil(n·out/in) samples', () => {
    const pairs: [number, number][] = [
      [44_100, 16_000], [48_000, 16_000], [24_000, 16_000], [8_000, 16_000], [22_050, 16_000], [16_000, 48_000], [11_025, 16_000],
    ];
    for (const [inRate, outRate] of pairs) {
      for (const n of [0, 1, 2, 7, 441, 1000, 44_101]) {
        expect(resampleFloat(new Float32Array(n), inRate, outRate).length, `${inRate}→${outRate}, n=${n}`).toBe(
          Math.ceil((n * outRate) / inRate),
        );
      }
    }
    expect(resampleFloat(new Float32Array(44_100), 44_100, 16_000).length).toBe(16_000);
  });

  it('passes in-band tones (100 Hz – 6 kHz) within ±0.1 dB', () => {
    for (const inRate of [...DOWN_RATES, 8_000, 11_025]) {
      for (const f of [100, 300, 1000, 3000, 4500, 6000]) {
        if (f > 0.8 * Math.min(inRate, 16_000) / 2) continue;
        const y = resampleFloat(tone(f, inRate, inRate / 2), inRate, 16_000);
        expect(Math.abs(db(rms(y) / (0.5 / Math.SQRT2))), `${f} Hz at ${inRate}`).toBeLessThan(0.1);
      }
    }
  });

  it('suppresses tones above the output Nyquist (8.5 kHz and up) by more than 60 dB', () => {
    let worst = -Infinity;
    for (const inRate of DOWN_RATES) {
      const ref = rms(resampleFloat(tone(1000, inRate, inRate / 2), inRate, 16_000));
      for (let f = 8500; f < Math.min(inRate / 2, 20_001); f += 500) {
        const level = db(rms(resampleFloat(tone(f, inRate, inRate / 2), inRate, 16_000)) / ref);
        worst = Math.max(worst, level);
        expect(level, `${f} Hz at ${inRate}`).toBeLessThan(-60);
      }
    }
    expect(worst).toBeLessThan(-60);
  });

  it('keeps the output time-aligned with the input (no group delay)', () => {
    for (const inRate of [...DOWN_RATES, 8_000, 11_025]) {
      const n = inRate / 4;
      const y = resampleFloat(tone(440, inRate, n, 0.5, 0.3), inRate, 16_000);
      const ideal = tone(440, 16_000, y.length, 0.5, 0.3);
      let maxErr = 0;
      for (let i = 300; i < y.length - 300; i++) maxErr = Math.max(maxErr, Math.abs(y[i]! - ideal[i]!));
      expect(maxErr, `${inRate}`).toBeLessThan(1e-3);
    }
  });

  it('upsamples without images: 16 kHz → 48 kHz and 8 kHz → 16 kHz match the ideal tone', () => {
    for (const [inRate, outRate, f] of [[16_000, 48_000, 1000], [16_000, 48_000, 6500], [8_000, 16_000, 3000], [16_000, 44_100, 5000]] as const) {
      const y = resampleFloat(tone(f, inRate, inRate / 2), inRate, outRate);
      const ideal = tone(f, outRate, y.length);
      const residual = new Float32Array(y.length);
      for (let i = 0; i < y.length; i++) residual[i] = y[i]! - ideal[i]!;
      expect(db(rms(residual, 600) / rms(ideal, 600)), `${f} Hz ${inRate}→${outRate}`).toBeLessThan(-60);
    }
  });

  it('has unit gain at DC on every phase', () => {
    for (const [inRate, outRate] of [[22_050, 16_000], [44_100, 16_000], [8_000, 16_000], [16_000, 48_000]] as const) {
      const y = resampleFloat(new Float32Array(inRate).fill(0.5), inRate, outRate);
      let maxErr = 0;
      for (let i = 300; i < y.length - 300; i++) maxErr = Math.max(maxErr, Math.abs(y[i]! - 0.5));
      expect(maxErr, `${inRate}→${outRate}`).toBeLessThan(1e-6);
    }
  });

  it('handles rate pairs whose phase table would be huge (interpolated phases)', () => {
    const inRate = 44_100;
    const outRate = 16_001;
    const pass = rms(resampleFloat(tone(1000, inRate, inRate / 2), inRate, outRate));
    expect(Math.abs(db(pass / (0.5 / Math.SQRT2)))).toBeLessThan(0.1);
    const alias = rms(resampleFloat(tone(12_000, inRate, inRate / 2), inRate, outRate));
    expect(db(alias / pass)).toBeLessThan(-60);
    const x = noise(20_000, 7);
    expectIdentical(streamed(new StreamingResampler(inRate, outRate), x, randomChunks(x.length, 3)), resampleFloat(x, inRate, outRate));
  });

  it('rejects impossible rates and options', () => {
    for (const bad of [0, -8000, 1.5, Number.NaN]) {
      expect(() => new StreamingResampler(bad, 16_000)).toThrow(RangeError);
      expect(() => new StreamingResampler(16_000, bad)).toThrow(RangeError);
      expect(() => resampleFloat(new Float32Array(1), bad, bad)).toThrow(RangeError);
    }
    expect(() => new StreamingResampler(48_000, 16_000, { passband: 1 })).toThrow(RangeError);
    expect(() => new StreamingResampler(48_000, 16_000, { attenuationDb: 5 })).toThrow(RangeError);
  });

  it('is fast enough for live audio (10 s of 48 kHz in well under a second)', () => {
    const x = noise(480_000);
    const t0 = performance.now();
    resampleFloat(x, 48_000, 16_000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('StreamingResampler', () => {
  const pairs: [number, number][] = [
    [44_100, 16_000], [48_000, 16_000], [24_000, 16_000], [8_000, 16_000], [22_050, 16_000], [16_000, 48_000], [96_000, 16_000],
  ];

  it('gives exactly the one-shot result over random chunk sizes', () => {
    for (const [inRate, outRate] of pairs) {
      const x = noise(30_000, inRate);
      const oneShot = resampleFloat(x, inRate, outRate);
      for (const seed of [1, 2, 3]) {
        const y = streamed(new StreamingResampler(inRate, outRate), x, randomChunks(x.length, seed * inRate));
        expectIdentical(y, oneShot, `${inRate}→${outRate} seed ${seed}`);
      }
    }
  });

  it('also matches one sample at a time', () => {
    const x = noise(3000, 9);
    const sizes = new Array<number>(x.length).fill(1);
    expectIdentical(streamed(new StreamingResampler(44_100, 16_000), x, sizes), resampleFloat(x, 44_100, 16_000));
  });

  it('holds back no more than its latency', () => {
    for (const [inRate, outRate] of pairs) {
      const r = new StreamingResampler(inRate, outRate);
      expect(r.latencyMs).toBeGreaterThan(0);
      expect(r.latencyMs).toBeLessThan(5);
      const n = 10_000;
      const got = r.process(noise(n)).length;
      const heldInput = (r.latencyMs * inRate) / 1000;
      expect(got).toBeGreaterThanOrEqual(Math.floor(((n - heldInput) * outRate) / inRate) - 1);
      expect(got).toBeLessThanOrEqual(Math.ceil((n * outRate) / inRate));
    }
  });

  it('starts a fresh stream after flush() and after reset()', () => {
    const x = noise(5000, 4);
    const expected = resampleFloat(x, 48_000, 16_000);
    const r = new StreamingResampler(48_000, 16_000);
    expectIdentical(streamed(r, x, [1234, 3766]), expected);
    expectIdentical(streamed(r, x, [5000]), expected);
    r.process(noise(777, 5));
    r.reset();
    expectIdentical(streamed(r, x, [10, 4990]), expected);
  });
});

describe('resampleInt16', () => {
  it('resamples, rounds and clips to the int16 range', () => {
    const square = new Int16Array(4410);
    for (let i = 0; i < square.length; i++) square[i] = Math.floor(i / 50) % 2 === 0 ? 32767 : -32768;
    const y = resampleInt16(square, 44_100, 16_000);
    expect(y).toBeInstanceOf(Int16Array);
    expect(y.length).toBe(1600);
    // The band-limited square overshoots (Gibbs), so clipping must have happened at both rails.
    expect(y.includes(32767)).toBe(true);
    expect(y.includes(-32768)).toBe(true);
  });

  it('matches the float path on an ordinary signal', () => {
    const x = floatToInt16(tone(700, 48_000, 4800));
    const viaFloat = floatToInt16(resampleFloat(int16ToFloat(x), 48_000, 16_000));
    const direct = resampleInt16(x, 48_000, 16_000);
    let maxDiff = 0;
    for (let i = 0; i < direct.length; i++) maxDiff = Math.max(maxDiff, Math.abs(direct[i]! - viaFloat[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(resampleInt16(x, 16_000, 16_000)).toEqual(x);
  });
});

describe('sample conversion', () => {
  it('int16 → float → int16 is exact', () => {
    const x = new Int16Array([-32768, -1, 0, 1, 12345, 32767]);
    expect(floatToInt16(int16ToFloat(x))).toEqual(x);
  });

  it('clips out-of-range floats and maps NaN to 0', () => {
    expect(Array.from(floatToInt16(new Float32Array([1.5, -1.5, 1, -1, Number.NaN, 0.5])))).toEqual([
      32767, -32768, 32767, -32768, 0, 16384,
    ]);
  });
});
