import { setTimeout as wallSleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { scaledClock, type Clock } from '../../src/clock.js';
import { AudioDeviceError } from '../../src/errors.js';
import type { AudioFrame, AudioSink } from '../../src/audio/frame.js';
import { LiveOutput, type LiveOutputOptions, type OutputStatus, type RemoteTarget } from '../../src/audio/sinks/live-output.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';

/** Stands in for the `speaker` sink: plays instantly, can be told to fail. */
class FakeSpeaker implements AudioSink {
  static opened: FakeSpeaker[] = [];
  written: Int16Array[] = [];
  played = 0;
  clears = 0;
  closed = false;
  fail = false;

  constructor() {
    FakeSpeaker.opened.push(this);
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.fail) throw new AudioDeviceError('playback on ALSA device "default" failed (unplugged); check the device, see kai devices');
    this.written.push(frame.samples);
    this.played += frame.samples.length / 16;
  }

  async drain(): Promise<void> {}

  clear(): { playedMs: number } {
    this.clears += 1;
    return { playedMs: this.played };
  }

  get playedMs(): number {
    return this.played;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function frame(value: number, samples = 1280): AudioFrame {
  return { samples: new Int16Array(samples).fill(value), sampleRate: 16_000, timestampMs: 0 };
}

/** Writes `ms` of audio of `value` in 80 ms frames, then drains; resolves with the clock time it finished. */
async function play(output: AudioSink, clock: Clock, ms: number, value = 1): Promise<number> {
  for (let t = 0; t < ms; t += 80) await output.write(frame(value));
  await output.drain();
  return clock.now();
}

/** Records playedMs whenever asked, failing if it ever went down. */
function monotonic(output: LiveOutput): () => number[] {
  const seen: number[] = [];
  return () => {
    const v = output.playedMs;
    if (seen.length > 0) expect(v).toBeGreaterThanOrEqual(seen.at(-1)! - 1e-9);
    seen.push(v);
    return seen;
  };
}

function setup(clock: Clock, options: Omit<LiveOutputOptions, 'clock'> = {}) {
  const statuses: OutputStatus[] = [];
  const output = new LiveOutput({ clock, onStatus: (s) => statuses.push(s), ...options });
  return { output, statuses };
}

function remote(): RemoteTarget & { sent: Int16Array[]; clears: number; samples(): number } {
  const target = {
    sent: [] as Int16Array[],
    clears: 0,
    send(samples: Int16Array) {
      target.sent.push(samples);
    },
    clear() {
      target.clears += 1;
    },
    samples: () => target.sent.reduce((n, s) => n + s.length, 0),
  };
  return target;
}

describe('LiveOutput', () => {
  it('without a speaker plays silently in real time, reporting what it played', async () => {
    const clock = new ManualClock();
    const { output, statuses } = setup(clock);
    expect(statuses).toEqual([{ local: 'absent' }]);
    let heard = 0;
    output.onPlayed((samples) => (heard += samples.length));
    const done = play(output, clock, 1000);
    await clock.advance(500);
    expect(output.playedMs).toBe(500);
    await clock.advance(600);
    expect(await done).toBe(1040); // 13 frames of 80 ms
    expect(output.playedMs).toBe(1040);
    expect(heard).toBe(13 * 1280);
    await output.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('falls back to silent pacing while the speaker cannot be opened, retrying with backoff, and recovers', async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const openLocal = async (): Promise<AudioSink> => {
      attempts += 1;
      if (attempts <= 3) throw new AudioDeviceError('no playback device found; see kai devices');
      return new FakeSpeaker();
    };
    FakeSpeaker.opened = [];
    const { output, statuses } = setup(clock, { openLocal, backoff: { initialMs: 1000, maxMs: 60_000 } });
    const check = monotonic(output);
    await settle();
    expect(statuses).toEqual([{ local: 'retrying', error: 'no playback device found; see kai devices', retryInMs: 1000 }]);

    // The reply still takes its real time.
    const done = play(output, clock, 800);
    await clock.advance(400);
    check();
    await clock.advance(400);
    expect(await done).toBe(800);
    check();
    await clock.advance(2300); // retries at 1000 (fails) and 3000 (fails)
    expect(statuses.map((s) => (s.local === 'retrying' ? s.retryInMs : s.local))).toEqual([1000, 2000, 4000]);
    await clock.advance(4000); // retry at 7000 succeeds
    expect(statuses.at(-1)).toEqual({ local: 'running' });
    expect(attempts).toBe(4);

    const speaker = FakeSpeaker.opened[0]!;
    await play(output, clock, 400, 7);
    expect(speaker.written.length).toBe(5);
    expect(output.playedMs).toBe(800 + 400);
    check();
    await output.close();
    expect(speaker.closed).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('moves to silent pacing when the speaker fails mid-reply and reopens it later', async () => {
    const clock = new ManualClock();
    FakeSpeaker.opened = [];
    const { output, statuses } = setup(clock, { openLocal: async () => new FakeSpeaker(), backoff: { initialMs: 500 } });
    const check = monotonic(output);
    await settle();
    expect(statuses).toEqual([{ local: 'running' }]);
    const first = FakeSpeaker.opened[0]!;
    await output.write(frame(1));
    await output.write(frame(1));
    expect(output.playedMs).toBe(160);
    first.fail = true;
    const rest = play(output, clock, 400);
    await clock.advance(100);
    expect(statuses.at(-1)).toMatchObject({ local: 'retrying', retryInMs: 500, error: expect.stringMatching(/unplugged/) });
    expect(first.closed).toBe(true);
    check();
    await clock.advance(400);
    await rest;
    check();
    // 160 ms on the speaker, then the 400 ms reply on the silent stand-in.
    expect(output.playedMs).toBe(560);
    expect(statuses.at(-1)).toEqual({ local: 'running' });
    const second = FakeSpeaker.opened[1]!;
    await play(output, clock, 160);
    expect(second.written.length).toBe(2);
    expect(output.playedMs).toBe(720);
    check();
    await output.close();
  });

  it('lets a recovered speaker take over only once the silent stand-in has played out', async () => {
    const clock = new ManualClock();
    FakeSpeaker.opened = [];
    let fail = true;
    const openLocal = async (): Promise<AudioSink> => {
      if (fail) throw new AudioDeviceError('no playback device found');
      return new FakeSpeaker();
    };
    const { output } = setup(clock, { openLocal, backoff: { initialMs: 200 } });
    await settle();
    fail = false;
    const reply = play(output, clock, 800);
    await clock.advance(300); // the speaker is back at 200 ms, mid-reply
    expect(FakeSpeaker.opened).toHaveLength(1);
    await clock.advance(600);
    await reply;
    expect(FakeSpeaker.opened[0]!.written).toHaveLength(0);
    expect(output.playedMs).toBe(800);
    await output.write(frame(1));
    expect(FakeSpeaker.opened[0]!.written).toHaveLength(1);
    await output.close();
  });

  it('waits briefly for the speaker being opened at start, then plays silently rather than block', async () => {
    const clock = new ManualClock();
    FakeSpeaker.opened = [];
    const slowly = (ms: number) => async (): Promise<AudioSink> => {
      await clock.sleep(ms);
      return new FakeSpeaker();
    };
    const quick = new LiveOutput({ clock, openLocal: slowly(300) });
    const write = quick.write(frame(1));
    await clock.advance(300);
    await write;
    expect(FakeSpeaker.opened[0]!.written).toHaveLength(1);
    await quick.close();

    const stuck = new LiveOutput({ clock, openLocal: slowly(5000), openWaitMs: 1000 });
    const late = stuck.write(frame(1));
    let wrote = false;
    void late.then(() => (wrote = true));
    await clock.advance(999);
    expect(wrote).toBe(false);
    await clock.advance(1);
    expect(wrote).toBe(true);
    await stuck.close();
    await clock.advance(5000);
    // Opened after close: released at once.
    expect(FakeSpeaker.opened[1]!.closed).toBe(true);
    expect(FakeSpeaker.opened[1]!.written).toHaveLength(0);
  });

  it('routes audio to a satellite paced on the clock, clear() cuts it and tells the client', async () => {
    const clock = new ManualClock();
    FakeSpeaker.opened = [];
    const { output } = setup(clock, { openLocal: async () => new FakeSpeaker() });
    const check = monotonic(output);
    await settle();
    const speaker = FakeSpeaker.opened[0]!;
    await play(output, clock, 400);
    expect(output.playedMs).toBe(400);

    const client = remote();
    const route = output.attachRemote(client);
    output.route(route);
    expect(output.routed).toBe(route);
    let heard = 0;
    output.onPlayed((samples) => (heard += samples.length));
    let bargedIn = false;
    const reply = (async () => {
      for (let t = 0; t < 2000 && !bargedIn; t += 80) await output.write(frame(5));
    })();
    await clock.advance(500);
    // Forwarded as it plays, not all at once.
    expect(client.samples()).toBeGreaterThanOrEqual(16 * 480);
    expect(client.samples()).toBeLessThanOrEqual(16 * 500);
    expect(heard).toBe(client.samples());
    expect(check().at(-1)).toBe(900);
    bargedIn = true;
    const { playedMs } = output.clear();
    expect(playedMs).toBe(900);
    expect(client.clears).toBe(1);
    await reply;
    const sentAtClear = client.samples();
    await clock.advance(2000);
    expect(client.samples()).toBe(sentAtClear);
    check();

    route.detach();
    expect(output.routed).toBeNull();
    await play(output, clock, 160);
    expect(speaker.written.slice(-2).map((s) => s[0])).toEqual([1, 1]);
    check();
    expect(speaker.written.every((s) => s[0] === 1)).toBe(true);
    await output.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps playedMs monotonic while routes switch mid-reply; the old client is told to drop its queue', async () => {
    const clock = new ManualClock();
    const { output } = setup(clock);
    const check = monotonic(output);
    const a = remote();
    const b = remote();
    output.route(a);
    const reply = play(output, clock, 3000);
    for (const next of [b, null, a, b]) {
      await clock.advance(310);
      check();
      output.route(next);
      check();
    }
    await clock.advance(4000);
    await reply;
    const seen = check();
    expect(seen.at(-1)).toBeGreaterThan(1000);
    expect(a.clears).toBe(2);
    expect(b.clears).toBe(1);
    expect(a.samples() + b.samples()).toBeGreaterThan(0);
    await output.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('leaves no timers behind after close, on a real clock too', async () => {
    const clock = scaledClock(20);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const output = new LiveOutput({
      clock,
      openLocal: async () => {
        throw new AudioDeviceError('no playback device found');
      },
      backoff: { initialMs: 60_000 },
    });
    await wallSleep(10);
    expect(output.status).toMatchObject({ local: 'retrying' });
    const writing = play(output, clock, 2000);
    await wallSleep(20);
    output.route(remote());
    await output.close();
    await writing.catch(() => undefined);
    await wallSleep(20);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before);
    await expect(output.write(frame(1))).rejects.toThrow(/closed/);
  });
});
