/**
 * The echo canceller on a small slice of the benchmark's evaluation set (bench/echo-eval.ts): the
 * properties the issue names, with bounds loose enough for a busy CI machine but tight enough that a
 * regression fails. The full figures are in bench/RESULTS.md (npm run bench:aec).
 */
import { describe, expect, it } from 'vitest';
import { bargeIns, cancel, doubleTalk, echoOnly, interruptionHeard, prng, randomRoom, speechStarts, speechStartsOf, stoppedAt, transcribe, utteranceAfterBargeIn } from '../../bench/echo-eval.js';
import { loadVoiceActivityDetector } from '../../src/audio/detectors.js';
import { configSchema } from '../../src/config/index.js';
import { sharedModelsDir } from '../helpers/fixtures.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('the echo canceller on synthetic rooms', () => {
  it('takes the echo out within a second, cheaply, and the VAD hears nothing left of it', { timeout: 180_000 }, async () => {
    const random = prng(7);
    const results = [1, 2, 3].map((seed) => echoOnly(randomRoom(random, seed), 12, random));
    const erle = median(results.map((r) => r.erleDb));
    const converged = median(results.map((r) => r.convergedMs ?? Number.POSITIVE_INFINITY));
    const cpu = Math.max(...results.map((r) => r.cpuPerAudioS));
    let startsWith = 0;
    let startsWithout = 0;
    let bargeInsWith = 0;
    for (const r of results) {
      startsWith += (await speechStarts(r.cleaned, sharedModelsDir)).length;
      startsWithout += (await speechStarts(r.mic, sharedModelsDir)).length;
      bargeInsWith += (await bargeIns(r.cleaned, r.played, r.trace, sharedModelsDir)).length;
    }
    console.log(
      `echo only: ERLE median ${erle.toFixed(1)} dB, converged ${converged} ms, CPU ${cpu.toFixed(4)} s/s, VAD speech starts ${startsWith} with / ${startsWithout} without the canceller, barge-ins on itself ${bargeInsWith}`,
    );
    expect(erle).toBeGreaterThan(20);
    expect(converged).toBeLessThanOrEqual(1500);
    expect(cpu).toBeLessThan(0.15);
    expect(startsWithout).toBeGreaterThan(3); // the raw echo does sound like someone talking
    expect(startsWith).toBeLessThanOrEqual(1);
    expect(bargeInsWith).toBeLessThanOrEqual(1);
  });

  it('keeps the user: interruptions over the reply are heard and taken, and their words recognised', { timeout: 240_000 }, async () => {
    const random = prng(11);
    const cases = 4;
    let heard = 0;
    let taken = 0;
    let recognisedAlone = 0;
    let recognisedLived = 0;
    for (let i = 0; i < cases; i++) {
      const c = doubleTalk(randomRoom(random, 100 + i), random);
      const result = cancel(c.mic, c.played);
      if (await interruptionHeard(result.cleaned, c.onsetMs, sharedModelsDir)) heard += 1;
      const bargeIn = (await bargeIns(result.cleaned, c.played, result, sharedModelsDir)).find((b) => b.onsetMs >= c.onsetMs - 300 && b.onsetMs <= c.onsetMs + 1000);
      if (bargeIn === undefined) continue;
      taken += 1;
      const alone = await transcribe(c.nearAlone);
      if (alone === '') continue;
      recognisedAlone += 1;
      const lived = stoppedAt(c, bargeIn.decidedMs);
      if ((await transcribe(utteranceAfterBargeIn(cancel(lived.mic, lived.played).forRecognizer, c, bargeIn.onsetMs))) === alone) recognisedLived += 1;
    }
    console.log(`double talk: ${heard}/${cases} interruptions heard, ${taken} taken; ${recognisedLived}/${recognisedAlone} commands recognised as without echo`);
    expect(heard).toBeGreaterThanOrEqual(3);
    expect(taken).toBeGreaterThanOrEqual(3);
    expect(recognisedAlone).toBeGreaterThanOrEqual(3);
    expect(recognisedLived).toBeGreaterThanOrEqual(recognisedAlone - 1);
  });

  it('transcribes from the recognizer\'s copy commands the VAD\'s cleaned audio loses (the room\'s noise kept under them)', { timeout: 120_000 }, async () => {
    // Cases of the evaluation set where the command taken over the reply is recognised from one output and not the
    // other (found by search: 5 such cases in 118 went the recognizer's way, 2 the other way).
    const seeds = [3, 59, 95];
    let fromRecognizer = 0;
    let fromCleaned = 0;
    for (const seed of seeds) {
      const random = prng(seed);
      const c = doubleTalk(randomRoom(random, 1000 + seed), random);
      const result = cancel(c.mic, c.played);
      const bargeIn = (await bargeIns(result.cleaned, c.played, result, sharedModelsDir)).find((b) => b.onsetMs >= c.onsetMs - 300 && b.onsetMs <= c.onsetMs + 1000);
      expect(bargeIn).toBeDefined();
      const alone = await transcribe(c.nearAlone);
      expect(alone).toBe(c.command);
      const stopped = stoppedAt(c, bargeIn!.decidedMs);
      const lived = cancel(stopped.mic, stopped.played);
      if ((await transcribe(utteranceAfterBargeIn(lived.forRecognizer, c, bargeIn!.onsetMs))) === alone) fromRecognizer += 1;
      if ((await transcribe(utteranceAfterBargeIn(lived.cleaned, c, bargeIn!.onsetMs))) === alone) fromCleaned += 1;
    }
    console.log(`commands taken over the reply: ${fromRecognizer}/${seeds.length} recognised from the recognizer's copy, ${fromCleaned} from the cleaned audio`);
    expect(fromRecognizer).toBe(seeds.length);
    expect(fromCleaned).toBeLessThanOrEqual(1);
  });

  it('takes a short "stop" seconds into the reply, which a VAD remembering the residue would miss', { timeout: 120_000 }, async () => {
    const settings = configSchema.parse({});
    // Cases of the evaluation set where a barge-in VAD that kept its memory all along heard no speech (found by search).
    const seeds = [43, 93, 121];
    let taken = 0;
    let heardByRemembering = 0;
    for (const seed of seeds) {
      const random = prng(seed);
      const c = doubleTalk(randomRoom(random, 100), random);
      expect(c.command).toBe('stop');
      const result = cancel(c.mic, c.played);
      const near = (t: number) => t >= c.onsetMs - 300 && t <= c.onsetMs + 1000;
      if ((await bargeIns(result.cleaned, c.played, result, sharedModelsDir)).some((b) => near(b.onsetMs))) taken += 1;
      const remembering = await loadVoiceActivityDetector({ ...settings.vad, minSpeechMs: settings.conversation.bargeInMinMs }, sharedModelsDir);
      if ((await speechStartsOf(remembering, result.cleaned)).some(near)) heardByRemembering += 1;
    }
    console.log(`short "stop"s: ${seeds.length}, ${taken} taken, ${heardByRemembering} heard by a VAD that never forgets`);
    expect(taken).toBe(seeds.length);
    expect(heardByRemembering).toBeLessThanOrEqual(1);
  });
});
