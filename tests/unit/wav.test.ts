import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioFormatError, KaiError } from '../../src/errors.js';
import { WavFileWriter, decodeWav, encodeWav, readWav, toPipeline, writeWav, type DecodedWav } from '../../src/audio/wav.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kai-wav-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- building WAV files in code ----

type Kind = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64';
const BITS: Record<Kind, number> = { u8: 8, s16: 16, s24: 24, s32: 32, f32: 32, f64: 64 };

/** Quantizes x the way a writer of `kind` would; returns the stored integer (or float) value and its decoded value. */
function quantize(x: number, kind: Kind): { stored: number; decoded: number } {
  const q = (scale: number): { stored: number; decoded: number } => {
    const v = Math.max(-scale, Math.min(scale - 1, Math.round(x * scale)));
    return { stored: v, decoded: Math.fround(v / scale) };
  };
  switch (kind) {
    case 'u8':
      return q(128);
    case 's16':
      return q(32768);
    case 's24':
      return q(8388608);
    case 's32':
      return q(2147483648);
    case 'f32':
      return { stored: x, decoded: Math.fround(x) };
    case 'f64':
      return { stored: x, decoded: Math.fround(x) };
  }
}

function writeSample(buf: Buffer, off: number, stored: number, kind: Kind): void {
  switch (kind) {
    case 'u8':
      buf.writeUInt8(stored + 128, off);
      break;
    case 's16':
      buf.writeInt16LE(stored, off);
      break;
    case 's24':
      buf.writeIntLE(stored, off, 3);
      break;
    case 's32':
      buf.writeInt32LE(stored, off);
      break;
    case 'f32':
      buf.writeFloatLE(stored, off);
      break;
    case 'f64':
      buf.writeDoubleLE(stored, off);
      break;
  }
}

/** Interleaved sample bytes plus the channel data a correct decoder must return. */
function samplesOf(channels: number[][], kind: Kind): { data: Buffer; expected: Float32Array[] } {
  const bytes = BITS[kind] / 8;
  const frames = channels[0]!.length;
  const data = Buffer.alloc(frames * channels.length * bytes);
  const expected = channels.map(() => new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    channels.forEach((ch, c) => {
      const { stored, decoded } = quantize(ch[f]!, kind);
      writeSample(data, (f * channels.length + c) * bytes, stored, kind);
      expected[c]![f] = decoded;
    });
  }
  return { data, expected };
}

function chunk(id: string, body: Buffer, { pad = true, size = body.length }: { pad?: boolean; size?: number } = {}): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(size >>> 0, 4);
  return Buffer.concat([head, body, pad && body.length % 2 === 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

interface FmtSpec {
  tag?: number;
  channels: number;
  sampleRate: number;
  bits: number;
  blockAlign?: number;
  /** WAVE_FORMAT_EXTENSIBLE with this subformat code. */
  subformat?: number;
  guidTail?: Buffer;
}

const GUID_TAIL = Buffer.from([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);

function fmtChunk(spec: FmtSpec): Buffer {
  const extensible = spec.subformat !== undefined;
  const body = Buffer.alloc(extensible ? 40 : 16);
  const blockAlign = spec.blockAlign ?? (spec.channels * spec.bits) / 8;
  body.writeUInt16LE(extensible ? 0xfffe : (spec.tag ?? 1), 0);
  body.writeUInt16LE(spec.channels, 2);
  body.writeUInt32LE(spec.sampleRate, 4);
  body.writeUInt32LE((spec.sampleRate * blockAlign) >>> 0, 8);
  body.writeUInt16LE(blockAlign, 12);
  body.writeUInt16LE(spec.bits, 14);
  if (extensible) {
    body.writeUInt16LE(22, 16);
    body.writeUInt16LE(spec.bits, 18);
    body.writeUInt32LE(spec.channels === 2 ? 3 : 4, 20);
    body.writeUInt16LE(spec.subformat!, 24);
    (spec.guidTail ?? GUID_TAIL).copy(body, 26);
  }
  return chunk('fmt ', body);
}

function riff(chunks: Buffer[], riffSize?: number): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(riffSize ?? body.length, 4);
  return Buffer.concat([head, body]);
}

function sine(freq: number, rate: number, n: number, amp = 0.8): number[] {
  return Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));
}

/** A small valid 16-bit mono file body, for header edge cases. */
const PCM16 = samplesOf([sine(440, 16_000, 100)], 's16');

function expectChannels(decoded: DecodedWav, expected: Float32Array[]): void {
  expect(decoded.channelData.length).toBe(expected.length);
  expected.forEach((ch, c) => {
    const got = decoded.channelData[c]!;
    expect(got.length).toBe(ch.length);
    const i = got.findIndex((v, k) => v !== ch[k]);
    expect(i === -1 ? 'equal' : `channel ${c} differs at ${i}: ${got[i]} vs ${ch[i]}`).toBe('equal');
  });
}

function decodeError(buf: Buffer, name = 'clip.wav'): Error {
  try {
    decodeWav(buf, name);
  } catch (err) {
    expect(err).toBeInstanceOf(AudioFormatError);
    const message = (err as Error).message;
    expect(message).toContain(name);
    expect(message).not.toContain('\n');
    return err as Error;
  }
  throw new Error(`decodeWav accepted ${name}`);
}

// ---- measuring ----

function goertzelPower(x: Int16Array | Float32Array, freq: number, rate: number): number {
  const w = (2 * Math.PI * freq) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

function dominantFrequency(x: Int16Array, rate: number): number {
  let best = 0;
  let bestPower = -1;
  for (let f = 50; f < rate / 2; f += 10) {
    const p = goertzelPower(x, f, rate);
    if (p > bestPower) {
      bestPower = p;
      best = f;
    }
  }
  return best;
}

function rms(x: Int16Array | Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

/** Runs sox without dither (-D) and returns its stdout; its warnings are kept off the test output. */
function sox(args: string[], input?: Buffer): Buffer {
  return execFileSync('sox', ['-D', ...args], { input, maxBuffer: 64 << 20, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs sox with `$OUT` standing for a new file in the temporary directory. */
function soxFile(name: string, args: string[]): string {
  const path = join(dir, name);
  sox(args.map((a) => (a === '$OUT' ? path : a)));
  return path;
}

/** What sox itself reads from a file: interleaved 32-bit floats. */
function soxFloats(path: string): Float32Array {
  const raw = sox([path, '-t', 'raw', '-e', 'floating-point', '-b', '32', '-']);
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

function interleave(channels: Float32Array[]): Float32Array {
  const frames = channels[0]!.length;
  const out = new Float32Array(frames * channels.length);
  for (let f = 0; f < frames; f++) channels.forEach((ch, c) => (out[f * channels.length + c] = ch[f]!));
  return out;
}

// ---- tests ----

describe('decodeWav: formats', () => {
  const kinds: Kind[] = ['u8', 's16', 's24', 's32', 'f32', 'f64'];
  for (const kind of kinds) {
    for (const channels of [1, 2, 3]) {
      it(`decodes ${kind} with ${channels} channel(s) exactly`, () => {
        const signals = Array.from({ length: channels }, (_, c) => {
          const s = sine(300 * (c + 1), 22_050, 500, 0.9);
          s.push(-1, 0.99999, 0, -0.5);
          return s;
        });
        const { data, expected } = samplesOf(signals, kind);
        const float = kind === 'f32' || kind === 'f64';
        const buf = riff([fmtChunk({ tag: float ? 3 : 1, channels, sampleRate: 22_050, bits: BITS[kind] }), chunk('data', data)]);
        const decoded = decodeWav(buf, `${kind}.wav`);
        expect(decoded).toMatchObject({ sampleRate: 22_050, channels, bitsPerSample: BITS[kind], format: float ? 'float' : 'pcm', frames: 504 });
        expectChannels(decoded, expected);
      });
    }
  }

  it('decodes WAVE_FORMAT_EXTENSIBLE with PCM and float subformats', () => {
    const signals = [sine(440, 48_000, 300), sine(880, 48_000, 300)];
    for (const [kind, subformat] of [['s24', 1], ['s16', 1], ['f32', 3]] as const) {
      const { data, expected } = samplesOf(signals, kind);
      const buf = riff([fmtChunk({ channels: 2, sampleRate: 48_000, bits: BITS[kind], subformat }), chunk('data', data)]);
      const decoded = decodeWav(buf, 'ext.wav');
      expect(decoded.format).toBe(subformat === 1 ? 'pcm' : 'float');
      expect(decoded.bitsPerSample).toBe(BITS[kind]);
      expectChannels(decoded, expected);
    }
  });

  it('decodes 12-bit PCM stored left-justified in 16-bit containers', () => {
    const { data, expected } = samplesOf([sine(440, 8000, 200)], 's16');
    const buf = riff([fmtChunk({ channels: 1, sampleRate: 8000, bits: 12, blockAlign: 2 }), chunk('data', data)]);
    const decoded = decodeWav(buf, 'twelve.wav');
    expect(decoded.bitsPerSample).toBe(12);
    expectChannels(decoded, expected);
  });

  it('skips unknown chunks before fmt, between fmt and data, and after data', () => {
    const buf = riff([
      chunk('JUNK', Buffer.alloc(28)),
      chunk('bext', Buffer.alloc(602, 0x41)),
      fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 }),
      chunk('fact', Buffer.from([100, 0, 0, 0])),
      chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00kai!\x00\x00', 'latin1')),
      chunk('data', PCM16.data),
      chunk('id3 ', Buffer.alloc(10, 0xff)),
    ]);
    expectChannels(decodeWav(buf, 'chunks.wav'), PCM16.expected);
  });

  it('finds a data chunk that comes before the fmt chunk', () => {
    const buf = riff([chunk('data', PCM16.data), fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 })]);
    expectChannels(decodeWav(buf, 'data-first.wav'), PCM16.expected);
  });

  it('honours the pad byte after odd-sized chunks, and copes with writers that omit it', () => {
    const odd = Buffer.from('odd!!', 'latin1');
    const padded = riff([chunk('LIST', odd), fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 }), chunk('data', PCM16.data)]);
    expectChannels(decodeWav(padded, 'padded.wav'), PCM16.expected);
    const unpadded = riff([chunk('LIST', odd, { pad: false }), fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 }), chunk('data', PCM16.data)]);
    expectChannels(decodeWav(unpadded, 'unpadded.wav'), PCM16.expected);
    // An odd-length 8-bit data chunk followed by its pad byte and another chunk.
    const u8 = samplesOf([sine(100, 8000, 101)], 'u8');
    const oddData = riff([fmtChunk({ channels: 1, sampleRate: 8000, bits: 8 }), chunk('data', u8.data), chunk('LIST', Buffer.alloc(4))]);
    expectChannels(decodeWav(oddData, 'odd-data.wav'), u8.expected);
  });

  it('reads streamed WAVs whose data size is a placeholder to the end of the file', () => {
    const fmt = fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 });
    for (const size of [0, 0xffffffff, 0x7ffff000, 0x80000000]) {
      const buf = riff([fmt, chunk('data', PCM16.data, { size })], size === 0 ? 0 : 0xffffffff);
      expectChannels(decodeWav(buf, `streamed-${size}.wav`), PCM16.expected);
    }
    // RF64 keeps the real sizes in a ds64 chunk and 0xffffffff in the 32-bit fields.
    const rf64 = riff([chunk('ds64', Buffer.alloc(28)), fmt, chunk('data', PCM16.data, { size: 0xffffffff })], 0xffffffff);
    rf64.write('RF64', 0, 'latin1');
    expectChannels(decodeWav(rf64, 'big.rf64'), PCM16.expected);
    // A trailing partial frame (the stream was cut mid-sample) is dropped.
    const cut = riff([fmt, chunk('data', Buffer.concat([PCM16.data, Buffer.from([7])]), { size: 0xffffffff, pad: false })]);
    const decoded = decodeWav(cut, 'cut.wav');
    expect(decoded.frames).toBe(100);
    expectChannels(decoded, PCM16.expected);
  });

  it('reads the WAV that sox writes to a pipe', () => {
    const samples = new Int16Array(3200);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.round(10_000 * Math.sin(i / 7));
    const wav = sox(['-t', 'raw', '-r', '16000', '-e', 'signed', '-b', '16', '-c', '1', '-', '-t', 'wav', '-'], Buffer.from(samples.buffer));
    expect(wav.readUInt32LE(40)).toBeGreaterThan(wav.length); // sox could not patch the sizes
    const decoded = decodeWav(wav, 'pipe.wav');
    expect(decoded.frames).toBe(3200);
    expect(toPipeline(decoded)).toEqual(samples);
  });

  it('returns no frames for a WAV with an empty data chunk', () => {
    const decoded = decodeWav(encodeWav(new Int16Array(0), 16_000), 'empty-data.wav');
    expect(decoded.frames).toBe(0);
    expect(toPipeline(decoded).length).toBe(0);
  });
});

describe('decodeWav: files written by sox', () => {
  const cases: { name: string; args: string[]; rate: number; channels: number; bits: number; format: 'pcm' | 'float' }[] = [
    { name: 'stereo-24.wav', args: ['-r', '44100', '-c', '2', '-b', '24'], rate: 44_100, channels: 2, bits: 24, format: 'pcm' },
    { name: 'float-32.wav', args: ['-r', '48000', '-c', '1', '-e', 'floating-point', '-b', '32'], rate: 48_000, channels: 1, bits: 32, format: 'float' },
    { name: 'float-64.wav', args: ['-r', '22050', '-c', '1', '-e', 'floating-point', '-b', '64'], rate: 22_050, channels: 1, bits: 64, format: 'float' },
    { name: 'unsigned-8.wav', args: ['-r', '8000', '-c', '1', '-e', 'unsigned', '-b', '8'], rate: 8000, channels: 1, bits: 8, format: 'pcm' },
    { name: 'signed-32.wav', args: ['-r', '24000', '-c', '2', '-e', 'signed', '-b', '32'], rate: 24_000, channels: 2, bits: 32, format: 'pcm' },
    { name: 'three-16.wav', args: ['-r', '16000', '-c', '3', '-b', '16'], rate: 16_000, channels: 3, bits: 16, format: 'pcm' },
  ];

  for (const c of cases) {
    it(`${c.name}: same samples as sox reads, and a 440 Hz tone at 16 kHz`, async () => {
      const path = soxFile(c.name, ['-n', ...c.args, '$OUT', 'synth', '0.5', 'sine', '440', 'vol', '0.7']);
      const decoded = decodeWav(await readFile(path), c.name);
      expect(decoded).toMatchObject({ sampleRate: c.rate, channels: c.channels, bitsPerSample: c.bits, format: c.format, frames: c.rate / 2 });

      const ours = interleave(decoded.channelData);
      const theirs = soxFloats(path);
      expect(ours.length).toBe(theirs.length);
      let maxDiff = 0;
      for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
      expect(maxDiff).toBeLessThan(1e-6);

      const pipeline = toPipeline(decoded);
      expect(pipeline.length).toBe(8000);
      expect(dominantFrequency(pipeline, 16_000)).toBe(440);
      // Level survives: 0.7 peak → 0.7/√2 RMS (8-bit quantization noise aside).
      expect(rms(pipeline, 500, 7500) / 32768).toBeCloseTo(0.7 / Math.SQRT2, 2);
    });
  }

  it('matches sox’s own conversion to 16 kHz mono', async () => {
    const path = soxFile('chord.wav', ['-n', '-r', '44100', '-c', '2', '-b', '24', '$OUT', 'synth', '0.5', 'sine', '300', 'sine', '2500', 'vol', '0.5']);
    const ours = toPipeline(decodeWav(await readFile(path), 'chord.wav'));
    const raw = sox([path, '-t', 'raw', '-r', '16000', '-c', '1', '-e', 'signed', '-b', '16', '-']);
    const theirs = new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    expect(ours.length).toBe(theirs.length);
    const diff = new Float32Array(ours.length);
    for (let i = 0; i < ours.length; i++) diff[i] = ours[i]! - theirs[i]!;
    expect(20 * Math.log10(rms(diff, 200, 7800) / rms(theirs, 200, 7800))).toBeLessThan(-50);
  });
});

describe('toPipeline', () => {
  it('averages the channels', () => {
    const left = sine(500, 16_000, 1600, 0.6);
    const right = left.map(() => 0);
    const { data } = samplesOf([left, right], 'f32');
    const out = toPipeline(decodeWav(riff([fmtChunk({ tag: 3, channels: 2, sampleRate: 16_000, bits: 32 }), chunk('data', data)]), 's.wav'));
    expect(out.length).toBe(1600);
    let maxErr = 0;
    for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i]! - Math.fround(left[i]!) * 0.5 * 32768));
    expect(maxErr).toBeLessThanOrEqual(0.5);
  });

  it('keeps one tone per channel at half level after the downmix', async () => {
    const path = soxFile('two-tones.wav', ['-n', '-r', '48000', '-c', '2', '-b', '16', '$OUT', 'synth', '0.5', 'sine', '440', 'sine', '1000']);
    const out = toPipeline(decodeWav(await readFile(path), 'two-tones.wav'));
    expect(out.length).toBe(8000);
    const p440 = goertzelPower(out, 440, 16_000);
    const p1000 = goertzelPower(out, 1000, 16_000);
    expect(10 * Math.log10(p440 / p1000)).toBeCloseTo(0, 0);
    expect(10 * Math.log10(goertzelPower(out, 700, 16_000) / p440)).toBeLessThan(-30);
  });

  it('converts 8 kHz and 44.1 kHz files to the right length and pitch', () => {
    for (const rate of [8000, 11_025, 44_100, 96_000]) {
      const { data } = samplesOf([sine(440, rate, rate)], 's16');
      const out = toPipeline(decodeWav(riff([fmtChunk({ channels: 1, sampleRate: rate, bits: 16 }), chunk('data', data)]), `${rate}.wav`));
      expect(out.length).toBe(16_000);
      expect(dominantFrequency(out, 16_000)).toBe(440);
    }
  });

  it('clips float input beyond ±1', () => {
    const { data } = samplesOf([[2, -3, 0.5, 1]], 'f32');
    const out = toPipeline(decodeWav(riff([fmtChunk({ tag: 3, channels: 1, sampleRate: 16_000, bits: 32 }), chunk('data', data)]), 'loud.wav'));
    expect(Array.from(out)).toEqual([32767, -32768, 16384, 32767]);
  });
});

describe('decodeWav: unusable files', () => {
  const fmt16 = fmtChunk({ channels: 1, sampleRate: 16_000, bits: 16 });

  it('rejects an empty file', () => {
    expect(decodeError(Buffer.alloc(0), 'empty.wav').message).toMatch(/empty/);
  });

  it('rejects a 10-byte file', () => {
    expect(decodeError(Buffer.from('0123456789'), 'ten.wav').message).toMatch(/not a WAV file/);
    expect(decodeError(Buffer.from('RIFF\x10\x00\x00\x00WA', 'latin1'), 'short.wav').message).toMatch(/truncated/);
  });

  it('rejects MP3 and other non-WAV data', () => {
    const mp3 = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x21', 'latin1'), Buffer.alloc(2000, 0x55)]);
    expect(decodeError(mp3, 'song.mp3').message).toMatch(/not a WAV file.*MP3/);
    const frameSync = Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(500)]);
    expect(decodeError(frameSync, 'raw.mp3').message).toMatch(/MP3/);
    const random = Buffer.alloc(4096);
    let s = 7;
    for (let i = 0; i < random.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      random[i] = s >>> 24;
    }
    random[0] = 0x12;
    expect(decodeError(random, 'noise.bin').message).toMatch(/not a WAV file \(no RIFF\/WAVE header\)/);
    expect(decodeError(Buffer.from('RIFF\x04\x00\x00\x00AVI LIST', 'latin1'), 'movie.avi').message).toMatch(/not a WAV file/);
    expect(decodeError(Buffer.from('RIFX\x24\x00\x00\x00WAVEfmt ', 'latin1'), 'motorola.wav').message).toMatch(/big-endian/);
  });

  it('rejects absurd channel counts, sample rates and sample sizes', () => {
    const cases: [FmtSpec, RegExp][] = [
      [{ channels: 0, sampleRate: 16_000, bits: 16, blockAlign: 2 }, /0 channels/],
      [{ channels: 65, sampleRate: 16_000, bits: 16 }, /65 channels/],
      [{ channels: 1, sampleRate: 0, bits: 16 }, /sample rate of 0 Hz/],
      [{ channels: 1, sampleRate: 1_000_000, bits: 16 }, /sample rate of 1000000 Hz/],
      [{ channels: 1, sampleRate: 16_000, bits: 4, blockAlign: 1 }, /4-bit PCM/],
      [{ channels: 1, sampleRate: 16_000, bits: 40 }, /40-bit PCM/],
      [{ tag: 3, channels: 1, sampleRate: 16_000, bits: 16 }, /16-bit float/],
      [{ channels: 2, sampleRate: 16_000, bits: 16, blockAlign: 2 }, /block align 2/],
      [{ channels: 1, sampleRate: 16_000, bits: 24, blockAlign: 4 }, /block align 4/],
    ];
    for (const [spec, pattern] of cases) {
      expect(decodeError(riff([fmtChunk(spec), chunk('data', Buffer.alloc(64))]), 'odd-header.wav').message).toMatch(pattern);
    }
  });

  it('rejects compressed encodings by name', () => {
    const ulaw = riff([fmtChunk({ tag: 7, channels: 1, sampleRate: 8000, bits: 8 }), chunk('data', Buffer.alloc(80))]);
    expect(decodeError(ulaw, 'phone.wav').message).toMatch(/µ-law \(format 0x0007\), which is not supported/);
    const mp3 = riff([fmtChunk({ tag: 0x55, channels: 1, sampleRate: 8000, bits: 0, blockAlign: 0 }), chunk('data', Buffer.alloc(80))]);
    expect(decodeError(mp3, 'mp3-in-wav.wav').message).toMatch(/MP3/);
    const weird = riff([fmtChunk({ tag: 0x1234, channels: 1, sampleRate: 8000, bits: 16 }), chunk('data', Buffer.alloc(80))]);
    expect(decodeError(weird, 'weird.wav').message).toMatch(/unknown encoding \(format 0x1234\)/);
    const badGuid = riff([fmtChunk({ channels: 1, sampleRate: 8000, bits: 16, subformat: 1, guidTail: Buffer.alloc(14, 1) }), chunk('data', Buffer.alloc(80))]);
    expect(decodeError(badGuid, 'guid.wav').message).toMatch(/unknown WAVE_FORMAT_EXTENSIBLE subformat/);
    const shortExt = Buffer.alloc(18);
    shortExt.writeUInt16LE(0xfffe, 0);
    expect(decodeError(riff([chunk('fmt ', shortExt), chunk('data', Buffer.alloc(8))]), 'ext.wav').message).toMatch(/malformed/);
  });

  it('rejects a truncated data chunk whose size is concrete', () => {
    const buf = riff([fmt16, chunk('data', Buffer.alloc(100), { size: 1000 })]);
    expect(decodeError(buf, 'cut.wav').message).toMatch(/truncated: its data chunk declares 1000 bytes but only 100 are present/);
  });

  it('rejects truncated or malformed fmt chunks', () => {
    const full = riff([fmt16, chunk('data', Buffer.alloc(8))]);
    expect(decodeError(full.subarray(0, 30), 'cut-fmt.wav').message).toMatch(/truncated inside its fmt chunk/);
    expect(decodeError(riff([chunk('fmt ', Buffer.alloc(12)), chunk('data', Buffer.alloc(8))]), 'tiny-fmt.wav').message).toMatch(
      /malformed fmt chunk/,
    );
    expect(decodeError(riff([chunk('LIST', Buffer.alloc(10), { size: 5000 })]), 'cut-list.wav').message).toMatch(/truncated before its fmt/);
  });

  it('rejects files without a fmt or data chunk', () => {
    expect(decodeError(riff([chunk('data', PCM16.data)]), 'no-fmt.wav').message).toMatch(/no fmt chunk/);
    expect(decodeError(riff([fmt16, chunk('LIST', Buffer.alloc(4))]), 'no-data.wav').message).toMatch(/no data chunk/);
    expect(decodeError(riff([]), 'bare.wav').message).toMatch(/no fmt chunk/);
  });
});

describe('readWav', () => {
  it('reads a file as 16 kHz mono int16 and describes the source', async () => {
    const path = soxFile('read.wav', ['-n', '-r', '48000', '-c', '2', '-b', '24', '$OUT', 'synth', '0.25', 'sine', '440']);
    const result = await readWav(path);
    expect(result.sampleRate).toBe(16_000);
    expect(result.samples).toBeInstanceOf(Int16Array);
    expect(result.samples.length).toBe(4000);
    expect(result.source).toEqual({ sampleRate: 48_000, channels: 2, bitsPerSample: 24, format: 'pcm', frames: 12_000 });
  });

  it('names the path when the file is missing, a directory, empty or not a WAV', async () => {
    const missing = join(dir, 'nope.wav');
    await expect(readWav(missing)).rejects.toThrow(new AudioFormatError(`no such file: ${missing}`));
    await expect(readWav(missing)).rejects.toBeInstanceOf(AudioFormatError);
    const sub = join(dir, 'a-directory');
    await mkdir(sub, { recursive: true });
    await expect(readWav(sub)).rejects.toThrow(`${sub} is a directory, not a WAV file`);
    const empty = join(dir, 'empty.wav');
    await writeFile(empty, Buffer.alloc(0));
    await expect(readWav(empty)).rejects.toThrow(`${empty} is empty`);
    const text = join(dir, 'notes.wav');
    await writeFile(text, 'these are not samples, just some text in a file');
    await expect(readWav(text)).rejects.toThrow(`${text} is not a WAV file`);
  });
});

describe('encodeWav / writeWav', () => {
  it('round-trips int16 audio exactly, mono and interleaved stereo', () => {
    const mono = Int16Array.from({ length: 999 }, (_, i) => ((i * 7919) % 65536) - 32768);
    const decoded = decodeWav(encodeWav(mono, 22_050), 'mono.wav');
    expect(decoded).toMatchObject({ sampleRate: 22_050, channels: 1, bitsPerSample: 16, format: 'pcm', frames: 999 });
    expect(toPipeline({ ...decoded, sampleRate: 16_000 })).toEqual(mono);

    const stereo = Int16Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? i : -i));
    const d2 = decodeWav(encodeWav(stereo, 8000, 2), 'stereo.wav');
    expect(d2.frames).toBe(500);
    expect(Array.from(d2.channelData[1]!.subarray(0, 3), (v) => v * 32768)).toEqual([-1, -3, -5]);
  });

  it('writes a canonical header that sox reads back identically', async () => {
    const samples = Int16Array.from({ length: 1601 }, (_, i) => Math.round(20_000 * Math.sin(i / 5)));
    const bytes = encodeWav(samples, 16_000);
    expect(bytes.length).toBe(44 + 2 * 1601);
    expect(bytes.readUInt32LE(4)).toBe(36 + 2 * 1601);
    expect(bytes.readUInt32LE(40)).toBe(2 * 1601);
    const path = join(dir, 'canonical.wav');
    await writeFile(path, bytes);
    const raw = sox([path, '-t', 'raw', '-e', 'signed', '-b', '16', '-']);
    expect(new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))).toEqual(samples);
    expect(execFileSync('soxi', ['-r', path]).toString().trim()).toBe('16000');
  });

  it('rejects sample counts that do not fit the channels and bad rates', () => {
    expect(() => encodeWav(new Int16Array(3), 16_000, 2)).toThrow(RangeError);
    expect(() => encodeWav(new Int16Array(2), 0)).toThrow(RangeError);
    expect(() => encodeWav(new Int16Array(2), 16_000, 0)).toThrow(RangeError);
  });

  it('writes atomically, leaving no temporary files', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'out.wav');
    await writeWav(path, new Int16Array([1, 2, 3]), 16_000);
    await writeWav(path, new Int16Array([4, 5, 6, 7]), 16_000);
    expect(await readdir(sub)).toEqual(['out.wav']);
    expect(Array.from((await readWav(path)).samples)).toEqual([4, 5, 6, 7]);
    const bad = join(sub, 'missing-dir', 'x.wav');
    const err = await writeWav(bad, new Int16Array(1), 16_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KaiError);
    expect((err as Error).message).toContain(bad);
    expect(await readdir(sub)).toEqual(['out.wav']);
  });
});

describe('WavFileWriter', () => {
  it('streams chunks to a file and patches the sizes on close', async () => {
    const path = join(dir, 'stream.wav');
    const w = await WavFileWriter.open(path, 16_000);
    const chunks = Array.from({ length: 20 }, (_, k) => Int16Array.from({ length: 160 + k }, (_, i) => k * 1000 + i));
    await Promise.all(chunks.slice(0, 10).map((c) => w.write(c)));
    // Readable before close: the placeholder sizes mean "to the end of the file".
    const partial = decodeWav(await readFile(path), 'partial.wav');
    expect(partial.frames).toBe(chunks.slice(0, 10).reduce((n, c) => n + c.length, 0));
    const pending = chunks.slice(10).map((c) => w.write(c));
    await w.close();
    await Promise.all(pending);
    await w.close();
    const all = Int16Array.from(chunks.flatMap((c) => Array.from(c)));
    expect(w.samplesWritten).toBe(all.length);
    expect(w.durationMs).toBeCloseTo((all.length / 16_000) * 1000, 6);
    const bytes = await readFile(path);
    expect(bytes.readUInt32LE(40)).toBe(all.length * 2);
    expect(bytes.readUInt32LE(4)).toBe(36 + all.length * 2);
    expect(toPipeline(decodeWav(bytes, 'stream.wav'))).toEqual(all);
    expect(execFileSync('soxi', ['-s', path]).toString().trim()).toBe(String(all.length));
    await expect(w.write(new Int16Array(1))).rejects.toThrow(/closed/);
  });

  it('names the path when the file cannot be created', async () => {
    const bad = join(dir, 'no-such-dir', 'x.wav');
    await expect(WavFileWriter.open(bad, 16_000)).rejects.toThrow(bad);
  });
});
