import { loadBargeInVoiceActivityDetector, loadVoiceActivityDetector, loadWakeWordDetector } from '../audio/detectors.js';
import { EchoCanceller } from '../audio/aec/echo-canceller.js';
import { EchoRoom, type RoomOptions } from '../audio/room.js';
import { PacedSink } from '../audio/sinks/paced.js';
import { TimelineWavWriter } from '../audio/sinks/timeline-wav.js';
import { ClockedSource } from '../audio/sources/clocked.js';
import { scaledClock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { MachineEvent } from '../states/events.js';
import { Assistant } from './assistant.js';
import { createEngines, type Engines } from './engines.js';
import type { EventSink } from './events.js';

/** Silence after the recording lasts at least this long, and until the assistant has been idle this long. */
const MIN_TAIL_MS = 1000;
const MAX_TAIL_MS = 300_000;

export interface SimulationOptions {
  config: Config;
  modelsDir: string;
  cwd?: string;
  /** The microphone: 16 kHz mono. */
  input: Int16Array;
  /** 1 = real time (latencies are real); N = N times faster. */
  speed: number;
  /** Where to write what the assistant said, on the input's timeline. */
  outPath?: string;
  /** Push-to-talk presses: held from startMs to stopMs of the input's timeline. */
  ptt?: { startMs: number; stopMs: number }[];
  emit: EventSink;
  signal: AbortSignal;
  /** Engines to use instead of those the config names (tests). */
  engines?: Engines;
  /** An open-speaker room: the microphone also hears the assistant, through this room. */
  room?: RoomOptions;
}

/** Runs the real assistant with a recording as the microphone and a paced virtual speaker. */
export async function runSimulation(options: SimulationOptions): Promise<{ endMs: number }> {
  const { config, modelsDir } = options;
  const clock = scaledClock(options.speed);
  const [wake, vad, bargeInVad] = await Promise.all([
    loadWakeWordDetector(config.wakeword, modelsDir, { cwd: options.cwd }),
    loadVoiceActivityDetector(config.vad, modelsDir),
    loadBargeInVoiceActivityDetector(config, modelsDir),
  ]);
  let assistant: Assistant | undefined;
  const engines =
    options.engines ?? createEngines(config, { cwd: options.cwd ?? process.cwd(), env: process.env, onJobFinished: () => assistant?.announcePending() });
  const out = options.outPath ? await TimelineWavWriter.open(options.outPath) : undefined;

  const room = options.room ? new EchoRoom(options.room) : undefined;
  const sink = new PacedSink({
    clock,
    output: (frame, playedAtMs) => {
      const streamMs = assistant?.hub.streamMsAt(playedAtMs) ?? 0;
      room?.play(frame.samples, streamMs);
      return out?.write(frame.samples, streamMs);
    },
  });
  const inputMs = (options.input.length * 1000) / 16_000;
  const presses = pttSchedule(options.ptt ?? []);
  let lastBusyMs = 0;
  const source = new ClockedSource(options.input, {
    clock,
    onFrame: (streamMs) => {
      while (presses.length > 0 && presses[0]!.atMs <= streamMs) assistant?.send(presses.shift()!.event);
    },
    continueAfter: (streamMs) => {
      if (assistant?.state !== 'idle' || presses.length > 0) lastBusyMs = streamMs;
      return streamMs < inputMs + MIN_TAIL_MS || (streamMs - lastBusyMs < MIN_TAIL_MS && streamMs < inputMs + MAX_TAIL_MS);
    },
    ...(room
      ? {
          mix: (samples: Int16Array, timestampMs: number) => {
            sink.playDue();
            return room.mix(samples, timestampMs);
          },
        }
      : {}),
  });
  // Without a room the microphone is the input file alone: it cannot hear the assistant.
  const echoPath = room !== undefined;
  const aec = config.conversation.aec === 'on' || (config.conversation.aec === 'auto' && echoPath);
  assistant = new Assistant({
    config,
    source,
    sink,
    clock,
    wake,
    vad,
    bargeInVad,
    ...engines,
    emit: options.emit,
    echoPath,
    ...(aec ? { echoCanceller: new EchoCanceller() } : {}),
  });
  let endMs = 0;
  try {
    await engines.jobs.start();
    await assistant.run(options.signal);
    endMs = assistant.hub.nowMs;
  } finally {
    assistant.stop();
    await engines.jobs.stop();
    await sink.close();
    await out?.finish(endMs);
  }
  return { endMs };
}

function pttSchedule(presses: { startMs: number; stopMs: number }[]): { atMs: number; event: MachineEvent }[] {
  return presses
    .flatMap((p) => [
      { atMs: p.startMs, event: { type: 'PTT_START' } as MachineEvent },
      { atMs: p.stopMs, event: { type: 'PTT_STOP' } as MachineEvent },
    ])
    .sort((a, b) => a.atMs - b.atMs);
}
