import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import type { AssistantEvent } from '../../app/events.js';
import { runSimulation } from '../../app/simulate.js';
import { readWav } from '../../audio/wav.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, parseNumberFlag, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

export const command: Command = {
  name: 'simulate',
  summary: 'run the whole assistant with a WAV file as the microphone',
  usage: `Usage: kai simulate INPUT.wav [--config FILE] [--out OUT.wav] [--events FILE.jsonl] [--speed N] [--ptt FROM-TO]... [--room D,RT60,GAIN]

Runs the real machine and pipeline with INPUT.wav as the microphone (then silence until the
assistant is idle again). Services are really called; with none configured the embedded engines
are used, so it works offline.
  --out OUT.wav        what the assistant said, on the same timeline as the input
  --events FILE.jsonl  one JSON object per event: states, transcripts, replies, errors, and one
                       "turn" record per turn with its latencies (default: standard output)
  --speed N            feed the input N times faster (latencies count only at speed 1)
  --ptt FROM-TO        hold push-to-talk from FROM to TO milliseconds of the input (repeatable)
  --room D,RT60,GAIN   an open speaker: the microphone also hears the assistant after D ms, with
                       reverberation decaying 60 dB in RT60 ms, at GAIN dB (e.g. 60,400,-12); the
                       echo canceller (conversation.aec) and barge-in then work as in a real room`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('simulate', argv, {
      out: { type: 'string' },
      events: { type: 'string' },
      speed: { type: 'string' },
      ptt: { type: 'string', multiple: true },
      room: { type: 'string' },
      ...configOption,
    });
    const [input, ...extra] = positionals;
    if (input === undefined || extra.length > 0) throw new UsageError('give one input WAV file; run: kai simulate --help');
    const speed = parseNumberFlag('speed', values.speed, 0.1, 100) ?? 1;
    const ptt = (values.ptt ?? []).map(parsePress);
    const room = values.room === undefined ? undefined : parseRoom(values.room);
    const { config, modelsDir } = commandContext(io, values.config);
    const { samples } = await readWav(resolve(io.cwd, input));

    const events = values.events ? createWriteStream(resolve(io.cwd, values.events)) : io.stdout;
    const write = (event: AssistantEvent | Record<string, unknown>, atMs: number) =>
      events.write(`${JSON.stringify({ t: Math.round(atMs), ...event })}\n`);
    write({ type: 'simulate', input, speed, realTime: speed === 1 }, 0);

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await runSimulation({
        config,
        modelsDir,
        cwd: io.cwd,
        input: samples,
        speed,
        outPath: values.out ? resolve(io.cwd, values.out) : undefined,
        ptt,
        ...(room ? { room } : {}),
        emit: write,
        signal: stop.signal,
      });
    } finally {
      io.signal.removeEventListener('abort', onAbort);
      if (events !== io.stdout) await new Promise<void>((done) => (events as NodeJS.WritableStream).end(done));
    }
    return 0;
  },
};

function parsePress(text: string): { startMs: number; stopMs: number } {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text);
  const startMs = Number(match?.[1]);
  const stopMs = Number(match?.[2]);
  if (!match || !(stopMs > startMs)) throw new UsageError(`--ptt takes FROM-TO in milliseconds with FROM < TO, e.g. --ptt 1000-3500; got "${text}"`);
  return { startMs, stopMs };
}

function parseRoom(text: string): { delayMs: number; rt60Ms: number; gainDb: number } {
  const [delayMs, rt60Ms, gainDb] = text.split(',').map(Number);
  const ok = (n: number | undefined, min: number, max: number) => n !== undefined && Number.isFinite(n) && n >= min && n <= max;
  if (text.split(',').length !== 3 || !ok(delayMs, 20, 500) || !ok(rt60Ms, 50, 2000) || !ok(gainDb, -60, 0)) {
    throw new UsageError(`--room takes DELAY_MS,RT60_MS,GAIN_DB with a delay of 20–500 ms, RT60 of 50–2000 ms and a gain of −60–0 dB, e.g. --room 60,400,-12; got "${text}"`);
  }
  return { delayMs: delayMs!, rt60Ms: rt60Ms!, gainDb: gainDb! };
}
