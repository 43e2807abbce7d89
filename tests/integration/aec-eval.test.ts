/**
 * The echo canceller (src/audio/aec) on a small slice of the benchmark's evaluation set
 * (bench/echo-room.ts; the full figures are `npm run bench:aec`, in bench/RESULTS.md): the same
 * properties with looser bounds, so a regression fails CI. 8 synthetic rooms (~2 minutes of
 * echo-only assistant speech) and 32 interruptions, about 50 s on a two-core machine.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkTools,
  commandRecognizer,
  evaluateRoom,
  idealCanceller,
  loadBargeInVad,
  measureLatency,
  roomSpecs,
  sameText,
  transcribeCases,
  type RoomResult,
  type TranscriptCase,
  type TranscriptResult,
} from '../../bench/echo-room.js';
import { EchoCanceller } from '../../src/audio/aec/echo-canceller.js';

const ROOMS = 8;
const ECHO_ONLY_SECONDS = 13;
const INTERRUPTIONS = 4;
/** Not the benchmark's seed: CI sees rooms the canceller was not tuned on. */
const SEED = 4242;

const BOUNDS = {
  erleDb: 18,
  convergenceMs: 1500,
  detected: 0.85,
  falseBargeIns: 2,
  sameTranscript: 0.75,
  cpuPerAudioSecond: 0.15,
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

let rooms: RoomResult[] = [];
let cases: TranscriptCase[] = [];
let transcripts: TranscriptResult[] | undefined;

beforeAll(async () => {
  checkTools();
  const make = () => new EchoCanceller();
  const latency = measureLatency(make);
  const { vad } = await loadBargeInVad();
  rooms = [];
  for (const spec of roomSpecs(ROOMS, SEED)) {
    rooms.push(
      await evaluateRoom(spec, {
        session: { echoOnlySeconds: ECHO_ONLY_SECONDS, interruptions: INTERRUPTIONS },
        make,
        latency,
        vad,
        raw: true,
        // Checks the measuring itself: with the echo taken out exactly, every bound must hold.
        references: [{ name: 'exact', make: (session) => idealCanceller(session, Number.NEGATIVE_INFINITY), latency: 0 }],
      }),
    );
  }
  cases = rooms.flatMap((r) => r.transcripts);
  const line = (r: RoomResult) =>
    `room ${r.spec.index}: delay ${r.spec.delayMs.toFixed(0)} ms, RT60 ${r.spec.rt60Ms.toFixed(0)} ms, echo ${r.spec.echoDbfs.toFixed(1)} dBFS → ` +
    `ERLE ${r.erle.erleDb.toFixed(1)} dB, converged ${r.erle.convergenceMs?.toFixed(0) ?? 'never'} ms, false barge-ins ${r.bargeIn.falseStarts} (raw ${r.rawBargeIn!.falseStarts}), ` +
    `interruptions ${r.bargeIn.interruptions.map((i) => i.outcome).join(' ')}, CPU ${(r.cpuSeconds / r.audioSeconds).toFixed(4)} s/s`;
  console.log(rooms.map(line).join('\n'));
}, 180_000);

describe('the echo evaluation set (bench/echo-room.ts)', () => {
  it('holds the rooms, the echo and the interruptions it claims (the raw microphone cannot barge in cleanly)', () => {
    expect(rooms).toHaveLength(ROOMS);
    const delays = rooms.map((r) => r.spec.delayMs);
    const rt60s = rooms.map((r) => r.spec.rt60Ms);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...delays)).toBeLessThanOrEqual(200);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(100); // spread over the range
    expect(Math.min(...rt60s)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...rt60s)).toBeLessThanOrEqual(800);
    for (const r of rooms) {
      expect(r.session.clippedShare).toBeGreaterThan(0); // the speaker clips, lightly
      expect(r.session.distortionDb).toBeLessThan(-20);
      expect(r.session.micClippedShare).toBeLessThan(0.001);
    }
    const echoOnly = rooms.reduce((n, r) => n + r.bargeIn.speechSeconds, 0);
    expect(echoOnly).toBeGreaterThanOrEqual(120);
    const interruptions = rooms.flatMap((r) => r.bargeIn.interruptions);
    expect(interruptions).toHaveLength(ROOMS * INTERRUPTIONS);
    for (const i of interruptions) {
      expect(i.esrDb).toBeGreaterThanOrEqual(0);
      expect(i.esrDb).toBeLessThanOrEqual(10);
    }
    // Without a canceller the VAD hears the assistant: it barges in on itself again and again,
    // and cuts itself off before the user says anything.
    const raw = rooms.map((r) => r.rawBargeIn!);
    const rawFalse = raw.reduce((n, r) => n + r.falseStarts, 0);
    const rawPremature = raw.flatMap((r) => r.interruptions).filter((i) => i.outcome === 'premature').length;
    console.log(`raw microphone: ${rawFalse} false barge-ins in ${echoOnly.toFixed(0)} s of echo-only speech, ${rawPremature}/${interruptions.length} interruptions pre-empted by its own voice`);
    expect(rawFalse).toBeGreaterThanOrEqual(ROOMS * 2);
    expect(rawPremature).toBeGreaterThanOrEqual(0.75 * interruptions.length);
  });

  it('measures an exact echo removal as meeting every bound (the measures are sound)', () => {
    const exact = rooms.map((r) => r.references[0]!);
    const interruptions = exact.flatMap((r) => r.bargeIn.interruptions);
    // Only the room's noise is left: the ERLE is the echo-to-noise ratio, ≥ 25 dB with these levels.
    expect(median(exact.map((r) => r.erle.erleDb))).toBeGreaterThanOrEqual(25);
    for (const r of exact) expect(r.erle.convergenceMs).toBe(0);
    expect(exact.reduce((n, r) => n + r.bargeIn.falseStarts, 0)).toBe(0);
    expect(interruptions.filter((i) => i.outcome === 'detected').length).toBe(interruptions.length);
  });
});

describe('the echo canceller on the evaluation set', () => {
  it(`takes the echo down by ≥ ${BOUNDS.erleDb} dB (median over rooms, after the first second) and converges within ${BOUNDS.convergenceMs} ms`, () => {
    const erle = median(rooms.map((r) => r.erle.erleDb));
    const convergence = median(rooms.map((r) => r.erle.convergenceMs ?? Number.POSITIVE_INFINITY));
    console.log(`ERLE median ${erle.toFixed(1)} dB, convergence median ${convergence.toFixed(0)} ms`);
    expect(erle).toBeGreaterThanOrEqual(BOUNDS.erleDb);
    expect(convergence).toBeLessThan(BOUNDS.convergenceMs);
  });

  it(`lets the VAD hear ≥ ${BOUNDS.detected * 100}% of the user's interruptions within 1 s, and not cut the assistant off before them`, () => {
    const all = rooms.flatMap((r) => r.bargeIn.interruptions);
    const detected = all.filter((i) => i.outcome === 'detected').length;
    console.log(`interruptions: ${detected}/${all.length} detected, ${all.filter((i) => i.outcome === 'premature').length} premature, ${all.filter((i) => i.outcome === 'missed').length} missed`);
    expect(detected / all.length).toBeGreaterThanOrEqual(BOUNDS.detected);
  });

  it(`barges in on its own voice no more than ${BOUNDS.falseBargeIns} times in ~2 minutes of echo-only speech`, () => {
    const falseStarts = rooms.reduce((n, r) => n + r.bargeIn.falseStarts, 0);
    const seconds = rooms.reduce((n, r) => n + r.bargeIn.speechSeconds, 0);
    console.log(`false barge-ins: ${falseStarts} in ${seconds.toFixed(0)} s of assistant speech`);
    expect(falseStarts).toBeLessThanOrEqual(BOUNDS.falseBargeIns);
  });

  it(`keeps the interrupting command: the recognizer gives the same text with and without the echo in ≥ ${BOUNDS.sameTranscript * 100}% of cases`, { timeout: 120_000 }, async () => {
    transcripts ??= await transcribeCases(cases, commandRecognizer(), { raw: false });
    // Over the commands it recognises right without the echo (the user's words in the room's noise).
    const { same, of } = sameText(transcripts, 'cleaned');
    const differing = transcripts.filter((t) => t.noEcho === t.text && t.cleaned !== t.noEcho).map((t) => `"${t.text}" (${t.voice}, ESR ${t.esrDb.toFixed(1)} dB) → "${t.cleaned}"`);
    console.log(`transcripts: ${same}/${of} the same as without the echo; differing: ${differing.join('; ') || 'none'}`);
    // The set must hold enough cases the recognizer gets right without the echo for the rate to mean something.
    expect(of).toBeGreaterThanOrEqual(10);
    expect(same / of).toBeGreaterThanOrEqual(BOUNDS.sameTranscript);
  });

  it(`costs ≤ ${BOUNDS.cpuPerAudioSecond} CPU s per audio second`, () => {
    const cpu = rooms.reduce((n, r) => n + r.cpuSeconds, 0) / rooms.reduce((n, r) => n + r.audioSeconds, 0);
    console.log(`CPU ${cpu.toFixed(4)} s per audio s`);
    expect(cpu).toBeLessThanOrEqual(BOUNDS.cpuPerAudioSecond);
  });
});
