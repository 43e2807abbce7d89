import { beforeAll, describe, expect, it } from 'vitest';
import { loadVoiceActivityDetector } from '../../src/audio/detectors.js';
import { speechSegments, type VoiceActivityDetector } from '../../src/audio/vad/index.js';
import { readWav } from '../../src/audio/wav.js';
import { configSchema } from '../../src/config/schema.js';
import { concat, phrase, sharedModelsDir, silence, soxCached } from '../helpers/fixtures.js';

let vad: VoiceActivityDetector;

beforeAll(async () => {
  vad = await loadVoiceActivityDetector(configSchema.parse({ vad: { paddingMs: 0 } }).vad, sharedModelsDir);
});

async function seconds(path: string): Promise<number> {
  return (await readWav(path)).samples.length / 16_000;
}

/** Builds audio from [kind, file] parts and returns it with the true speech intervals in ms. */
async function layout(name: string, parts: ['speech' | 'gap', string][]) {
  const truth: { startMs: number; endMs: number }[] = [];
  let t = 0;
  for (const [kind, file] of parts) {
    const d = (await seconds(file)) * 1000;
    if (kind === 'speech') truth.push({ startMs: t, endMs: t + d });
    t += d;
  }
  const audio = await readWav(concat(name, parts.map(([, f]) => f)));
  return { samples: audio.samples, truth };
}

describe('Silero VAD on a known speech/silence layout', () => {
  it('finds each utterance within 100 ms of its true boundaries', async () => {
    const { samples, truth } = await layout('vad-layout', [
      ['gap', silence(1.2)],
      ['speech', phrase('hey jarvis, what time is it', { engine: 'espeak', voice: 'en-us' })],
      ['gap', silence(1.5)],
      ['speech', phrase('run the tests in the api package', { engine: 'flite', voice: 'slt' })],
      ['gap', silence(0.9)],
      ['speech', phrase('thank you', { engine: 'espeak', voice: 'en-gb+f3' })],
      ['gap', silence(2)],
    ]);
    const segments = await speechSegments(vad, samples);
    expect(segments).toHaveLength(truth.length);
    segments.forEach((segment, i) => {
      expect(Math.abs(segment.startMs - truth[i]!.startMs), `start of segment ${i}`).toBeLessThanOrEqual(100);
      expect(Math.abs(segment.endMs - truth[i]!.endMs), `end of segment ${i}`).toBeLessThanOrEqual(100);
    });
  });

  it('finds speech over background noise and none in noise alone', async () => {
    const noise = soxCached('vad-noise', ['-n', '-r', '16000', '-c', '1', '-b', '16', '$OUT', 'synth', '8', 'pinknoise', 'vol', '0.05']);
    const speech = concat('vad-speech-for-noise', [silence(2), phrase('what is the git status', { engine: 'flite', voice: 'rms' }), silence(4)]);
    const mixed = soxCached('vad-mixed', ['-m', speech, noise, '$OUT', 'trim', '0', '7']);
    const noisy = await speechSegments(vad, (await readWav(mixed)).samples);
    expect(noisy).toHaveLength(1);
    expect(Math.abs(noisy[0]!.startMs - 2000)).toBeLessThanOrEqual(150);
    expect(await speechSegments(vad, (await readWav(noise)).samples)).toEqual([]);
  });

  it('closes a segment still open at the end of the recording', async () => {
    const { samples, truth } = await layout('vad-open-end', [
      ['gap', silence(0.8)],
      ['speech', phrase('cancel the job', { engine: 'espeak', voice: 'en-us' })],
    ]);
    const segments = await speechSegments(vad, samples);
    expect(segments).toHaveLength(1);
    expect(segments[0]!.endMs).toBeLessThanOrEqual(truth[0]!.endMs + 1);
    expect(Math.abs(segments[0]!.startMs - truth[0]!.startMs)).toBeLessThanOrEqual(100);
  });

  it('emits speech_start while the user is still talking, timestamped at the onset', async () => {
    const { samples, truth } = await layout('vad-live', [
      ['gap', silence(1)],
      ['speech', phrase('what changed since yesterday', { engine: 'flite', voice: 'kal16' })],
      ['gap', silence(1)],
    ]);
    vad.reset();
    const seen: { type: string; at: number; timestampMs: number }[] = [];
    for (let offset = 0; offset < samples.length; offset += 320) {
      const events = await vad.process({ samples: samples.subarray(offset, offset + 320), sampleRate: 16_000, timestampMs: 0 });
      for (const e of events) seen.push({ type: e.type, at: ((offset + 320) * 1000) / 16_000, timestampMs: e.timestampMs });
    }
    expect(seen.map((e) => e.type)).toEqual(['speech_start', 'speech_end']);
    const [start, end] = seen;
    expect(Math.abs(start!.timestampMs - truth[0]!.startMs)).toBeLessThanOrEqual(100);
    // decided within minSpeechMs (+ one window) of the onset, long before the utterance ends
    expect(start!.at - start!.timestampMs).toBeLessThanOrEqual(250 + 64 + 20);
    expect(start!.at).toBeLessThan(truth[0]!.endMs);
    // the end is decided after minSilenceMs of silence
    expect(end!.at - truth[0]!.endMs).toBeGreaterThanOrEqual(400);
    expect(end!.at - truth[0]!.endMs).toBeLessThanOrEqual(700);
  });
});
