import { describe, expect, it } from 'vitest';
import { detectEchoCancellation, type ProgramRunner } from '../../src/audio/echo-cancel.js';
import { CancellerGate, CANCELLER_TRUSTED_FROM_DB, EchoGate } from '../../src/audio/echo-gate.js';
import type { AudioFrame, AudioSource } from '../../src/audio/frame.js';
import { EchoCancelledSource } from '../../src/audio/sources/echo-cancelled.js';

const tone = (amplitude: number, n = 320) => Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin(i / 3)));

describe('EchoGate', () => {
  const gate = () => new EchoGate({ echoGainDb: -12, marginDb: 6, maxDelayMs: 300 });

  it('lets everything through while nothing is playing', () => {
    expect(gate().isUser(tone(500), 1000)).toBe(true);
  });

  it('treats audio no louder than the expected echo as the assistant itself', () => {
    const g = gate();
    g.playedAt(tone(10_000, 16_000), 1000); // one second of loud playback from 1.0 s
    // echo arrives 12 dB down (×0.25 amplitude): below the -6 dB bar
    expect(g.isUser(tone(2500), 1500)).toBe(false);
    // the user, as loud as the playback: clearly above it
    expect(g.isUser(tone(10_000), 1500)).toBe(true);
  });

  it('allows for the playback-to-capture delay, then forgets old playback', () => {
    const g = gate();
    g.playedAt(tone(10_000, 1600), 1000); // 100 ms of playback
    expect(g.isUser(tone(2500), 1350)).toBe(false); // 250 ms later: may still be its echo
    expect(g.isUser(tone(2500), 1500)).toBe(true); // 400 ms later: cannot be
  });

  it('with no echo path (simulation, OS cancellation) never suppresses real sound', () => {
    const g = new EchoGate({ echoGainDb: Number.NEGATIVE_INFINITY, marginDb: 6 });
    g.playedAt(tone(30_000, 16_000), 0);
    expect(g.isUser(tone(200), 500)).toBe(true);
  });
});

describe('CancellerGate', () => {
  it('leaves the verdict to the level gate until the canceller has shown its echo reduction, then trusts the cleaned microphone', () => {
    const level = new EchoGate({ echoGainDb: -12, marginDb: 6, maxDelayMs: 300 });
    level.playedAt(tone(10_000, 16_000), 1000);
    let reductionDb = 0;
    const gate = new CancellerGate(level, { echoReductionAt: () => reductionDb });
    const quietUser = tone(1000); // 20 dB under the playback: the level gate cannot tell it from the echo
    expect(gate.isUser(quietUser, 1500)).toBe(false);
    reductionDb = CANCELLER_TRUSTED_FROM_DB - 1;
    expect(gate.isUser(quietUser, 1500)).toBe(false);
    reductionDb = CANCELLER_TRUSTED_FROM_DB;
    expect(gate.isUser(quietUser, 1500)).toBe(true);
    // and loud sound was the user's all along
    reductionDb = 0;
    expect(gate.isUser(tone(10_000), 1500)).toBe(true);
  });
});

describe('EchoCancelledSource', () => {
  it('cleans each frame (and a copy for the recognizer), holds the echo reduction shown, drops it while the reference is late, and answers for past frames', async () => {
    // one second of 20 ms frames; the canceller's figures per frame are scripted
    const frames: AudioFrame[] = Array.from({ length: 50 }, (_, i) => ({ samples: tone(1000), sampleRate: 16_000, timestampMs: i * 20 }));
    const source: AudioSource = {
      async *frames() {
        yield* frames;
      },
    };
    const script = (i: number) => ({ erleDb: i < 10 ? 30 : 0, referenceLate: i >= 40 && i < 45 });
    let i = 0;
    const canceller = {
      stats: script(0),
      playback: () => {},
      process: (samples: Int16Array, _atMs: number, forRecognizer?: Int16Array) => {
        canceller.stats = script(i++);
        forRecognizer?.set(samples.map((v) => v >> 2));
        return samples.map((v) => v >> 1);
      },
    };
    const cleaned = new EchoCancelledSource(source, canceller);
    const seen: { samples: Int16Array; forRecognizer?: Int16Array; reductionDb: number }[] = [];
    for await (const frame of cleaned.frames(new AbortController().signal)) {
      seen.push({ samples: frame.samples, forRecognizer: frame.forRecognizer, reductionDb: cleaned.echoReductionAt(frame.timestampMs) });
    }
    // A consumer running behind asks after all the frames were cleaned: each frame keeps its own figure.
    expect(frames.map((f) => cleaned.echoReductionAt(f.timestampMs + 5))).toEqual(seen.map((s) => s.reductionDb));
    expect(cleaned.echoReductionAt(-20)).toBe(0);
    expect(seen[0]!.samples[3]).toBe(tone(1000)[3]! >> 1);
    expect(seen[0]!.forRecognizer![3]).toBe(tone(1000)[3]! >> 2);
    expect(seen[9]!.reductionDb).toBe(30);
    // the measured figure fell to 0, the held one falls 2 dB per second of audio
    expect(seen[39]!.reductionDb).toBeCloseTo(30 - 2 * 0.6, 6);
    expect(seen[42]!.reductionDb).toBe(0);
    expect(seen[49]!.reductionDb).toBeCloseTo(30 - 2 * 0.8, 6);
  });
});

describe('detectEchoCancellation', () => {
  const runner = (outputs: Record<string, string | null>): ProgramRunner => async (program, args) => outputs[`${program} ${args.join(' ')}`] ?? null;

  it('sees PulseAudio/PipeWire module-echo-cancel and names its source', async () => {
    const run = runner({
      'pactl list short modules': '24\tmodule-echo-cancel\taec_method=webrtc\n',
      'pactl list short sources': '55\techo-cancel-source\tPipeWire\ts16le 1ch 48000Hz\tRUNNING\n',
    });
    expect(await detectEchoCancellation('default', run)).toEqual({ active: true, detail: 'module-echo-cancel is loaded (source echo-cancel-source)' });
  });

  it('sees a PipeWire echo-cancel node, or a capture device named for it', async () => {
    expect((await detectEchoCancellation('default', runner({ 'pactl list short modules': '1\tmodule-null-sink\n', 'pw-cli ls Node': 'node.name = "echo-cancel-capture"' }))).active).toBe(true);
    expect((await detectEchoCancellation('echo-cancel-source', runner({}))).active).toBe(true);
  });

  it('says why it is off', async () => {
    expect(await detectEchoCancellation('default', runner({}))).toEqual({ active: false, detail: 'no PulseAudio or PipeWire found (plain ALSA has no echo cancellation)' });
    expect((await detectEchoCancellation('default', runner({ 'pactl list short modules': '1\tmodule-alsa-card\n' }))).detail).toMatch(/no echo-cancel module/);
  });
});
