/*
 * `kai listen` and `kai doctor` on the real microphone and speaker paths (arecord, the speaker
 * module), with ALSA's file plugin standing in for a sound card.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { fileDeviceHome, noDeviceHome } from '../helpers/alsa.js';
import { noStackTrace, runKai } from '../helpers/cli.js';
import { concat, phrase, sharedModelsDir, silence } from '../helpers/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'kai-live-'));
const inRaw = join(work, 'in.raw');
const home = fileDeviceHome(join(work, 'home'), { inRaw, outRaw: join(work, 'out.raw') });
const badHome = noDeviceHome(join(work, 'bad-home'));
const env = { KAI_MODELS_DIR: sharedModelsDir, XDG_CONFIG_HOME: join(work, 'config') };
let seconds = 0;

beforeAll(async () => {
  const voice = { engine: 'espeak' as const, voice: 'en-gb' };
  const { samples } = await readWav(concat('live-mic', [silence(1), phrase('hey jarvis', voice), silence(0.8), phrase('what time is it', voice), silence(1.5)]));
  writeFileSync(inRaw, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  seconds = samples.length / 16_000;
});

describe('kai listen on the microphone', () => {
  it('hears the wake word and both utterances through arecord', async () => {
    const { code, stdout, stderr } = await runKai(['listen', '--json', '--seconds', (seconds - 0.2).toFixed(1)], { env: { ...env, HOME: home } });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; keyword?: string; t: number });
    expect(events.map((e) => e.type)).toEqual(['speech_start', 'wake', 'speech_end', 'speech_start', 'speech_end']);
    expect(events[1]!.keyword).toBe('hey_jarvis');
    expect(Math.abs(events[0]!.t - 1000)).toBeLessThanOrEqual(150);
  });

  it('says in one line that there is no microphone, and exits 2', async () => {
    const { code, signal, stdout, stderr } = await runKai(['listen'], { env: { ...env, HOME: badHome } });
    expect(signal).toBeNull();
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe('kai listen: no ALSA capture device is available (no sound card?); connect a microphone or set audio.captureDevice, see kai devices');
    expect(noStackTrace(stderr)).toBe(true);
  });
});

describe('kai doctor', () => {
  it('passes every check with working devices and verified models', async () => {
    const { code, stdout } = await runKai(['doctor'], { env: { ...env, HOME: home } });
    expect(stdout).toMatch(/^ok {4}capture: default records$/m);
    expect(stdout).toMatch(/^ok {4}playback: default plays$/m);
    expect(stdout).toMatch(/^ok {4}model hey_jarvis: installed, checksum verified$/m);
    // no PulseAudio/PipeWire here: kai's own echo canceller stands in
    expect(stdout).toMatch(/^ok    echo cancellation: no PulseAudio or PipeWire found .*; kai's own echo canceller takes its voice out of the microphone/m);
    expect(stdout.trim().split('\n').at(-1)).toBe('all checks passed');
    expect(code).toBe(0);
  });

  it('fails the device checks with the fix when there is no sound card', async () => {
    const { code, stdout } = await runKai(['doctor', '--json'], { env: { ...env, HOME: badHome } });
    const checks = stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; name: string; detail: string });
    expect(checks.find((c) => c.name === 'capture')).toMatchObject({ level: 'fail', detail: expect.stringContaining('connect a microphone') as string });
    expect(checks.find((c) => c.name === 'playback')).toMatchObject({ level: 'fail', detail: expect.stringContaining('connect a speaker') as string });
    expect(code).toBe(1);
  });
});
