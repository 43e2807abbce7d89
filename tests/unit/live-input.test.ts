import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as wallSleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { realClock, scaledClock, type Clock } from '../../src/clock.js';
import { AudioDeviceError } from '../../src/errors.js';
import type { AudioFrame, AudioSource } from '../../src/audio/frame.js';
import { LiveInput, type ActiveInput, type InputStatus, type LiveInputOptions } from '../../src/audio/sources/live-input.js';
import { MicSource } from '../../src/audio/sources/mic.js';
import { fileDeviceHome, noDeviceHome } from '../helpers/alsa.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';

const FRAME = 1280; // 80 ms

function filled(n: number, value: number): Int16Array {
  return new Int16Array(n).fill(value);
}

/** Distinct never-zero sample values, so loss and reordering show. */
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

/** A microphone on the clock: a frame of `value` every 80 ms (`periodMs` to run fast or slow), for `count` frames or for ever. */
function liveMic(clock: Clock, options: { value?: number; count?: number; periodMs?: number; then?: 'end' | Error } = {}): AudioSource {
  return {
    async *frames(signal) {
      for (let k = 0; k < (options.count ?? Number.POSITIVE_INFINITY); k++) {
        try {
          await clock.sleep(options.periodMs ?? 80, signal);
        } catch {
          return;
        }
        yield { samples: filled(FRAME, options.value ?? 1), sampleRate: 16_000, timestampMs: k * 80 };
      }
      if (options.then instanceof Error) throw options.then;
    },
  };
}

interface Received {
  frame: AudioFrame;
  atMs: number;
}

/** Consumes input.frames() in the background, noting the clock time each frame arrived. */
function consume(input: LiveInput, clock: Clock, signal: AbortSignal): { got: Received[]; ended: Promise<void> } {
  const got: Received[] = [];
  const ended = (async () => {
    for await (const frame of input.frames(signal)) got.push({ frame, atMs: clock.now() });
  })();
  return { got, ended };
}

function endOf(f: AudioFrame): number {
  return f.timestampMs + (f.samples.length * 1000) / f.sampleRate;
}

/** Timestamps increase without overlap, and no frame arrived before the clock reached its end. */
function expectWellFormed(got: Received[]): void {
  for (let i = 0; i < got.length; i++) {
    const { frame, atMs } = got[i]!;
    expect(frame.sampleRate).toBe(16_000);
    expect(endOf(frame)).toBeLessThanOrEqual(atMs + 1e-6);
    if (i > 0) expect(frame.timestampMs).toBeGreaterThanOrEqual(endOf(got[i - 1]!.frame) - 1e-6);
  }
}

const controllers: AbortController[] = [];
function stopper(): AbortController {
  const ac = new AbortController();
  controllers.push(ac);
  return ac;
}
afterEach(() => {
  for (const ac of controllers.splice(0)) ac.abort();
});

function setup(clock: ManualClock, options: Omit<LiveInputOptions, 'clock'> = {}) {
  const statuses: InputStatus[] = [];
  const actives: ActiveInput[] = [];
  const input = new LiveInput({ clock, onStatus: (s) => statuses.push(s), ...options });
  input.onActiveChange((a) => actives.push(a));
  const ac = stopper();
  const { got, ended } = consume(input, clock, ac.signal);
  return { input, statuses, actives, ac, got, ended };
}

describe('LiveInput: the local microphone', () => {
  it('stamps frames on the clock timeline, contiguous while audio flows, jumping forward after a gap', async () => {
    const clock = new ManualClock();
    const runs: number[] = [];
    const local: AudioSource = {
      async *frames(signal) {
        runs.push(clock.now());
        for (let k = 0; k < 20 && !signal.aborted; k++) {
          await clock.sleep(k === 10 ? 1080 : 80, signal).catch(() => undefined);
          if (signal.aborted) return;
          yield { samples: ramp(FRAME, k * FRAME), sampleRate: 16_000, timestampMs: 12345 };
        }
        await clock.sleep(1e9, signal).catch(() => undefined);
      },
    };
    const { got, statuses } = setup(clock, { local });
    await clock.advance(3000);
    expect(runs).toEqual([0]);
    // The first frame after the pause might have been the head of a backlog; the second one proves the gap.
    expect(got.map((r) => r.frame.timestampMs)).toEqual([0, 80, 160, 240, 320, 400, 480, 560, 640, 720, 800, 1880, 1960, 2040, 2120, 2200, 2280, 2360, 2440, 2520]);
    expect(got.filter((_, i) => i !== 10).every((r) => r.atMs === endOf(r.frame))).toBe(true);
    expect(concat(got.map((r) => r.frame.samples))).toEqual(ramp(20 * FRAME));
    expect(statuses).toEqual([{ local: 'starting' }, { local: 'running' }]);
  });

  it('keeps a backlog (the recorder was held up) contiguous and releases it at once', async () => {
    const clock = new ManualClock();
    const local: AudioSource = {
      async *frames(signal) {
        for (let k = 0; k < 40 && !signal.aborted; k++) {
          // Frames 10-19 are captured during a 800 ms hold-up and all arrive when it ends.
          if (k === 10) await clock.sleep(800, signal).catch(() => undefined);
          else if (k < 10 || k >= 20) await clock.sleep(80, signal).catch(() => undefined);
          if (signal.aborted) return;
          yield { samples: ramp(FRAME, k * FRAME), sampleRate: 16_000, timestampMs: 0 };
        }
        await clock.sleep(1e9, signal).catch(() => undefined);
      },
    };
    const { got } = setup(clock, { local });
    await clock.advance(4000);
    expect(got).toHaveLength(40);
    expectWellFormed(got);
    expect(got.map((r) => r.frame.timestampMs)).toEqual(Array.from({ length: 40 }, (_, k) => k * 80));
    expect(got.slice(10, 20).every((r) => r.atMs === 1600)).toBe(true);
    // No delay is left once the backlog is out.
    expect(got.slice(20).every((r) => r.atMs === endOf(r.frame))).toBe(true);
  });

  it('paces a source that delivers faster than real time, losing nothing', async () => {
    const clock = new ManualClock();
    const local: AudioSource = {
      async *frames(signal) {
        for (let k = 0; k < 50 && !signal.aborted; k++) yield { samples: ramp(FRAME, k * FRAME), sampleRate: 16_000, timestampMs: 0 };
        await clock.sleep(1e9, signal).catch(() => undefined);
      },
    };
    const { got } = setup(clock, { local });
    await clock.advance(1000);
    expect(got).toHaveLength(12);
    await clock.advance(3000);
    expect(got).toHaveLength(50);
    expectWellFormed(got);
    expect(got.map((r) => r.frame.timestampMs)).toEqual(Array.from({ length: 50 }, (_, k) => (k + 1) * 80 - 80));
    expect(got.every((r) => r.atMs - endOf(r.frame) < 1e-6)).toBe(true);
    expect(concat(got.map((r) => r.frame.samples))).toEqual(ramp(50 * FRAME));
  });

  it('restarts a failing microphone with doubling backoff (capped, reset by healthy audio) and never ends', async () => {
    const clock = new ManualClock();
    const starts: number[] = [];
    // Run by run: fail at once ×4, 10 frames then fail, 50 frames (4 s, healthy) then end, then for ever.
    const plans: (number | 'forever')[] = [0, 0, 0, 0, 10, 50, 'forever'];
    const local: AudioSource = {
      async *frames(signal) {
        const plan = plans[starts.length] ?? 'forever';
        starts.push(clock.now());
        if (plan === 0) throw new AudioDeviceError('the microphone is unplugged');
        yield* liveMic(clock, plan === 'forever' ? {} : { count: plan, then: plan === 10 ? new AudioDeviceError('the recorder died') : 'end' }).frames(signal);
      },
    };
    const { got, statuses, ended } = setup(clock, { local, backoff: { initialMs: 1000, maxMs: 4000, resetAfterMs: 3000 } });
    let finished = false;
    void ended.then(() => (finished = true));
    await clock.advance(25_000);

    // Delays 1, 2, 4, 4 s; the 0.8 s run does not reset (4 s); the 4 s run does (1 s).
    expect(starts).toEqual([0, 1000, 3000, 7000, 11_000, 15_800, 20_800]);
    const retrying = statuses.filter((s) => s.local === 'retrying');
    expect(retrying.map((s) => s.retryInMs)).toEqual([1000, 2000, 4000, 4000, 4000, 1000]);
    expect(retrying[0]).toEqual({ local: 'retrying', error: 'the microphone is unplugged', retryInMs: 1000 });
    expect(retrying[4]).toMatchObject({ error: 'the recorder died' });
    expect(retrying[5]).toMatchObject({ error: 'the microphone stopped delivering audio' });
    expect(statuses.at(-1)).toEqual({ local: 'running' });
    expect(statuses.filter((s) => s.local === 'running')).toHaveLength(3);

    expect(finished).toBe(false);
    expectWellFormed(got);
    const fromLastRun = got.filter((r) => r.atMs > 20_800);
    expect(fromLastRun.length).toBe(Math.floor(4200 / 80));
    // After each pause the timeline jumps to the clock.
    expect(got.find((r) => r.atMs > 11_000)!.frame.timestampMs).toBe(11_000);
    expect(fromLastRun[0]!.frame.timestampMs).toBe(20_800);
  });

  it('drops a sample now and then from a microphone whose clock runs fast, instead of falling ever further behind', async () => {
    const clock = new ManualClock();
    // 500 ppm fast: unpaced, it would be 96 ms ahead after 2400 frames.
    const { got } = setup(clock, { local: liveMic(clock, { periodMs: 80 * (1 - 0.0005) }) });
    await clock.advance(2400 * 80);
    expect(got.length).toBeGreaterThan(2390);
    expectWellFormed(got);
    const lost = got.length * FRAME - got.reduce((n, r) => n + r.frame.samples.length, 0);
    expect(lost).toBeGreaterThan(0.0004 * got.length * FRAME);
    expect(lost).toBeLessThan(got.length);
    // Frames still arrive as they are captured: the device's delivery times are whole multiples of its period.
    const lags = got.slice(-100).map((r, i) => r.atMs - (got.length - 100 + i + 1) * 80 * (1 - 0.0005));
    expect(Math.max(...lags)).toBeLessThan(1);
  });

  it('reports absent and has no active input without a microphone; frames() can run only once', async () => {
    const clock = new ManualClock();
    const { input, statuses, got } = setup(clock);
    await clock.advance(1000);
    expect(statuses).toEqual([{ local: 'absent' }]);
    expect(input.active).toBeNull();
    expect(got).toEqual([]);
    await expect(input.frames(new AbortController().signal)[Symbol.asyncIterator]().next()).rejects.toThrow(/only be iterated once/);
  });
});

describe('LiveInput: remote feeds', () => {
  it('takes over from the microphone while it streams, dropping the local frames, then hands back', async () => {
    const clock = new ManualClock();
    const { input, got, actives } = setup(clock, { local: liveMic(clock, { value: 1 }) });
    await clock.advance(800);
    const feed = input.attachRemote();
    expect(feed.active).toBe(false);
    for (let i = 0; i < 12; i++) {
      expect(feed.push(filled(FRAME, 2))).toBe(true);
      await clock.advance(80);
    }
    expect(feed.active).toBe(true);
    await clock.advance(2000);
    expect(feed.active).toBe(false);
    expect(actives).toEqual([feed, 'local']);
    expectWellFormed(got);

    const sources = got.map((r) => r.frame.samples[0]);
    const runs = sources.filter((v, i) => v !== sources[i - 1]);
    expect(runs).toEqual([1, 2, 1]);
    expect(sources.filter((v) => v === 2)).toHaveLength(12);
    const remote = got.filter((r) => r.frame.samples[0] === 2);
    // The satellite audio is live and contiguous; the microphone already covered 720-800 ms, so it
    // follows on from there, one frame behind.
    expect(remote.map((r) => r.atMs)).toEqual(Array.from({ length: 12 }, (_, i) => 880 + i * 80));
    expect(remote.map((r) => r.frame.timestampMs)).toEqual(Array.from({ length: 12 }, (_, i) => 800 + i * 80));
    // The last push was at 1680 ms: from 2180 ms the microphone is heard again (its next frame ends at 2240).
    const back = got.find((r) => r.atMs > 1760)!;
    expect(back.frame.samples[0]).toBe(1);
    expect(back.atMs).toBe(2240);
    expect(back.frame.timestampMs).toBe(2160);
  });

  it('paces a whole recording pushed at once and releases odd-sized pushes whole, the tail last', async () => {
    const clock = new ManualClock();
    const { input, got } = setup(clock);
    await clock.advance(1000);
    const feed = input.attachRemote();
    const audio = ramp(32_001);
    expect(feed.push(audio.subarray(0, 333))).toBe(true);
    expect(feed.push(audio.subarray(333, 1000))).toBe(true);
    expect(feed.push(audio.subarray(1000))).toBe(true);
    await settle();
    // What a live client could have captured before now (remoteHoldMs) goes out at once; the rest in real time.
    expect(got.map((r) => r.frame.samples.length)).toEqual([1280, 1280, 1280, 1280, 1280, 1280]);
    await clock.advance(1000);
    expect(got.length).toBe(6 + Math.floor(1000 / 80));
    await clock.advance(1000);
    expect(got.at(-1)!.frame.samples.length).toBe(1);
    expect(concat(got.map((r) => r.frame.samples))).toEqual(audio);
    expectWellFormed(got);
    expect(got.map((r) => r.frame.timestampMs)).toEqual(got.map((_, i) => 500 + i * 80));
  });

  it('drops the oldest audio beyond maxRemoteBufferMs and says so', async () => {
    const clock = new ManualClock();
    const input = new LiveInput({ clock, maxRemoteBufferMs: 1000 });
    const feed = input.attachRemote();
    const audio = ramp(40_000);
    expect(feed.push(audio.subarray(0, 16_000))).toBe(true);
    expect(feed.push(audio.subarray(16_000))).toBe(false);
    const ac = stopper();
    const { got } = consume(input, clock, ac.signal);
    await clock.advance(3000);
    expect(concat(got.map((r) => r.frame.samples))).toEqual(audio.subarray(40_000 - 16_000));
    feed.close();
    expect(feed.push(audio)).toBe(false);
  });

  it('lets the feed that started streaming last win, and hands back to one still streaming', async () => {
    const clock = new ManualClock();
    const { input, got, actives } = setup(clock);
    const a = input.attachRemote();
    const b = input.attachRemote();
    const stream = async (ms: number, who: ('a' | 'b')[]) => {
      for (let t = 0; t < ms; t += 80) {
        if (who.includes('a')) a.push(filled(FRAME, 1));
        if (who.includes('b')) b.push(filled(FRAME, 2));
        await clock.advance(80);
      }
    };
    await stream(800, ['a']);
    await stream(800, ['a', 'b']);
    expect(b.active).toBe(true);
    await stream(1200, ['a']);
    expect(a.active).toBe(true);
    a.close();
    await clock.advance(1000);
    expect(actives).toEqual([a, b, a, null]);
    expectWellFormed(got);
    const sources = got.map((r) => r.frame.samples[0]);
    expect(sources.filter((v, i) => v !== sources[i - 1])).toEqual([1, 2, 1]);
    expect(sources.filter((v) => v === 2)).toHaveLength(10);
  });

  it('leaves no timer behind once aborted (manual clock)', async () => {
    const clock = new ManualClock();
    const failing: AudioSource = {
      async *frames() {
        throw new AudioDeviceError('no microphone');
      },
    };
    const { input, ac, ended } = setup(clock, { local: failing });
    const feed = input.attachRemote();
    feed.push(ramp(16_000));
    await clock.advance(300);
    expect(clock.pendingTimers).toBeGreaterThan(0);
    ac.abort();
    await ended;
    await settle();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('LiveInput on a real clock', () => {
  it('leaves no timers or handles behind after abort', async () => {
    const clock = scaledClock(20);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    let runs = 0;
    const local: AudioSource = {
      async *frames(signal) {
        runs += 1;
        yield* liveMic(clock, { count: 3, then: new AudioDeviceError('the recorder died') }).frames(signal);
      },
    };
    const input = new LiveInput({ clock, local, backoff: { initialMs: 200, maxMs: 400 } });
    const ac = new AbortController();
    const { got, ended } = consume(input, clock, ac.signal);
    const feed = input.attachRemote();
    await wallSleep(50);
    feed.push(ramp(48_000));
    await wallSleep(50);
    expect(runs).toBeGreaterThan(1);
    expect(got.length).toBeGreaterThan(0);
    expectWellFormed(got);
    ac.abort();
    await ended;
    await wallSleep(20);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before);
  });
});

describe.skipIf(!existsSync('/usr/bin/arecord'))('LiveInput on the real recorder (ALSA file devices, TESTING.md)', () => {
  /** Runs a LiveInput on MicSource for `ms` of wall time with HOME (hence ~/.asoundrc) at `home`. */
  async function record(home: string, ms: number) {
    const previous = process.env['HOME'];
    process.env['HOME'] = home;
    try {
      const statuses: InputStatus[] = [];
      const input = new LiveInput({ local: new MicSource(), onStatus: (s) => statuses.push(s), backoff: { initialMs: 200 } });
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), ms);
      const { got, ended } = consume(input, realClock, ac.signal);
      await ended;
      clearTimeout(timer);
      return { statuses, got };
    } finally {
      process.env['HOME'] = previous;
    }
  }

  it('paces arecord reading a file (faster than real time) and retries a missing device without ending', async () => {
    const work = mkdtempSync(join(tmpdir(), 'kai-live-input-'));
    try {
      const inRaw = join(work, 'in.raw');
      const audio = ramp(16_000 * 3);
      writeFileSync(inRaw, Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength));
      const good = await record(fileDeviceHome(join(work, 'home'), { inRaw, outRaw: join(work, 'out.raw') }), 1500);
      expect(good.statuses).toEqual([{ local: 'starting' }, { local: 'running' }]);
      expectWellFormed(good.got);
      // In real time (the device itself would have delivered all 3 s at once), nothing lost.
      expect(good.got.length).toBeGreaterThan(8);
      expect(good.got.length).toBeLessThanOrEqual(Math.ceil(1500 / 80));
      expect(concat(good.got.map((r) => r.frame.samples))).toEqual(audio.subarray(0, good.got.length * FRAME));

      const bad = await record(noDeviceHome(join(work, 'bad')), 1000);
      expect(bad.got).toEqual([]);
      const retries = bad.statuses.filter((s) => s.local === 'retrying');
      expect(retries.map((s) => s.retryInMs).slice(0, 2)).toEqual([200, 400]);
      expect(retries[0]).toMatchObject({ error: expect.stringMatching(/no ALSA capture device/) });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
