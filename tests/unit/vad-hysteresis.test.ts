import { describe, expect, it } from 'vitest';
import { VadHysteresis, type HysteresisOptions, type VadEvent } from '../../src/audio/vad/hysteresis.js';

const FRAME = 32;
const options: HysteresisOptions = { startThreshold: 0.5, endThreshold: 0.35, minSpeechMs: 96, minSilenceMs: 160, paddingMs: 0 };

function run(probabilities: number[], opts: HysteresisOptions = options): { events: VadEvent[]; at: number[] } {
  const h = new VadHysteresis(opts);
  const events: VadEvent[] = [];
  const at: number[] = [];
  probabilities.forEach((p, i) => {
    for (const e of h.push(p, i * FRAME, FRAME)) {
      events.push(e);
      at.push(i);
    }
  });
  events.push(...h.flush(probabilities.length * FRAME));
  return { events, at };
}

const frames = (p: number, n: number) => Array<number>(n).fill(p);

describe('VadHysteresis', () => {
  it('emits one segment for speech between silences, with exact boundaries', () => {
    const { events, at } = run([...frames(0.1, 10), ...frames(0.9, 10), ...frames(0.1, 10)]);
    expect(events).toEqual([
      { type: 'speech_start', timestampMs: 320 },
      { type: 'speech_end', timestampMs: 640, startMs: 320 },
    ]);
    // speech_start once 96 ms of speech were heard (3rd speech frame), speech_end after 160 ms of silence.
    expect(at).toEqual([12, 24]);
  });

  it('ignores bursts shorter than minSpeechMs', () => {
    const { events } = run([...frames(0.1, 5), ...frames(0.9, 2), ...frames(0.1, 10)]);
    expect(events).toEqual([]);
  });

  it('bridges pauses shorter than minSilenceMs', () => {
    const { events } = run([...frames(0.9, 5), ...frames(0.1, 4), ...frames(0.9, 5), ...frames(0.1, 10)]);
    expect(events).toEqual([
      { type: 'speech_start', timestampMs: 0 },
      { type: 'speech_end', timestampMs: 448, startMs: 0 },
    ]);
  });

  it('holds its state between the two thresholds (hysteresis)', () => {
    // 0.4 is below start but above end: it neither starts speech nor ends it.
    const quietStart = run([...frames(0.4, 20)]);
    expect(quietStart.events).toEqual([]);
    const sustained = run([...frames(0.9, 4), ...frames(0.4, 20), ...frames(0.1, 6)]);
    expect(sustained.events).toEqual([
      { type: 'speech_start', timestampMs: 0 },
      { type: 'speech_end', timestampMs: 768, startMs: 0 },
    ]);
  });

  it('pads segments on both sides without leaving the stream', () => {
    const padded = { ...options, paddingMs: 100 };
    const { events } = run([...frames(0.9, 4), ...frames(0.1, 10), ...frames(0.9, 4), ...frames(0.1, 2)], padded);
    expect(events).toEqual([
      { type: 'speech_start', timestampMs: 0 },
      { type: 'speech_end', timestampMs: 228, startMs: 0 },
      { type: 'speech_start', timestampMs: 348 },
      // flushed at the end of the stream (640 ms), so the padding is clipped there
      { type: 'speech_end', timestampMs: 640, startMs: 348 },
    ]);
  });

  it('closes an open segment on flush and then starts clean', () => {
    const h = new VadHysteresis(options);
    for (let i = 0; i < 6; i++) h.push(0.9, i * FRAME, FRAME);
    expect(h.inSpeech).toBe(true);
    expect(h.flush(192)).toEqual([{ type: 'speech_end', timestampMs: 192, startMs: 0 }]);
    expect(h.inSpeech).toBe(false);
    expect(h.flush(192)).toEqual([]);
  });
});
