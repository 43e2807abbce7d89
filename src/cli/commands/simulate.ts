import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Assistant } from '../../app/assistant.js';
import { createEngines } from '../../app/engines.js';
import type { AssistantEvent } from '../../app/events.js';
import { loadVoiceActivityDetector, loadWakeWordDetector } from '../../audio/detectors.js';
import { PacedSink } from '../../audio/sinks/paced.js';
import { TimelineWavWriter } from '../../audio/sinks/timeline-wav.js';
import { ClockedSource } from '../../audio/sources/clocked.js';
import { readWav } from '../../audio/wav.js';
import { scaledClock } from '../../clock.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, parseNumberFlag, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

/** Silence after the recording is at least this long, and at most this long past the last activity. */
const MIN_TAIL_MS = 1000;
const MAX_TAIL_MS = 300_000;

export const command: Command = {
  name: 'simulate',
  summary: 'run the whole assistant with a WAV file as the microphone',
  usage: `Usage: kai simulate INPUT.wav [--config FILE] [--out OUT.wav] [--events FILE.jsonl] [--speed N]

Runs the real machine and pipeline with INPUT.wav as the microphone (then silence until the
assistant is idle again). Services are really called; with none configured the embedded engines
are used, so it works offline.
  --out OUT.wav        what the assistant said, on the same timeline as the input
  --events FILE.jsonl  one JSON object per event: states, transcripts, replies, errors, and one
                       "turn" record per turn with its latencies (default: standard output)
  --speed N            feed the input N times faster (latencies count only at speed 1)`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('simulate', argv, {
      out: { type: 'string' },
      events: { type: 'string' },
      speed: { type: 'string' },
      ...configOption,
    });
    const [input, ...extra] = positionals;
    if (input === undefined || extra.length > 0) throw new UsageError('give one input WAV file; run: kai simulate --help');
    const speed = parseNumberFlag('speed', values.speed, 0.1, 100) ?? 1;
    const { config, modelsDir } = commandContext(io, values.config);
    const { samples } = await readWav(resolve(io.cwd, input));

    const clock = scaledClock(speed);
    const [wake, vad, bargeInVad] = await Promise.all([
      loadWakeWordDetector(config.wakeword, modelsDir, { cwd: io.cwd }),
      loadVoiceActivityDetector(config.vad, modelsDir),
      loadVoiceActivityDetector({ ...config.vad, minSpeechMs: config.conversation.bargeInMinMs }, modelsDir),
    ]);
    const engines = createEngines(config);
    const out = values.out ? await TimelineWavWriter.open(resolve(io.cwd, values.out)) : undefined;
    const eventsStream = values.events ? createWriteStream(resolve(io.cwd, values.events)) : io.stdout;
    const writeEvent = (event: AssistantEvent | Record<string, unknown>, atMs: number) =>
      eventsStream.write(`${JSON.stringify({ t: Math.round(atMs), ...event })}\n`);
    writeEvent({ type: 'simulate', input, speed, realTime: speed === 1 }, 0);

    let assistant: Assistant | undefined;
    let lastBusyMs = 0;
    const inputMs = (samples.length * 1000) / 16_000;
    const source = new ClockedSource(samples, {
      clock,
      continueAfter: (streamMs) => {
        if (assistant?.state !== 'idle') lastBusyMs = streamMs;
        return streamMs < inputMs + MIN_TAIL_MS || (streamMs - lastBusyMs < MIN_TAIL_MS && streamMs < inputMs + MAX_TAIL_MS);
      },
    });
    const sink = new PacedSink({
      clock,
      output: out ? (frame, playedAtMs) => out.write(frame.samples, assistant?.hub.streamMsAt(playedAtMs) ?? 0) : undefined,
    });
    assistant = new Assistant({ config, source, sink, clock, wake, vad, bargeInVad, ...engines, emit: writeEvent });

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    let endMs = 0;
    try {
      await assistant.run(stop.signal);
      endMs = assistant.hub.nowMs;
    } finally {
      io.signal.removeEventListener('abort', onAbort);
      assistant.stop();
      await sink.close();
      await out?.finish(endMs);
      if (eventsStream !== io.stdout) await new Promise<void>((done) => (eventsStream as NodeJS.WritableStream).end(done));
    }
    return 0;
  },
};
