import { createActor } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { listener } from '../../src/app/actors/listener.js';
import { TurnBook, type Runtime } from '../../src/app/runtime.js';
import { recognizerFrame, type AudioFrame, type AudioSource } from '../../src/audio/frame.js';
import { AudioHub, trimFrom } from '../../src/audio/hub.js';
import { VoiceActivityDetector } from '../../src/audio/vad/index.js';
import type { SpeechToText } from '../../src/speech/types.js';

const FRAME = 320;
/** A frame whose cleaned samples are all `level` and whose recognizer copy is all `level + 1`. */
const frame = (i: number, level: number): AudioFrame => ({
  samples: new Int16Array(FRAME).fill(level),
  forRecognizer: new Int16Array(FRAME).fill(level + 1),
  sampleRate: 16_000,
  timestampMs: i * 20,
});

describe('recognizerFrame and trimFrom', () => {
  it('hand the recognizer its own copy of the audio, cut at the same sample', () => {
    const f: AudioFrame = { samples: Int16Array.from({ length: FRAME }, (_, i) => i), forRecognizer: Int16Array.from({ length: FRAME }, (_, i) => -i), sampleRate: 16_000, timestampMs: 100 };
    const cut = trimFrom(f, 105)!;
    expect(cut.samples[0]).toBe(80);
    expect(cut.forRecognizer![0]).toBe(-80);
    expect(recognizerFrame(cut)).toEqual({ samples: cut.forRecognizer, sampleRate: 16_000, timestampMs: 105 });
    const plain: AudioFrame = { samples: f.samples, sampleRate: 16_000, timestampMs: 100 };
    expect(recognizerFrame(plain)).toBe(plain);
    expect(trimFrom(plain, 105)).not.toHaveProperty('forRecognizer');
  });
});

describe('listener', () => {
  it('gives the recognizer the audio prepared for it while the VAD hears the cleaned audio', async () => {
    // Silence, then "speech" from the 10th frame (200 ms) on; the VAD's model calls loud windows speech.
    const frames = Array.from({ length: 40 }, (_, i) => frame(i, i >= 10 ? 1000 : 0));
    const source: AudioSource = {
      async *frames() {
        yield* frames;
      },
    };
    const hub = new AudioHub(source);
    const heardByVad: number[] = [];
    const model = {
      async probability(window: Int16Array) {
        heardByVad.push(window[0]!);
        return window[0]! > 500 ? 0.9 : 0.1;
      },
      reset() {},
    };
    const vad = new VoiceActivityDetector(model, { startThreshold: 0.5, endThreshold: 0.35, minSpeechMs: 64, minSilenceMs: 500, paddingMs: 0 });
    const transcribed: AudioFrame[] = [];
    let transcribing = true;
    const stt: SpeechToText = {
      name: 'recording',
      async *transcribe(audio) {
        for await (const f of audio) transcribed.push(f);
        transcribing = false;
        yield { type: 'final', text: 'ok' };
      },
    };
    const rt = { hub, vad, stt, turns: new TurnBook(), emit: () => {}, settings: { vadPaddingMs: 0 }, cursor: { lastWakeEndMs: 0, lastWakeScore: 0 } } as unknown as Runtime;
    const actor = createActor(listener(rt), { input: { turn: 1, mode: 'wake', fromMs: 0, watchOnly: false } }).start();
    await hub.start(new AbortController().signal);
    // 40 frames of 320 samples are 25 VAD windows of 512.
    await vi.waitFor(() => expect(heardByVad).toHaveLength(25));
    actor.send({ type: 'FINISH' });
    await vi.waitFor(() => expect(transcribing).toBe(false));
    actor.stop();

    expect(heardByVad).toContain(1000);
    expect(heardByVad).not.toContain(1001);
    expect(transcribed.length).toBeGreaterThan(10);
    // From the speech onset on, every sample the recognizer got is its own copy.
    expect(transcribed[0]!.timestampMs).toBeGreaterThanOrEqual(190);
    expect(transcribed.every((f) => f.samples.every((v) => v === 1 || v === 1001))).toBe(true);
    expect(transcribed.some((f) => f.samples.includes(1001))).toBe(true);
  });
});
