import { describe, expect, it } from 'vitest';
import { Rechunker } from '../../src/audio/rechunk.js';

function ramp(n: number, start = 0): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = ((start + i) % 65536) - 32768;
  return x;
}

function rng(seed: number): (max: number) => number {
  let s = seed >>> 0;
  return (max) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % (max + 1);
  };
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('Rechunker', () => {
  it('turns random chunk sizes into fixed windows with nothing lost or duplicated', () => {
    for (const size of [1, 160, 512, 1280, 1281]) {
      for (const seed of [1, 2, 3]) {
        const next = rng(seed * 1000 + size);
        const input = ramp(50_000 + next(3000));
        const r = new Rechunker(size);
        const out: Int16Array[] = [];
        let pushed = 0;
        while (pushed < input.length) {
          const n = Math.min(input.length - pushed, next(4) === 0 ? 0 : next(Math.max(3 * size, 64)));
          const windows = r.push(input.subarray(pushed, pushed + n));
          pushed += n;
          expect(windows.every((w) => w.length === size)).toBe(true);
          out.push(...windows);
          expect(r.pending).toBe(pushed - out.length * size);
          expect(r.position).toBe(out.length * size);
          expect(r.pending).toBeLessThan(size);
        }
        const tail = r.flush();
        expect(tail === null).toBe(input.length % size === 0);
        if (tail) out.push(tail);
        expect(r.position).toBe(input.length);
        expect(r.pending).toBe(0);
        const joined = concat(out);
        expect(joined.length).toBe(input.length);
        expect(joined.every((v, i) => v === input[i])).toBe(true);
      }
    }
  });

  it('emits several windows from one big push and keeps the remainder', () => {
    const r = new Rechunker(100);
    const windows = r.push(ramp(350));
    expect(windows.map((w) => w.length)).toEqual([100, 100, 100]);
    expect(windows[2]![0]).toBe(ramp(1, 200)[0]);
    expect(r.pending).toBe(50);
    expect(r.push(ramp(49, 350))).toEqual([]);
    const next = r.push(ramp(1, 399));
    expect(next).toHaveLength(1);
    expect(next[0]).toEqual(ramp(100, 300));
  });

  it('returns windows that do not alias the caller’s buffers', () => {
    const r = new Rechunker(4);
    const input = new Int16Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const windows = r.push(input);
    input.fill(0);
    expect(windows.map((w) => Array.from(w))).toEqual([[1, 2, 3, 4], [5, 6, 7, 8]]);
    expect(Array.from(r.flush() ?? [])).toEqual([9]);
  });

  it('flushes the partial window as is, or zero-padded on request', () => {
    const r = new Rechunker(5);
    r.push(new Int16Array([1, 2, 3]));
    expect(Array.from(r.flush()!)).toEqual([1, 2, 3]);
    expect(r.flush()).toBeNull();
    expect(r.position).toBe(3);
    r.push(new Int16Array([4, 5]));
    expect(Array.from(r.flush({ pad: true })!)).toEqual([4, 5, 0, 0, 0]);
    expect(r.position).toBe(5); // padding is not counted as input
  });

  it('reset() drops pending samples and restarts the position', () => {
    const r = new Rechunker(4);
    r.push(ramp(6));
    r.reset();
    expect(r.pending).toBe(0);
    expect(r.position).toBe(0);
    expect(r.push(ramp(4, 100))[0]).toEqual(ramp(4, 100));
  });

  it('rejects a size that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new Rechunker(bad)).toThrow(RangeError);
  });
});
