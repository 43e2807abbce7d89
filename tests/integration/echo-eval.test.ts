/**
 * The echo canceller on a small slice of the benchmark's evaluation set (bench/echo-eval.ts), with
 * bounds loose enough for a busy CI machine but tight enough that a regression fails. The full
 * figures are in bench/RESULTS.md (npm run bench:aec).
 */
import { describe, expect, it } from 'vitest';
import { bargeIns, cancel, doubleTalk, echoOnly, interruptionHeard, prng, randomRoom } from '../../bench/echo-eval.js';
import { sharedModelsDir } from '../helpers/fixtures.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('the echo canceller on synthetic rooms', () => {
  it('takes most of the echo out, cheaply, and the assistant barges in on itself no more than without it', { timeout: 180_000 }, async () => {
    const random = prng(7);
    const results = [1, 2, 3].map((seed) => echoOnly(randomRoom(random, seed), 12, random));
    const erle = median(results.map((r) => r.erleDb));
    const cpu = Math.max(...results.map((r) => r.cpuPerAudioS));
    let withCanceller = 0;
    let without = 0;
    for (const r of results) {
      withCanceller += (await bargeIns(r.cleaned, r.played, r.erleTrace, sharedModelsDir)).length;
      without += (await bargeIns(r.mic, r.played, null, sharedModelsDir)).length;
    }
    console.log(`echo only: ERLE median ${erle.toFixed(1)} dB, CPU ${cpu.toFixed(4)} s/s, barge-ins on itself ${withCanceller} with / ${without} without the canceller`);
    expect(erle).toBeGreaterThan(10);
    expect(cpu).toBeLessThan(0.15);
    expect(withCanceller).toBeLessThanOrEqual(without);
  });

  it('keeps the user: interruptions over the reply are still heard by the VAD on the cleaned signal', { timeout: 180_000 }, async () => {
    const random = prng(11);
    let heard = 0;
    const cases = 4;
    for (let i = 0; i < cases; i++) {
      const c = doubleTalk(randomRoom(random, 100 + i), random);
      const { cleaned } = cancel(c.mic, c.played);
      if (await interruptionHeard(cleaned, c.onsetMs, sharedModelsDir)) heard += 1;
    }
    console.log(`double talk: ${heard}/${cases} interruptions heard`);
    expect(heard).toBeGreaterThanOrEqual(cases / 2);
  });
});
