import { describe, expect, it } from 'vitest';
import { EchoCanceller } from '../../src/audio/aec/echo-canceller.js';
import { RealFft } from '../../src/audio/aec/fft.js';
import { EchoRoom } from '../../src/audio/room.js';

function noise(length: number, seed: number, amplitude = 8000): Int16Array {
  let s = seed >>> 0;
  return Int16Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.round((s / 4294967296 - 0.5) * 2 * amplitude);
  });
}

describe('the real FFT', () => {
  it('matches a naive DFT in its packed layout and inverts exactly', () => {
    for (const n of [8, 64, 512]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13 - 0.5);
      const data = Float64Array.from(x);
      new RealFft(n).forward(data);
      const re = (k: number) => x.reduce((sum, v, j) => sum + v * Math.cos((2 * Math.PI * j * k) / n), 0);
      const im = (k: number) => x.reduce((sum, v, j) => sum - v * Math.sin((2 * Math.PI * j * k) / n), 0);
      expect(data[0]).toBeCloseTo(re(0), 9);
      expect(data[1]).toBeCloseTo(re(n / 2), 9);
      for (let k = 1; k < n / 2; k++) {
        expect(data[2 * k]).toBeCloseTo(re(k), 9);
        expect(data[2 * k + 1]).toBeCloseTo(im(k), 9);
      }
      new RealFft(n).inverse(data);
      for (let i = 0; i < n; i++) expect(data[i]).toBeCloseTo(x[i]!, 12);
    }
    expect(() => new RealFft(12)).toThrow(RangeError);
  });
});

describe('the echo canceller', () => {
  it('passes the microphone through, one block late, when nothing was played', () => {
    const mic = noise(16_000, 1);
    const aec = new EchoCanceller({ blockSize: 256 });
    const out = new Int16Array(mic.length);
    for (let i = 0; i < mic.length; i += 320) out.set(aec.process(mic.subarray(i, i + 320), i / 16), i);
    expect(out.subarray(0, 256).every((s) => s === 0)).toBe(true);
    expect(out.subarray(256)).toEqual(mic.subarray(0, mic.length - 256));
    expect(aec.stats.active).toBe(false);
  });

  it('gives the same output whatever the frame size', () => {
    const played = noise(48_000, 2);
    const room = (frames: number) => {
      const r = new EchoRoom({ delayMs: 80, rt60Ms: 300, gainDb: -10, seed: 3 });
      const aec = new EchoCanceller();
      const out = new Int16Array(played.length);
      // the reference and the echo, frame by frame, on one timeline
      for (let i = 0; i < played.length; i += frames) {
        const piece = played.subarray(i, i + frames);
        r.play(piece, i / 16);
        aec.playback(piece, i / 16);
        out.set(aec.process(r.mix(new Int16Array(piece.length), i / 16), i / 16), i);
      }
      return out;
    };
    expect(room(160)).toEqual(room(1280));
  });

  it('finds the speaker → microphone delay and removes most of the echo of broadband sound within a second', () => {
    const played = noise(16_000 * 4, 4);
    const r = new EchoRoom({ delayMs: 120, rt60Ms: 300, gainDb: -8, seed: 5 });
    const aec = new EchoCanceller();
    let micEnergy = 0;
    let outEnergy = 0;
    for (let i = 0; i < played.length; i += 320) {
      const piece = played.subarray(i, i + 320);
      r.play(piece, i / 16);
      aec.playback(piece, i / 16);
      const mic = r.mix(new Int16Array(320), i / 16);
      const out = aec.process(mic, i / 16);
      if (i >= 16_000) {
        for (const s of mic) micEnergy += s * s;
        for (const s of out) outEnergy += s * s;
      }
    }
    expect(aec.stats.delayMs).toBeGreaterThan(100);
    expect(aec.stats.delayMs).toBeLessThan(140);
    expect(10 * Math.log10(micEnergy / outEnergy)).toBeGreaterThan(20);
  });
});
