import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as wallSleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, createMachine, waitFor } from 'xstate';
import { realClock, scaledClock } from '../../src/clock.js';
import { EARCON_PEAK_DBFS, earcon, type EarconKind } from '../../src/audio/earcons.js';
import type { AudioFrame, AudioSource } from '../../src/audio/frame.js';
import { AudioHub } from '../../src/audio/hub.js';
import { PacedSink } from '../../src/audio/sinks/paced.js';
import { TimelineWavWriter } from '../../src/audio/sinks/timeline-wav.js';
import { readWav } from '../../src/audio/wav.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kai-hub-pacing-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Distinct, never-zero sample values, so loss, reordering or misplacement shows. */
function ramp(n: number, start = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = (((start + i) * 37) % 30000) + 1;
  return out;
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

const FRAME = 160; // 10 ms

/** `count` 10 ms frames of one continuous ramp, yielded with a macrotask between frames; optionally fails after. */
function rampSource(count: number, failWith?: Error): AudioSource {
  return {
    async *frames(signal: AbortSignal) {
      for (let k = 0; k < count && !signal.aborted; k++) {
        await wallSleep(0);
        yield { samples: ramp(FRAME, k * FRAME), sampleRate: 16_000, timestampMs: k * 10 };
      }
      if (failWith) throw failWith;
    },
  };
}

/** A source fed by hand: frames arrive exactly when the test pushes them. */
class PushSource implements AudioSource {
  private queue: AudioFrame[] = [];
  private done = false;
  private wake: (() => void) | null = null;
  private next = 0;

  push(count = 1): void {
    for (let i = 0; i < count; i++) {
      this.queue.push({ samples: ramp(FRAME, this.next * FRAME), sampleRate: 16_000, timestampMs: this.next * 10 });
      this.next += 1;
    }
    this.wake?.();
  }

  end(): void {
    this.done = true;
    this.wake?.();
  }

  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame> {
    while (!signal.aborted) {
      const frame = this.queue.shift();
      if (frame) {
        yield frame;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

async function settle(): Promise<void> {
  await wallSleep(5);
}

describe('AudioHub', () => {
  it('fans frames out synchronously, in arrival order, to every subscriber', async () => {
    const hub = new AudioHub(rampSource(20));
    const calls: string[] = [];
    const offA = hub.subscribe((f) => calls.push(`a${f.timestampMs}`));
    hub.subscribe((f) => calls.push(`b${f.timestampMs}`));
    const seen: AudioFrame[] = [];
    hub.subscribe((f) => {
      seen.push(f);
      if (f.timestampMs === 90) offA();
    });
    await hub.start(new AbortController().signal);
    const expected: string[] = [];
    for (let k = 0; k < 20; k++) {
      if (k <= 9) expected.push(`a${k * 10}`);
      expected.push(`b${k * 10}`);
    }
    expect(calls).toEqual(expected);
    expect(seen.map((f) => f.timestampMs)).toEqual(Array.from({ length: 20 }, (_, k) => k * 10));
    expect(concat(seen.map((f) => f.samples))).toEqual(ramp(20 * FRAME));
    expect(hub.nowMs).toBe(200);
  });

  it('replays history from fromMs exact to the sample, then live frames', async () => {
    const source = new PushSource();
    const hub = new AudioHub(source, { historyMs: 1000 });
    const ac = new AbortController();
    const running = hub.start(ac.signal);
    source.push(10);
    await settle();
    expect(hub.nowMs).toBe(100);

    // 33.0625 ms = sample 529.
    expect(hub.history(33.0625)).toEqual(ramp(1600).subarray(529));
    const got: AudioFrame[] = [];
    const consuming = (async () => {
      for await (const f of hub.frames(ac.signal, { fromMs: 33.0625 })) got.push(f);
    })();
    await settle();
    source.push(5);
    await settle();
    source.end();
    await running;
    await consuming;

    expect(got[0]!.timestampMs).toBeCloseTo(33.0625, 9);
    expect(got[0]!.samples.length).toBe(FRAME - 49);
    expect(got.slice(1).map((f) => f.timestampMs)).toEqual([40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140]);
    expect(concat(got.map((f) => f.samples))).toEqual(ramp(15 * FRAME).subarray(529));
  });

  it('starts at the oldest kept frame when fromMs is older than the history', async () => {
    const hub = new AudioHub(rampSource(30), { historyMs: 50 });
    await hub.start(new AbortController().signal);
    const got: AudioFrame[] = [];
    for await (const f of hub.frames(new AbortController().signal, { fromMs: 0 })) got.push(f);
    expect(got[0]!.timestampMs).toBeGreaterThanOrEqual(240);
    expect(got[0]!.timestampMs).toBeLessThanOrEqual(250);
    expect(got.at(-1)!.timestampMs).toBe(290);
    expect(hub.history(0)).toEqual(ramp(30 * FRAME).subarray(got[0]!.timestampMs * 16));
  });

  it('frames() without fromMs gives live frames only, none missed before iteration starts', async () => {
    const source = new PushSource();
    const hub = new AudioHub(source);
    const ac = new AbortController();
    const running = hub.start(ac.signal);
    source.push(3);
    await settle();
    const iterable = hub.frames(ac.signal);
    source.push(2); // arrives before the first next()
    await settle();
    source.end();
    const got: number[] = [];
    for await (const f of iterable) got.push(f.timestampMs);
    await running;
    expect(got).toEqual([30, 40]);
  });

  it('leaves no listener behind when a consumer stops early or the signal aborts', async () => {
    const source = new PushSource();
    const hub = new AudioHub(source);
    const ac = new AbortController();
    const running = hub.start(ac.signal);
    let n = 0;
    const early = (async () => {
      for await (const _ of hub.frames(ac.signal)) if (++n === 2) break;
    })();
    const consumerAc = new AbortController();
    const aborted = (async () => {
      for await (const _ of hub.frames(consumerAc.signal)) consumerAc.abort();
    })();
    await settle();
    expect(hub.subscriberCount).toBe(2);
    source.push(5);
    await early;
    await aborted;
    expect(n).toBe(2);
    expect(hub.subscriberCount).toBe(0);
    ac.abort(); // PushSource ignores the signal: start() must resolve anyway
    await running;
  });

  it('a source error rejects start() and ends frames() iterators with that error, after the frames before it', async () => {
    const boom = new Error('mic unplugged');
    const hub = new AudioHub(rampSource(3, boom));
    const ac = new AbortController();
    const got: number[] = [];
    const consuming = (async () => {
      for await (const f of hub.frames(ac.signal)) got.push(f.timestampMs);
    })();
    await expect(hub.start(ac.signal)).rejects.toBe(boom);
    await expect(consuming).rejects.toBe(boom);
    expect(got).toEqual([0, 10, 20]);
    // A late consumer gets the history, then the same error.
    const late = (async () => {
      for await (const _ of hub.frames(ac.signal, { fromMs: 0 })) {
        // drain
      }
    })();
    await expect(late).rejects.toBe(boom);
  });

  it('loses nothing for a slow consumer', async () => {
    const source = new PushSource();
    const hub = new AudioHub(source, { historyMs: 100 });
    const ac = new AbortController();
    const got: AudioFrame[] = [];
    const consuming = (async () => {
      for await (const f of hub.frames(ac.signal)) {
        got.push(f);
        await wallSleep(1);
      }
    })();
    const running = hub.start(ac.signal);
    source.push(300);
    source.end();
    await running;
    await consuming;
    expect(got.length).toBe(300);
    expect(concat(got.map((f) => f.samples))).toEqual(ramp(300 * FRAME));
  });

  it('maps clock time to stream time for a source paced on the same clock', async () => {
    // Speed 1: the estimate is off by the smallest delivery delay, which a scaled clock multiplies.
    const clock = scaledClock(1);
    let t0 = Number.NaN;
    const source: AudioSource = {
      async *frames(signal) {
        t0 = clock.now();
        for (let k = 0; k < 10 && !signal.aborted; k++) {
          await clock.sleep(t0 + (k + 1) * 10 - clock.now());
          yield { samples: ramp(FRAME), sampleRate: 16_000, timestampMs: k * 10 };
        }
      },
    };
    const hub = new AudioHub(source, { clock });
    await hub.start(new AbortController().signal);
    // Frames arrive at or after their end; the earliest arrival pins the offset.
    expect(hub.streamMsAt(t0 + 50)).toBeGreaterThan(40);
    expect(hub.streamMsAt(t0 + 50)).toBeLessThanOrEqual(50 + 1e-6);
  });
});

describe('scaledClock', () => {
  it('at speed 10 a 500 ms sleep takes about 50 ms of wall time', async () => {
    const clock = scaledClock(10);
    const wall = performance.now();
    const sim = clock.now();
    await clock.sleep(500);
    const wallMs = performance.now() - wall;
    expect(wallMs).toBeGreaterThanOrEqual(45);
    expect(wallMs).toBeLessThan(200);
    expect(clock.now() - sim).toBeGreaterThanOrEqual(500);
  });

  it('sleep rejects with the abort reason; cleared timeouts never fire', async () => {
    const clock = scaledClock(10);
    const ac = new AbortController();
    const sleeping = clock.sleep(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    let fired = false;
    clock.clearTimeout(clock.setTimeout(() => (fired = true), 50));
    await wallSleep(20);
    expect(fired).toBe(false);
    expect(() => scaledClock(0)).toThrow(RangeError);
  });

  it('drives XState delays', async () => {
    const machine = createMachine({ initial: 'a', states: { a: { after: { 500: 'b' } }, b: {} } });
    const wall = performance.now();
    const actor = createActor(machine, { clock: scaledClock(10) }).start();
    await waitFor(actor, (s) => s.matches('b'), { timeout: 1000 });
    expect(performance.now() - wall).toBeLessThan(300);
    createActor(machine, { clock: realClock }); // type-checks as an XState clock
  });
});

describe('PacedSink', () => {
  function frames(totalMs: number, frameMs = 20): AudioFrame[] {
    const n = frameMs * 16;
    return Array.from({ length: totalMs / frameMs }, (_, k) => ({
      samples: ramp(n, k * n),
      sampleRate: 16_000,
      timestampMs: k * frameMs,
    }));
  }

  it('plays 1 s in about 100 ms at speed 10, playedMs exact, output contiguous and complete', async () => {
    const clock = scaledClock(10);
    const pieces: { samples: Int16Array; at: number }[] = [];
    const played: number[] = [];
    const sink = new PacedSink({ clock, output: (f, at) => void pieces.push({ samples: f.samples, at }) });
    sink.onPlayed((s, at) => played.push(at));
    const wall = performance.now();
    for (const f of frames(1000)) await sink.write(f);
    await sink.drain();
    const wallMs = performance.now() - wall;
    expect(wallMs).toBeGreaterThanOrEqual(90);
    expect(wallMs).toBeLessThan(400);
    expect(sink.playedMs).toBe(1000);
    expect(concat(pieces.map((p) => p.samples))).toEqual(ramp(16_000));
    expect(played).toEqual(pieces.map((p) => p.at));
    // In order, never overlapping (a stall of the writer may leave an underrun gap).
    for (let i = 1; i < pieces.length; i++) {
      expect(pieces[i]!.at).toBeGreaterThanOrEqual(pieces[i - 1]!.at + pieces[i - 1]!.samples.length / 16 - 1e-6);
    }
    await sink.close();
  });

  it('clear() mid-way returns playedMs ≈ elapsed and nothing is output after it', async () => {
    const clock = scaledClock(10);
    let outSamples = 0;
    const ats: number[] = [];
    const sink = new PacedSink({
      clock,
      output: (f, at) => {
        // One write, so no underrun: play times are exactly contiguous.
        if (ats.length > 0) expect(at).toBeCloseTo(ats[0]! + outSamples / 16, 6);
        ats.push(at);
        outSamples += f.samples.length;
      },
    });
    const start = clock.now();
    const writing = sink.write({ samples: ramp(16_000), sampleRate: 16_000, timestampMs: 0 });
    await clock.sleep(300);
    const elapsed = clock.now() - start;
    const { playedMs } = sink.clear();
    expect(Math.abs(playedMs - elapsed)).toBeLessThan(25);
    expect(outSamples).toBe(playedMs * 16);
    await writing;
    await wallSleep(50);
    expect(outSamples).toBe(playedMs * 16);
    expect(sink.playedMs).toBe(playedMs);
    expect(sink.queuedMs).toBe(0);
    await sink.drain();
    await sink.close();
  });

  it('write() back-pressure keeps the queue under maxQueueMs', async () => {
    const clock = scaledClock(20);
    const sink = new PacedSink({ clock, maxQueueMs: 100 });
    let maxAfterWrite = 0;
    for (const f of frames(800)) {
      await sink.write(f);
      maxAfterWrite = Math.max(maxAfterWrite, sink.queuedMs);
    }
    expect(maxAfterWrite).toBeLessThan(100);
    expect(maxAfterWrite).toBeGreaterThan(50);
    await sink.drain();
    expect(sink.playedMs).toBe(800);
    await sink.close();
  });

  it('playDue() plays what is due at once, however late the tick (a simulated microphone captures after it)', async () => {
    // A busy event loop: the clock moves on, the sink's tick never runs.
    let now = 0;
    const stalled = { now: () => now, setTimeout: () => ({}), clearTimeout: () => {}, sleep: () => new Promise<void>(() => {}) };
    const played: { at: number; n: number }[] = [];
    const sink = new PacedSink({ clock: stalled });
    sink.onPlayed((samples, at) => played.push({ at, n: samples.length }));
    void sink.write({ samples: ramp(1600), sampleRate: 16_000, timestampMs: 0 });
    now = 30;
    expect(played).toEqual([]);
    sink.playDue();
    expect(played).toEqual([{ at: 0, n: 480 }]);
    now = 45;
    sink.playDue();
    expect(played).toEqual([{ at: 0, n: 480 }, { at: 30, n: 240 }]);
    await sink.close();
  });

  it('an underrun starts a new run: play times follow the clock, not the write order', async () => {
    const clock = scaledClock(20);
    const ats: number[] = [];
    const sink = new PacedSink({ clock, output: (_, at) => void ats.push(at) });
    const t0 = clock.now();
    await sink.write({ samples: ramp(1600), sampleRate: 16_000, timestampMs: 0 });
    await sink.drain();
    await clock.sleep(200);
    const t1 = clock.now();
    await sink.write({ samples: ramp(1600), sampleRate: 16_000, timestampMs: 0 });
    await sink.drain();
    expect(ats[0]! - t0).toBeLessThan(5);
    expect(ats.at(-1)!).toBeGreaterThanOrEqual(t1);
    expect(sink.playedMs).toBe(200);
    await sink.close();
  });
});

describe('TimelineWavWriter', () => {
  it('places two clips at 1.0 s and 2.5 s with exact silence around them', async () => {
    const path = join(dir, 'timeline.wav');
    const w = await TimelineWavWriter.open(path);
    const a = ramp(8000);
    const b = ramp(4000, 777);
    await w.write(a, 1000);
    await w.write(b, 2500);
    await w.finish(3000);
    const { samples } = await readWav(path);
    expect(samples.length).toBe(48_000);
    expect(samples.subarray(0, 16_000).every((s) => s === 0)).toBe(true);
    expect(samples.subarray(16_000, 24_000)).toEqual(a);
    expect(samples.subarray(24_000, 40_000).every((s) => s === 0)).toBe(true);
    expect(samples.subarray(40_000, 44_000)).toEqual(b);
    expect(samples.subarray(44_000).every((s) => s === 0)).toBe(true);
  });

  it('mixes overlaps inside the window and drops what comes too late', async () => {
    const path = join(dir, 'overlap.wav');
    const w = await TimelineWavWriter.open(path, { mixWindowMs: 500 });
    await w.write(new Int16Array(1600).fill(1000), 0);
    await w.write(new Int16Array(1600).fill(32000), 50); // overlaps 50..100 ms: clipped sum
    await w.write(new Int16Array(16_000).fill(5), 200); // pushes 0..700 ms to the file
    await w.write(new Int16Array(160).fill(7), 100); // too late: dropped
    expect(w.droppedSamples).toBe(160);
    await w.finish(0);
    const { samples } = await readWav(path);
    expect(samples.length).toBe(16_000 + 3200);
    expect(samples[0]).toBe(1000);
    expect(samples[799]).toBe(1000);
    expect(samples[800]).toBe(32767);
    expect(samples[1600]).toBe(32000);
    expect(samples[3200]).toBe(5);
  });

  it('records a PacedSink on the timeline: the gap between replies is kept', async () => {
    const path = join(dir, 'paced.wav');
    // 4× real time: fast, yet a busy machine's timer lateness (tens of ms) stays well inside the bounds below.
    const clock = scaledClock(4);
    const t0 = clock.now();
    const w = await TimelineWavWriter.open(path);
    const sink = new PacedSink({ clock, output: (f, at) => w.write(f.samples, at - t0) });
    await sink.write({ samples: ramp(3200), sampleRate: 16_000, timestampMs: 0 });
    await sink.drain();
    await clock.sleep(300);
    await sink.write({ samples: ramp(3200, 5), sampleRate: 16_000, timestampMs: 0 });
    await sink.drain();
    await sink.close();
    await w.finish(clock.now() - t0);
    const { samples } = await readWav(path);
    const nonzero: number[] = [];
    samples.forEach((s, i) => {
      if (s !== 0) nonzero.push(i);
    });
    expect(nonzero.length).toBe(6400);
    const firstEnd = nonzero[3199]!;
    const secondStart = nonzero[3200]!;
    expect((secondStart - firstEnd) / 16).toBeGreaterThanOrEqual(300);
    expect((secondStart - firstEnd) / 16).toBeLessThan(400);
  });
});

describe('earcons', () => {
  const expectedMs: Record<EarconKind, [number, number]> = { wake: [130, 170], done: [100, 140], error: [280, 320] };

  for (const kind of ['wake', 'done', 'error'] as const) {
    it(`${kind}: length, peak level, no clicks, deterministic`, () => {
      const s = earcon(kind);
      const ms = s.length / 16;
      expect(ms).toBeGreaterThanOrEqual(expectedMs[kind][0]);
      expect(ms).toBeLessThanOrEqual(expectedMs[kind][1]);
      let peak = 0;
      let maxStep = 0;
      for (let i = 0; i < s.length; i++) {
        peak = Math.max(peak, Math.abs(s[i]!));
        if (i > 0) maxStep = Math.max(maxStep, Math.abs(s[i]! - s[i - 1]!));
      }
      expect(20 * Math.log10(peak / 32768)).toBeCloseTo(EARCON_PEAK_DBFS, 0);
      expect(Math.abs(s[0]!)).toBeLessThan(50);
      expect(Math.abs(s.at(-1)!)).toBeLessThan(50);
      expect(maxStep).toBeLessThan(4000); // a click would jump by much more
      s.fill(0);
      expect(earcon(kind)).toEqual(earcon(kind));
      expect(earcon(kind).some((v) => v !== 0)).toBe(true);
    });
  }

  it('wake rises and done falls in pitch', () => {
    const zeroCrossingsPerMs = (s: Int16Array): number => {
      let n = 0;
      for (let i = 1; i < s.length; i++) if ((s[i - 1]! < 0) !== (s[i]! < 0)) n++;
      return n / (s.length / 16);
    };
    const wake = earcon('wake');
    const half = wake.length / 2;
    expect(zeroCrossingsPerMs(wake.subarray(half))).toBeGreaterThan(zeroCrossingsPerMs(wake.subarray(0, half)));
    const done = earcon('done');
    expect(zeroCrossingsPerMs(done.subarray(done.length / 2))).toBeLessThan(zeroCrossingsPerMs(done.subarray(0, done.length / 2)));
  });
});
