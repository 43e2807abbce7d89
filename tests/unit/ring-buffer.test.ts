import { describe, expect, it } from 'vitest';
import { PreRollBuffer, preRollSamples } from '../../src/audio/ring-buffer.js';

function ramp(n: number, start = 0): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = (start + i) % 30000;
  return x;
}

describe('preRollSamples', () => {
  it('converts milliseconds to samples', () => {
    expect(preRollSamples(500)).toBe(8000);
    expect(preRollSamples(500, 48_000)).toBe(24_000);
    expect(preRollSamples(10)).toBe(160);
  });
});

describe('PreRollBuffer', () => {
  it('keeps everything until it is full, oldest first', () => {
    const b = new PreRollBuffer(10);
    expect(b.length).toBe(0);
    expect(b.snapshot().length).toBe(0);
    b.push(ramp(3));
    b.push(ramp(4, 3));
    expect(b.length).toBe(7);
    expect(Array.from(b.snapshot())).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('wraps around and keeps only the newest `capacity` samples', () => {
    const b = new PreRollBuffer(10);
    b.push(ramp(7));
    b.push(ramp(6, 7));
    expect(b.length).toBe(10);
    expect(Array.from(b.snapshot())).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    b.push(ramp(9, 13));
    expect(Array.from(b.snapshot())).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
  });

  it('takes the tail of a push larger than its capacity', () => {
    const b = new PreRollBuffer(8000);
    b.push(ramp(100));
    b.push(ramp(20_000, 100));
    expect(b.length).toBe(8000);
    expect(b.snapshot()).toEqual(ramp(8000, 12_100));
  });

  it('matches a naive model over random pushes', () => {
    let s = 42;
    const next = (max: number): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s % (max + 1);
    };
    const cap = 8000;
    const b = new PreRollBuffer(cap);
    let all: number[] = [];
    let t = 0;
    for (let round = 0; round < 300; round++) {
      const n = next(round % 50 === 0 ? 20_000 : 700);
      b.push(ramp(n, t));
      for (let i = 0; i < n; i++) all.push((t + i) % 30000);
      t += n;
      all = all.slice(-cap);
      expect(b.length).toBe(all.length);
      if (round % 10 === 0) expect(Array.from(b.snapshot())).toEqual(all);
    }
    expect(Array.from(b.snapshot())).toEqual(all);
  });

  it('returns a copy, and clear() empties it', () => {
    const b = new PreRollBuffer(4);
    b.push(new Int16Array([1, 2, 3]));
    const snap = b.snapshot();
    snap.fill(9);
    expect(Array.from(b.snapshot())).toEqual([1, 2, 3]);
    b.clear();
    expect(b.length).toBe(0);
    expect(b.snapshot().length).toBe(0);
    b.push(new Int16Array([5]));
    expect(Array.from(b.snapshot())).toEqual([5]);
  });

  it('rejects a capacity that is not a positive integer', () => {
    for (const bad of [0, -5, 2.5]) expect(() => new PreRollBuffer(bad)).toThrow(RangeError);
  });
});
