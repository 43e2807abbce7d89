import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainOpenFailure, explainRecorderExit, parseCardList, parsePcmList } from '../../src/audio/alsa.js';
import type { AudioFrame } from '../../src/audio/frame.js';
import { NullSink } from '../../src/audio/sinks/null.js';
import { SpeakerSink, type SpeakerClass } from '../../src/audio/sinks/speaker.js';
import { WavFileSink } from '../../src/audio/sinks/wav-file.js';
import { ClockedSource } from '../../src/audio/sources/clocked.js';
import { pcmFrames, readChunks, StreamSource, StreamStalledError } from '../../src/audio/sources/stdin.js';
import { WavFileSource } from '../../src/audio/sources/wav-file.js';
import { encodeWav, readWav } from '../../src/audio/wav.js';
import { AudioFormatError } from '../../src/errors.js';
import { ManualClock } from '../helpers/manual-clock.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kai-sources-sinks-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic, distinct sample values (a ramp that wraps), so any reordering or loss shows. */
function ramp(n: number, start = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = ((start + i) * 37) % 65536;
  return out;
}

function wavFile(name: string, samples: Int16Array, rate = 16_000): string {
  const path = join(dir, name);
  writeFileSync(path, encodeWav(samples, rate));
  return path;
}

async function collect(frames: AsyncIterable<AudioFrame>): Promise<AudioFrame[]> {
  const out: AudioFrame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

function concat(frames: AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.samples.length, 0));
  let o = 0;
  for (const f of frames) {
    out.set(f.samples, o);
    o += f.samples.length;
  }
  return out;
}

function frame(samples: Int16Array, sampleRate = 16_000, timestampMs = 0): AudioFrame {
  return { samples, sampleRate, timestampMs };
}

describe('WavFileSource', () => {
  it('delivers the whole file as fast as possible in 1280-sample frames with sample-count timestamps', async () => {
    const samples = ramp(16_000 * 3 + 100); // 3 s and a bit
    const source = new WavFileSource(wavFile('fast.wav', samples));
    const t0 = performance.now();
    const frames = await collect(source.frames(new AbortController().signal));
    expect(performance.now() - t0).toBeLessThan(1500); // paced would take 3 s
    expect(frames.map((f) => f.samples.length)).toEqual([...Array<number>(37).fill(1280), 48_100 - 37 * 1280]);
    expect(frames.map((f) => f.timestampMs)).toEqual(frames.map((_, i) => i * 80));
    expect(frames.every((f) => f.sampleRate === 16_000)).toBe(true);
    expect(concat(frames)).toEqual(samples);
  });

  it('honours a chosen frame size and replays the file on every frames() call', async () => {
    const samples = ramp(2000);
    const source = new WavFileSource(wavFile('sizes.wav', samples), { frameSamples: 512 });
    const first = await collect(source.frames(new AbortController().signal));
    const second = await collect(source.frames(new AbortController().signal));
    expect(first.map((f) => f.samples.length)).toEqual([512, 512, 512, 464]);
    expect(first.map((f) => f.timestampMs)).toEqual([0, 32, 64, 96]);
    expect(concat(second)).toEqual(samples);
  });

  it('reads other WAV formats as 16 kHz mono', async () => {
    const source = new WavFileSource(wavFile('8k.wav', ramp(8000), 8000));
    const frames = await collect(source.frames(new AbortController().signal));
    expect(concat(frames).length).toBe(16_000);
  });

  it('paces frames like a live microphone when realtime is set', async () => {
    const source = new WavFileSource(wavFile('realtime.wav', ramp(8000)), { realtime: true }); // 500 ms
    const t0 = performance.now();
    const arrivals: number[] = [];
    for await (const f of source.frames(new AbortController().signal)) {
      arrivals.push(performance.now() - t0);
      expect(f.samples.length).toBe(f.timestampMs < 480 ? 1280 : 320);
    }
    expect(arrivals).toHaveLength(7);
    // Each frame arrives once its last sample would have been recorded (80, 160, … 500 ms).
    const due = [80, 160, 240, 320, 400, 480, 500];
    arrivals.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(due[i]! - 5));
    expect(arrivals.at(-1)!).toBeLessThan(1500);
  });

  it('stops at once when the signal aborts, also while waiting for the next frame', async () => {
    const source = new WavFileSource(wavFile('abort.wav', ramp(16_000 * 5)), { realtime: true });
    const ac = new AbortController();
    const t0 = performance.now();
    const frames: AudioFrame[] = [];
    setTimeout(() => ac.abort(), 200);
    for await (const f of source.frames(ac.signal)) frames.push(f);
    expect(performance.now() - t0).toBeLessThan(400);
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames.length).toBeLessThanOrEqual(3);
  });

  it('reports a missing or non-WAV file as an AudioFormatError', async () => {
    const missing = new WavFileSource(join(dir, 'missing.wav'));
    await expect(collect(missing.frames(new AbortController().signal))).rejects.toThrow(AudioFormatError);
    const text = join(dir, 'text.wav');
    writeFileSync(text, 'hello, not audio');
    await expect(collect(new WavFileSource(text).frames(new AbortController().signal))).rejects.toThrow(/not a WAV file/);
  });
});

describe('ClockedSource', () => {
  it('continues with silence right where a recording that ends mid-frame stops: no gap in the timestamps', async () => {
    const clock = new ManualClock();
    const recording = Int16Array.from({ length: 700 }, (_, i) => i + 1); // 2 frames of 320, then 60 samples
    const source = new ClockedSource(recording, { clock, continueAfter: (ms) => ms < 100 });
    const frames: AudioFrame[] = [];
    const done = (async () => {
      for await (const frame of source.frames(new AbortController().signal)) frames.push(frame);
    })();
    await clock.advance(200);
    await done;
    let expectedMs = 0;
    for (const frame of frames) {
      expect(frame.timestampMs).toBeCloseTo(expectedMs, 9);
      expectedMs += (frame.samples.length * 1000) / 16_000;
    }
    expect(frames.map((f) => f.samples.length).slice(0, 4)).toEqual([320, 320, 60, 320]);
    expect(Array.from(frames[2]!.samples)).toEqual(Array.from(recording.subarray(640)));
    expect(expectedMs).toBeGreaterThanOrEqual(100);
  });
});

describe('stdin / stream source', () => {
  function bytesOf(samples: Int16Array): Buffer {
    const b = Buffer.alloc(samples.length * 2);
    samples.forEach((v, i) => b.writeInt16LE(v, 2 * i));
    return b;
  }

  it('reassembles samples split at odd byte boundaries into fixed frames', async () => {
    const samples = ramp(5000, 1234);
    const bytes = bytesOf(samples);
    const stream = new PassThrough();
    const source = new StreamSource(stream, { frameSamples: 1280 });
    const done = collect(source.frames(new AbortController().signal));
    const sizes = [1, 3, 7, 1001, 2, 5, 999, 4096];
    let o = 0;
    for (let i = 0; o < bytes.length; i++) {
      const n = sizes[i % sizes.length]!;
      stream.write(bytes.subarray(o, o + n));
      o += n;
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    stream.end();
    const frames = await done;
    expect(frames.map((f) => f.samples.length)).toEqual([1280, 1280, 1280, 1160]);
    expect(frames.map((f) => f.timestampMs)).toEqual([0, 80, 160, 240]);
    expect(concat(frames)).toEqual(samples);
  });

  it('handles one byte at a time and drops a dangling final byte', async () => {
    const samples = ramp(300, -7);
    const bytes = Buffer.concat([bytesOf(samples), Buffer.from([0x7f])]);
    const chunks = (async function* () {
      for (const b of bytes) yield Buffer.from([b]);
    })();
    const frames = await collect(pcmFrames(chunks, new AbortController().signal, { frameSamples: 128 }));
    expect(frames.map((f) => f.samples.length)).toEqual([128, 128, 44]);
    expect(concat(frames)).toEqual(samples);
  });

  it('ends promptly on abort while the stream is silent, and can be read only once', async () => {
    const stream = new PassThrough();
    const source = new StreamSource(stream);
    const ac = new AbortController();
    const done = collect(source.frames(ac.signal));
    stream.write(bytesOf(ramp(1280)));
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    const frames = await done;
    expect(frames).toHaveLength(1);
    expect(() => source.frames(new AbortController().signal)).toThrow(/only once/);
  });

  it('rejects text chunks (an encoding set on the stream)', async () => {
    const stream = new PassThrough({ encoding: 'utf8' });
    stream.end('abcd');
    await expect(collect(new StreamSource(stream).frames(new AbortController().signal))).rejects.toThrow(AudioFormatError);
  });

  it('readChunks reports a stalled stream', async () => {
    const stream = new PassThrough();
    const it = readChunks(stream, new AbortController().signal, 50);
    await expect(it.next()).rejects.toThrow(StreamStalledError);
  });
});

describe('NullSink', () => {
  it('accounts written milliseconds at each frame rate; clear() drops nothing and reports them', async () => {
    const sink = new NullSink();
    await sink.write(frame(new Int16Array(1280)));
    await sink.write(frame(new Int16Array(2400), 24_000));
    expect(sink.playedMs).toBe(180);
    await sink.drain();
    expect(sink.clear()).toEqual({ playedMs: 180 });
    expect(sink.playedMs).toBe(180);
    await sink.close();
    await expect(sink.write(frame(new Int16Array(10)))).rejects.toThrow(/closed/);
  });
});

describe('WavFileSink', () => {
  it('streams frames into a WAV whose header is patched on close; playedMs is what was written', async () => {
    const path = join(dir, 'sink.wav');
    const sink = await WavFileSink.open(path);
    const samples = ramp(16_000 + 640);
    for (let i = 0; i < samples.length; i += 1280) await sink.write(frame(samples.subarray(i, i + 1280)));
    await sink.drain();
    expect(sink.playedMs).toBe(1040);
    expect(sink.clear()).toEqual({ playedMs: 1040 });
    await sink.close();
    const bytes = readFileSync(path);
    expect(bytes.readUInt32LE(40)).toBe(samples.length * 2);
    expect(bytes.readUInt32LE(4)).toBe(36 + samples.length * 2);
    const back = await readWav(path);
    expect(back.samples).toEqual(samples);
  });

  it('refuses frames at another rate', async () => {
    const sink = await WavFileSink.open(join(dir, 'rate.wav'));
    await expect(sink.write(frame(new Int16Array(100), 24_000))).rejects.toThrow(AudioFormatError);
    await sink.close();
  });
});

/** Stands in for the native Speaker: records bytes; each write completes when the test says so. */
function fakeSpeaker() {
  const state = {
    opened: 0,
    written: [] as Buffer[],
    pending: [] as Array<() => void>,
    closes: [] as boolean[],
    auto: false,
  };
  class FakeSpeaker extends Writable {
    constructor(readonly options: { sampleRate: number; device?: string }) {
      super({ highWaterMark: 0 });
      state.opened += 1;
    }
    override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
      const finish = () => {
        state.written.push(Buffer.from(chunk));
        done();
      };
      if (state.auto) setImmediate(finish);
      else state.pending.push(finish);
    }
    close(flush: boolean): void {
      state.closes.push(flush);
    }
  }
  /** Completes the native writes issued so far, one at a time. */
  const step = async (n = 1) => {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setImmediate(r));
      state.pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { Speaker: FakeSpeaker as unknown as SpeakerClass, state, step };
}

function int16(bufs: Buffer[]): Int16Array {
  const b = Buffer.concat(bufs);
  return new Int16Array(b.buffer, b.byteOffset, b.length / 2);
}

describe('SpeakerSink (logic, with a fake native module)', () => {
  it('keeps one chunk in flight, applies back-pressure and counts only what the device consumed', async () => {
    const { Speaker, state, step } = fakeSpeaker();
    const sink = new SpeakerSink(Speaker, 'default', 16_000, 200);
    let resolved = false;
    const write = sink.write(frame(ramp(16_000))).then(() => {
      resolved = true;
    });
    await step(0);
    expect(state.pending).toHaveLength(1);
    expect(sink.playedMs).toBe(0);
    await step(5);
    expect(sink.playedMs).toBe(5 * 64);
    expect(resolved).toBe(false); // 1 s queued, far above 200 ms
    await step(9);
    expect(resolved).toBe(true);
    await write;
    state.auto = true;
    state.pending.splice(0).forEach((f) => f());
    await sink.drain();
    expect(sink.playedMs).toBe(1000);
    // The audio, then the silence drain() plays to push the device buffer out, then a drop.
    const all = int16(state.written);
    expect(all.subarray(0, 16_000)).toEqual(ramp(16_000));
    expect(all.length - 16_000).toBeGreaterThanOrEqual(8000);
    expect(all.subarray(16_000).every((v) => v === 0)).toBe(true);
    expect(state.closes).toEqual([true]);
    await sink.close();
  });

  it('clear() drops queued audio at once, returns playedMs, and the next write reopens the device', async () => {
    const { Speaker, state, step } = fakeSpeaker();
    const sink = new SpeakerSink(Speaker, 'default', 16_000, 5000);
    void sink.write(frame(ramp(16_000 * 3)));
    await step(3);
    expect(sink.playedMs).toBe(192);
    expect(sink.clear()).toEqual({ playedMs: 192 });
    // The chunk in flight finishes but is not counted: the device drops it.
    await step(1);
    expect(sink.playedMs).toBe(192);
    expect(state.closes).toEqual([true]);
    expect(state.pending).toHaveLength(0);
    state.auto = true;
    await sink.write(frame(ramp(1024, 5)));
    await sink.drain();
    expect(state.opened).toBe(2);
    expect(sink.playedMs).toBe(256);
    expect(int16(state.written.slice(4, 5))).toEqual(ramp(1024, 5));
    await sink.close();
  });

  it('resamples frames to the device rate and accounts at that rate', async () => {
    const { Speaker, state } = fakeSpeaker();
    state.auto = true;
    const sink = new SpeakerSink(Speaker, 'plughw:0', 48_000, 200);
    const sine = Int16Array.from({ length: 16_000 }, (_, i) => Math.round(10_000 * Math.sin((2 * Math.PI * 440 * i) / 16_000)));
    for (let i = 0; i < sine.length; i += 1280) await sink.write(frame(sine.subarray(i, i + 1280)));
    await sink.drain();
    expect(sink.playedMs).toBeCloseTo(1000, 0);
    const out = int16(state.written).subarray(0, 48_000);
    // Output sample 3k sits at input instant k.
    for (let k = 100; k < 15_900; k += 997) expect(Math.abs(out[3 * k]! - sine[k]!)).toBeLessThan(150);
    await sink.close();
  });

  it('turns a device failure into an AudioDeviceError for pending and later calls', async () => {
    class Broken extends Writable {
      override _write(_c: Buffer, _e: BufferEncoding, done: (err?: Error | null) => void): void {
        done(new Error('Failed to open output device'));
      }
      close(): void {}
    }
    const sink = new SpeakerSink(Broken as unknown as SpeakerClass, 'hw:7', 16_000, 200);
    await expect(sink.write(frame(ramp(16_000)))).rejects.toThrow(
      /^playback on ALSA device "hw:7" failed \(Failed to open output device\); check the device, see kai devices$/,
    );
    await expect(sink.drain()).rejects.toThrow(/hw:7/);
    await expect(sink.write(frame(ramp(10)))).rejects.toThrow(/hw:7/);
    await sink.close();
  });
});

describe('ALSA listing and messages', () => {
  it('parses aplay -L and -l output', () => {
    const pcms = parsePcmList(
      [
        'null',
        '    Discard all samples (playback) or generate zero samples (capture)',
        'default',
        'hw:CARD=PCH,DEV=0',
        '    HDA Intel PCH, ALC892 Analog',
        '    Direct hardware device without any conversions',
        '',
      ].join('\n'),
    );
    expect(pcms).toEqual([
      { name: 'null', description: 'Discard all samples (playback) or generate zero samples (capture)' },
      { name: 'default', description: '' },
      { name: 'hw:CARD=PCH,DEV=0', description: 'HDA Intel PCH, ALC892 Analog — Direct hardware device without any conversions' },
    ]);
    const cards = parseCardList(
      [
        '**** List of PLAYBACK Hardware Devices ****',
        'card 0: PCH [HDA Intel PCH], device 0: ALC892 Analog [ALC892 Analog]',
        '  Subdevices: 1/1',
        '  Subdevice #0: subdevice #0',
        'card 1: Device [USB Audio Device], device 0: USB Audio [USB Audio]',
      ].join('\n'),
    );
    expect(cards).toEqual([
      { card: 0, cardId: 'PCH', cardName: 'HDA Intel PCH', device: 0, deviceName: 'ALC892 Analog', pcm: 'plughw:CARD=PCH,DEV=0' },
      { card: 1, cardId: 'Device', cardName: 'USB Audio Device', device: 0, deviceName: 'USB Audio', pcm: 'plughw:CARD=Device,DEV=0' },
    ]);
    expect(parseCardList('')).toEqual([]);
  });

  it('explains open failures in one sentence with a fix', () => {
    expect(explainOpenFailure('playback', 'default', 'ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default')).toBe(
      'no ALSA playback device is available (no sound card?); connect a speaker or set audio.playbackDevice, see kai devices',
    );
    expect(explainOpenFailure('capture', 'usbmic', 'ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM usbmic')).toBe(
      'ALSA has no capture device named "usbmic"; set audio.captureDevice to a device listed by kai devices',
    );
    expect(explainOpenFailure('capture', 'hw:1', 'arecord: main:831: audio open error: Device or resource busy')).toMatch(
      /^the ALSA capture device "hw:1" is busy/,
    );
    expect(explainOpenFailure('playback', 'hw:5', 'ALSA lib confmisc.c:165:(snd_config_get_card) Cannot get card index for 5')).toMatch(
      /is not present \(unplugged\?\)/,
    );
    const enoent = Object.assign(new Error('spawn sox ENOENT'), { code: 'ENOENT' });
    expect(explainRecorderExit({ code: -2, signal: null, stderr: '', spawnError: enoent }, 'sox', 'default')).toBe(
      'sox is not installed; install the Debian package sox (sudo apt-get install sox)',
    );
    expect(explainRecorderExit({ code: null, signal: 'SIGKILL', stderr: '', }, 'arecord', 'default')).toMatch(
      /^the microphone recorder arecord was killed by SIGKILL; /,
    );
  });
});
