import { describe, expect, it } from 'vitest';
import { VAD_WINDOW_SAMPLES, VoiceActivityDetector, type VadOptions } from '../../src/audio/vad/index.js';

/** A model that replays scripted probabilities and counts how often its memory was cleared. */
function scriptedModel(probabilities: number[]) {
  let next = 0;
  return {
    resets: [] as number[],
    async probability() {
      return probabilities[next++] ?? 0;
    },
    reset() {
      this.resets.push(next);
    },
  };
}

const options: VadOptions = { startThreshold: 0.5, endThreshold: 0.35, minSpeechMs: 64, minSilenceMs: 96, paddingMs: 0 };
const silence = new Int16Array(VAD_WINDOW_SAMPLES);

async function feed(vad: VoiceActivityDetector, windows: number, samples = silence) {
  const events = [];
  for (let i = 0; i < windows; i++) events.push(...(await vad.process({ samples, sampleRate: 16_000, timestampMs: i * 32 })));
  return events;
}

describe('VoiceActivityDetector forgetAfterSilenceMs', () => {
  it('clears the model after that much silence, and again after each further stretch', async () => {
    // 10 windows of silence (320 ms), 5 of speech, 10 of silence
    const model = scriptedModel([...Array(10).fill(0.1), ...Array(5).fill(0.9), ...Array(10).fill(0.1)]);
    await feed(new VoiceActivityDetector(model, { ...options, forgetAfterSilenceMs: 128 }), 25);
    // before the 5th and 9th windows (4 silent windows = 128 ms each), not within the speech, then after 4 silent windows again
    expect(model.resets).toEqual([4, 8, 19, 23]);
  });

  it('keeps the model’s memory across silence by default', async () => {
    const model = scriptedModel(Array(50).fill(0.1));
    await feed(new VoiceActivityDetector(model, options), 50);
    expect(model.resets).toEqual([]);
  });

  it('counts a window between the thresholds as speech, not silence', async () => {
    const model = scriptedModel([0.1, 0.1, 0.4, 0.1, 0.1, 0.1, 0.1]);
    await feed(new VoiceActivityDetector(model, { ...options, forgetAfterSilenceMs: 96 }), 7);
    expect(model.resets).toEqual([6]);
  });
});

describe('VoiceActivityDetector silentBelowDbfs', () => {
  const atDbfs = (dbfs: number) => Int16Array.from({ length: VAD_WINDOW_SAMPLES }, (_, i) => Math.round(32768 * Math.SQRT2 * 10 ** (dbfs / 20) * Math.sin(i / 5)));

  it('takes windows quieter than the floor for silence, whatever the model scores', async () => {
    const quiet = await feed(new VoiceActivityDetector(scriptedModel(Array(10).fill(0.9)), { ...options, silentBelowDbfs: -70 }), 10, atDbfs(-80));
    expect(quiet).toEqual([]);
    const audible = await feed(new VoiceActivityDetector(scriptedModel(Array(10).fill(0.9)), { ...options, silentBelowDbfs: -70 }), 10, atDbfs(-60));
    expect(audible.map((e) => e.type)).toEqual(['speech_start']);
  });

  it('lets every level through by default', async () => {
    const events = await feed(new VoiceActivityDetector(scriptedModel(Array(10).fill(0.9)), options), 10, atDbfs(-90));
    expect(events.map((e) => e.type)).toEqual(['speech_start']);
  });
});
