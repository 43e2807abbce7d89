/*
 * The real microphone and speaker code paths (arecord/sox through node-record-lpcm16, the
 * `speaker` native module) end to end, on a machine without a sound card, through ALSA's file
 * plugin: playback lands in a raw file, capture reads a raw file we prepare.
 *
 * ALSA reads $HOME/.asoundrc when this process first uses it, so HOME is pointed at a temporary
 * directory before anything here touches audio (vitest runs each test file in its own process).
 * Cases with no usable device run in child processes so an abort would show as a signal.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { openSpeakerSink } from '../../src/audio/sinks/speaker.js';
import { MicSource } from '../../src/audio/sources/mic.js';
import { encodeWav } from '../../src/audio/wav.js';
import { AudioDeviceError } from '../../src/errors.js';
import { fileDeviceHome, noDeviceHome } from '../helpers/alsa.js';
import { kaiBin } from '../helpers/cli.js';
import { projectRoot } from '../helpers/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'kai-alsa-'));
const outRaw = join(work, 'out.raw');
const inRaw = join(work, 'in.raw');
const home = join(work, 'home');
const badHome = join(work, 'bad-home');
fileDeviceHome(home, { inRaw, outRaw });
noDeviceHome(badHome);
process.env.HOME = home;

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Distinct, deterministic values (a 330 Hz tone plus a ramp), so any loss or reordering shows. */
function known(n: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => Math.round(9000 * Math.sin((2 * Math.PI * 330 * i) / 16_000)) + (i % 97));
}

function raw(path: string): Int16Array {
  const b = readFileSync(path);
  return new Int16Array(b.buffer, b.byteOffset, Math.floor(b.length / 2));
}

function rawBytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** The played samples first, then only the silence drain() uses to push the device buffer out. */
function expectPlayed(file: Int16Array, samples: Int16Array): void {
  expect(file.length).toBeGreaterThanOrEqual(samples.length);
  expect(file.subarray(0, samples.length)).toEqual(samples);
  const tail = file.subarray(samples.length);
  expect(tail.every((v) => v === 0)).toBe(true);
  expect(tail.length).toBeLessThanOrEqual(8192);
}

function frames(samples: Int16Array, size = 1280): AudioFrame[] {
  const out: AudioFrame[] = [];
  for (let i = 0; i < samples.length; i += size) {
    out.push({ samples: samples.subarray(i, i + size), sampleRate: 16_000, timestampMs: i / 16 });
  }
  return out;
}

/** Children get this process's environment minus loader hooks and KAI_* overrides, with the given HOME. */
function childEnv(homeDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_OPTIONS' && !k.startsWith('KAI_')) env[k] = v;
  return { ...env, HOME: homeDir, ...extra };
}

function runNode(args: string[], homeDir: string, extra: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, args, { env: childEnv(homeDir, extra), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** One line, no stack trace, no native assertion text. */
function expectOneLine(stderr: string): void {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at |Assertion|Error:/);
}

/** Pids of this process's children running `name` (from /proc). */
function childrenNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && m[1] === name && Number(m[2]) === process.pid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('speaker sink through the ALSA file plugin (the real `speaker` module)', () => {
  it('plays known samples: the device receives exactly them, and playedMs counts them', async () => {
    const samples = known(16_000 * 2 + 6400); // 2.4 s
    const sink = await openSpeakerSink();
    const reported: Int16Array[] = [];
    const times: number[] = [];
    sink.onPlayed((played, atMs) => {
      reported.push(played);
      times.push(atMs);
    });
    for (const f of frames(samples)) await sink.write(f);
    await sink.drain();
    expect(sink.playedMs).toBe(2400);
    await sink.close();
    expectPlayed(raw(outRaw), samples);
    // what it reports as played (the echo canceller's reference) is exactly what was played, in order
    const all = new Int16Array(reported.reduce((n, r) => n + r.length, 0));
    reported.reduce((offset, r) => (all.set(r, offset), offset + r.length), 0);
    expect(all).toEqual(samples);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('resamples to a configured device rate', async () => {
    const samples = known(16_000);
    const sink = await openSpeakerSink({ deviceRate: 48_000 });
    for (const f of frames(samples)) await sink.write(f);
    await sink.drain();
    await sink.close();
    expect(sink.playedMs).toBeCloseTo(1000, 0);
    const file = raw(outRaw);
    expect(file.length).toBeGreaterThanOrEqual(48_000);
    // Output sample 3k sits at input instant k; the ramp part is not band-limited, so allow some error.
    for (let k = 200; k < 15_800; k += 1013) expect(Math.abs(file[3 * k]! - samples[k]!)).toBeLessThan(400);
  });

  it('clear() drops queued audio at once and returns what was played; playback then resumes', async () => {
    const sink = await openSpeakerSink();
    const pending = sink.write({ samples: known(16_000 * 5), sampleRate: 16_000, timestampMs: 0 });
    // One 1024-sample chunk is in the native write; the other 4.9 s are queued.
    expect(sink.clear()).toEqual({ playedMs: 0 });
    await pending;
    await sink.drain();
    expect(sink.playedMs).toBe(0);
    expect(readFileSync(outRaw).length).toBeLessThanOrEqual(2048);

    const after = known(8000);
    for (const f of frames(after)) await sink.write(f);
    await sink.drain();
    expect(sink.playedMs).toBe(500);
    await sink.close();
    // The device was reopened after the drop, and the file plugin started a new file.
    expectPlayed(raw(outRaw), after);
  });

  it('refuses an unknown device in one sentence before loading anything', async () => {
    await expect(openSpeakerSink({ device: 'nosuchpcm' })).rejects.toThrow(
      new AudioDeviceError('ALSA has no playback device named "nosuchpcm"; set audio.playbackDevice to a device listed by kai devices'),
    );
  });
});

describe('microphone through the ALSA file plugin (arecord/sox via node-record-lpcm16)', () => {
  const input = known(16_000 * 2);
  beforeAll(() => writeFileSync(inRaw, rawBytes(input)));

  it('arecord delivers the capture file sample for sample, with sample-count timestamps, and stops on abort', async () => {
    const ac = new AbortController();
    const got: AudioFrame[] = [];
    let total = 0;
    for await (const f of new MicSource({ recorder: 'arecord' }).frames(ac.signal)) {
      got.push(f);
      total += f.samples.length;
      if (childrenNamed('arecord').length === 0) throw new Error('no arecord child while frames arrive');
      if (total >= input.length) ac.abort();
    }
    expect(got.map((f) => f.samples.length).every((n) => n === 1280)).toBe(true);
    expect(got.map((f) => f.timestampMs)).toEqual(got.map((_, i) => i * 80));
    const samples = new Int16Array(total);
    got.reduce((o, f) => (samples.set(f.samples, o), o + f.samples.length), 0);
    expect(samples.subarray(0, input.length)).toEqual(input);
    await new Promise((r) => setTimeout(r, 300));
    expect(childrenNamed('arecord')).toEqual([]);
  });

  it('sox records from the same device (sox converts from the device format itself, so not bit-exact)', async () => {
    const ac = new AbortController();
    const got: AudioFrame[] = [];
    for await (const f of new MicSource({ recorder: 'sox', frameSamples: 512 }).frames(ac.signal)) {
      got.push(f);
      if (got.length === 20) ac.abort();
    }
    expect(got).toHaveLength(20);
    expect(got.every((f) => f.samples.length === 512 && f.sampleRate === 16_000)).toBe(true);
    expect(got.some((f) => f.samples.some((v) => Math.abs(v) > 1000))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(childrenNamed('sox')).toEqual([]);
  });

  it('a recorder that dies mid-stream ends the iteration with a one-sentence AudioDeviceError', async () => {
    const ac = new AbortController();
    const run = (async () => {
      for await (const f of new MicSource({ recorder: 'arecord' }).frames(ac.signal)) {
        void f;
        const [pid] = childrenNamed('arecord');
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await expect(run).rejects.toThrow(
      /^the microphone recorder arecord was killed by SIGKILL; check audio\.captureDevice and audio\.recorder, see kai devices$/,
    );
  });
});

describe('the CLI and the microphone in child processes', () => {
  const root = join(projectRoot, 'dist');
  const cli = kaiBin;
  const wav = join(work, 'known.wav');
  const samples = known(16_000 * 2 + 6400);
  beforeAll(() => {
    writeFileSync(wav, encodeWav(samples, 16_000));
    writeFileSync(inRaw, rawBytes(known(16_000)));
  });

  it('the hazard is real here: loading `speaker` with no usable device aborts node', () => {
    const speaker = createRequire(import.meta.url).resolve('speaker');
    const r = runNode(['-e', `require(${JSON.stringify(speaker)})`], badHome);
    expect(r.signal).toBe('SIGABRT');
  });

  it('kai play plays a WAV through the real speaker module and says how much', () => {
    const r = runNode([cli, 'play', wav], home);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`played 2.4 s of ${wav}\n`);
    expect(r.status).toBe(0);
    expectPlayed(raw(outRaw), samples);
  });

  it('kai play with no playback device exits 2 with one sentence, not an abort', () => {
    const r = runNode([cli, 'play', wav], badHome);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'kai play: no ALSA playback device is available (no sound card?); connect a speaker or set audio.playbackDevice, see kai devices\n',
    );
    expect(r.stdout).toBe('');
  });

  it('kai play with an unknown --device, a missing file or a non-WAV file exits 2 with one line', () => {
    const bogus = runNode([cli, 'play', wav, '--device', 'nosuchpcm'], home);
    expect([bogus.status, bogus.signal]).toEqual([2, null]);
    expect(bogus.stderr).toBe(
      'kai play: ALSA has no playback device named "nosuchpcm"; set audio.playbackDevice to a device listed by kai devices\n',
    );
    const missing = runNode([cli, 'play', join(work, 'missing.wav')], home);
    expect([missing.status, missing.signal]).toEqual([2, null]);
    expect(missing.stderr).toBe(`kai play: no such file: ${join(work, 'missing.wav')}\n`);
    const notWav = join(work, 'notes.wav');
    writeFileSync(notWav, 'just text');
    const text = runNode([cli, 'play', notWav], badHome);
    expect([text.status, text.signal]).toEqual([2, null]);
    expect(text.stderr).toMatch(/^kai play: .*notes\.wav is not a WAV file/);
    expectOneLine(text.stderr);
    const none = runNode([cli, 'play'], home);
    expect([none.status, none.stderr]).toEqual([2, 'kai play: expected one WAV file; run: kai play --help\n']);
  });

  it('kai devices lists the devices and checks the configured ones', () => {
    const r = runNode([cli, 'devices'], home);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Playback devices \(aplay -L\):\n(.*\n)*  playfile\n/);
    expect(r.stdout).toContain('audio.playbackDevice "default": works\n');
    expect(r.stdout).toContain('audio.captureDevice "default" (recorded with arecord): works\n');
    const json = JSON.parse(runNode([cli, 'devices', '--json'], home).stdout) as {
      playback: { usable: boolean; devices: { name: string }[] };
      capture: { usable: boolean; recorder: string };
    };
    expect(json.playback.usable).toBe(true);
    expect(json.playback.devices.map((d) => d.name)).toContain('capfile');
    expect(json.capture).toMatchObject({ usable: true, recorder: 'arecord' });
  });

  it('kai devices with no usable device says so and what to do', () => {
    const r = runNode([cli, 'devices'], badHome);
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(r.stdout).toContain(
      'audio.playbackDevice "default": does not work — no ALSA playback device is available (no sound card?); connect a speaker or set audio.playbackDevice, see kai devices\n',
    );
    expect(r.stdout).toContain(
      'audio.captureDevice "default" (recorded with arecord): does not work — no ALSA capture device is available (no sound card?); connect a microphone or set audio.captureDevice, see kai devices\n',
    );
    expect(r.stdout).toContain('Sound cards (aplay -l): none');
    const json = JSON.parse(runNode([cli, 'devices', '--json'], badHome).stdout) as { playback: { usable: boolean; reason: string } };
    expect(json.playback).toMatchObject({ usable: false, reason: expect.stringMatching(/^no ALSA playback device/) as unknown });
  });

  const micDriver = `
const { MicSource } = await import(process.env.MIC_MODULE);
const ac = new AbortController();
try {
  for await (const frame of new MicSource({ recorder: process.env.MIC_RECORDER }).frames(ac.signal)) {
    process.stdout.write('frame ' + frame.samples.length + '\\n');
    ac.abort();
  }
} catch (err) {
  process.stderr.write(err.name + ': ' + err.message + '\\n');
  process.exitCode = 2;
}
`;
  const mic = (homeDir: string, recorder: string, extra: NodeJS.ProcessEnv = {}) =>
    runNode(['--input-type=module', '-e', micDriver], homeDir, {
      MIC_MODULE: pathToFileURL(join(root, 'src', 'audio', 'sources', 'mic.js')).href,
      MIC_RECORDER: recorder,
      ...extra,
    });

  it('the microphone with no capture device fails with one sentence for every recorder', () => {
    const ok = mic(home, 'arecord');
    expect([ok.status, ok.stdout]).toEqual([0, 'frame 1280\n']);
    for (const recorder of ['arecord', 'sox', 'rec']) {
      const r = mic(badHome, recorder);
      expect([r.status, r.signal, r.stdout]).toEqual([2, null, '']);
      expect(r.stderr).toBe(
        'AudioDeviceError: no ALSA capture device is available (no sound card?); connect a microphone or set audio.captureDevice, see kai devices\n',
      );
    }
  });

  it('a missing recorder program names the Debian package to install', () => {
    const empty = join(work, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const r = mic(home, 'arecord', { PATH: empty });
    expect([r.status, r.signal]).toEqual([2, null]);
    expect(r.stderr).toBe(
      'AudioDeviceError: arecord is not installed; install the Debian package alsa-utils (sudo apt-get install alsa-utils)\n',
    );
    const s = mic(home, 'sox', { PATH: empty });
    expect(s.stderr).toBe('AudioDeviceError: sox is not installed; install the Debian package sox (sudo apt-get install sox)\n');
  });
});
