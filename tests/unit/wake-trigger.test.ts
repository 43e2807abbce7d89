import { describe, expect, it } from 'vitest';
import { WakeTrigger } from '../../src/audio/wakeword/trigger.js';

function fire(trigger: WakeTrigger, scores: number[]): { index: number; score: number }[] {
  const out: { index: number; score: number }[] = [];
  scores.forEach((s, i) => {
    const fired = trigger.push(s, (i + 1) * 80);
    if (fired !== null) out.push({ index: i, score: fired });
  });
  return out;
}

describe('WakeTrigger', () => {
  it('ignores the warm-up predictions, then fires at the threshold', () => {
    const t = new WakeTrigger({ threshold: 0.5, refractoryMs: 2000, smoothing: 1 });
    expect(fire(t, [0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.5])).toEqual([{ index: 6, score: 0.5 }]);
  });

  it('stays quiet for the refractory period after firing', () => {
    const t = new WakeTrigger({ threshold: 0.5, refractoryMs: 400, smoothing: 1, warmupPredictions: 0 });
    // fires at 80 ms; quiet until 480 ms; fires again at 480 ms
    expect(fire(t, [0.9, 0.9, 0.9, 0.9, 0.9, 0.9]).map((f) => f.index)).toEqual([0, 5]);
  });

  it('compares the average of the last N scores when smoothing', () => {
    const t = new WakeTrigger({ threshold: 0.5, refractoryMs: 2000, smoothing: 3, warmupPredictions: 0 });
    // one spike alone is not enough; three high scores in a row are
    expect(fire(t, [0, 0, 0.9, 0, 0, 0.6, 0.6, 0.6])).toEqual([{ index: 7, score: expect.closeTo(0.6, 6) as number }]);
  });

  it('starts over after reset', () => {
    const t = new WakeTrigger({ threshold: 0.5, refractoryMs: 10_000, smoothing: 1, warmupPredictions: 1 });
    expect(fire(t, [0.9, 0.9]).length).toBe(1);
    t.reset();
    expect(fire(t, [0.9, 0.9]).length).toBe(1);
  });
});
