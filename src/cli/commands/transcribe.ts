import { resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { commandPhrases, createStt } from '../../app/engines.js';
import { PIPELINE_RATE, samplesFor, type AudioFrame } from '../../audio/frame.js';
import { readWav } from '../../audio/wav.js';
import { UsageError } from '../../errors.js';
import { ProviderError } from '../../speech/types.js';
import { parseCommandArgs, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

const ENGINES = ['embedded', 'http', 'realtime'] as const;
const FRAME_SAMPLES = samplesFor(20);

const usage = `Usage: kai transcribe FILE [--engine NAME] [--json] [--config FILE]

Sends a WAV file (any rate and channel count; sent as 16 kHz mono, 20 ms frames) to the
speech-to-text engine and prints the transcript on stdout. While it waits, interim
transcripts are shown on stderr when stderr is a terminal.

Options:
  --engine NAME  embedded | http | realtime (default: stt.engine); the server URL, model,
                 language, dialect and timeout come from config (stt.*)
  --json         one JSON object per line: {"type":"interim","text"} for each interim
                 transcript, then {"type":"final","text","ms"} (ms: time from the first
                 audio sent to the final transcript)
  --config FILE  read this config file
  -h, --help     show this help

When nothing is recognised (an empty transcript) stdout stays empty, stderr says
"(no speech recognised)" and the exit code is still 0. The embedded engine only knows
the assistant's command phrases (and yes / no / stop / cancel).
Errors (a missing or non-WAV file, a server that is down, fails or times out, an engine
that is not configured) are one line on stderr, exit code 2.`;

/** The file as 20 ms frames, yielding to the event loop between frames so sockets keep up. */
async function* frames(samples: Int16Array, signal: AbortSignal): AsyncGenerator<AudioFrame> {
  for (let i = 0; i < samples.length && !signal.aborted; i += FRAME_SAMPLES) {
    yield { samples: samples.subarray(i, i + FRAME_SAMPLES), sampleRate: PIPELINE_RATE, timestampMs: (i * 1000) / PIPELINE_RATE };
    await nextTurn();
  }
}

export const command: Command = {
  name: 'transcribe',
  summary: 'print the transcript of a WAV file',
  usage,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('transcribe', argv, {
      engine: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...configOption,
    });
    const [file, ...extra] = positionals;
    if (file === undefined) throw new UsageError('give a WAV file; run: kai transcribe --help');
    if (extra.length > 0) throw new UsageError('kai transcribe takes one file; run it once per file');
    const engine = values.engine;
    if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
      throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got "${engine}"`);
    }
    const overrides: Record<string, unknown> = engine !== undefined ? { 'stt.engine': engine } : {};
    const { config } = commandContext(io, values.config, overrides);
    // The file is checked before the engine, so a bad path never waits for a server.
    const { samples } = await readWav(resolve(io.cwd, file));
    // As in createEngines: the embedded grammar knows the agent's command phrases.
    const phrases = config.stt.engine === 'embedded' ? commandPhrases(config, io.cwd) : [];
    const stt = createStt(config, phrases);

    const stderr = io.stderr as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    const live = !values.json && stderr.isTTY === true;
    let shown = false;
    const clearLive = () => {
      if (shown) stderr.write('\r\x1b[K');
      shown = false;
    };

    const started = performance.now();
    let final: string | undefined;
    try {
      for await (const event of stt.transcribe(frames(samples, io.signal), io.signal)) {
        if (event.type === 'interim') {
          if (values.json) io.stdout.write(`${JSON.stringify({ type: 'interim', text: event.text })}\n`);
          else if (live) {
            const width = Math.max(10, (stderr.columns || 80) - 1);
            const text = event.text.length > width ? `…${event.text.slice(-(width - 1))}` : event.text;
            stderr.write(`\r\x1b[K${text}`);
            shown = true;
          }
        } else if (event.type === 'final') {
          final = event.text.trim();
          break;
        }
      }
    } finally {
      clearLive();
    }
    if (final === undefined) {
      if (io.signal.aborted) return 130;
      throw new ProviderError('stt', `the ${stt.name} engine ended without a transcript`);
    }
    const ms = Math.round(performance.now() - started);
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ type: 'final', text: final, ms })}\n`);
    } else if (final === '') {
      io.stderr.write('(no speech recognised)\n');
    } else {
      io.stdout.write(`${final}\n`);
    }
    return 0;
  },
};
